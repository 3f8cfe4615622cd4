"""Page capture: the candidate's disclosed profiles and any URL list a step names.

Each page is fetched plainly first, so the evidence is the exact bytes the server sent, then
rendered in Chromium for the DOM and a screenshot (:mod:`spiders.render`). A page that cannot
be reached is still recorded, with the reason.

Debugging: ``scrapy crawl pages -a urls=https://example.org/a,https://example.org/b``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture, CollectionContext
from spiders.exchange import hop_exchanges, received_exchange
from spiders.outcomes import response_outcome
from spiders.render import (
    NON_REDIRECT_STATUSES,
    RenderMixin,
    failed_capture,
    original_url,
    request_headers,
    response_headers,
)


class PagesSpider(RenderMixin, scrapy.Spider):
    """Capture a list of URLs as evidence, rendered where the page needs a browser."""

    name = "pages"
    kind = "page"

    def __init__(self, urls: Iterable[tuple[str, str]] | str = (), context: CollectionContext | None = None,
                 render: bool | str = True, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(urls, str):  # from `scrapy crawl pages -a urls=a,b`
            urls = [(u.strip(), "command line") for u in urls.split(",") if u.strip()]
        self.inputs = list(urls)
        self.context = context
        self.render = render not in (False, "0", "false", "no") and (context is None or context.render)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url, found_by in self.inputs:
            key = f"page:{url}"
            if self.context is not None and self.context.is_captured(key):
                continue  # resumed run: already evidence, never fetched twice
            yield scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                                 meta={"vetting_key": key, "vetting_found_by": found_by,
                                       "handle_httpstatus_list": NON_REDIRECT_STATUSES})

    async def parse(self, response: Response) -> Any:
        yield await page_capture(self, response, self.kind)

    def failed(self, failure: Failure) -> Any:
        yield failed_capture(failure, self.kind, self.context)


async def page_capture(spider: RenderMixin, response: Response, kind: str, **meta: Any) -> Capture:
    """The capture of a fetched page (as received, with its redirect hops), rendered where it is HTML."""
    outcome, reason = response_outcome(response)
    capture = Capture(
        key=response.meta["vetting_key"], kind=kind,
        url=original_url(response.request) if response.request else response.url, outcome=outcome, reason=reason,
        found_by=response.meta.get("vetting_found_by", ""), final_url=response.url, status=response.status,
        request_headers=request_headers(response.request), response_headers=response_headers(response),
        body=response.body, received=received_exchange(response), exchanges=hop_exchanges(response),
        meta={"redirects": [str(u) for u in response.meta.get("redirect_urls", [])], **meta},
    )
    return await spider.render_capture(capture, response)
