"""Page capture: the candidate's disclosed profiles and any URL list a step names.

Each page is fetched twice, both times through the lawful guard: first plainly, so the
evidence is the exact bytes the server sent (hashed as captured, never a re-render); then,
for HTML that was publicly served, rendered in Chromium through scrapy-playwright, which
gives the DOM a person would see (pages that build their content with JavaScript) and a
full-page screenshot. A page that cannot be reached is still recorded, with the reason.

Debugging: ``scrapy crawl pages -a urls=https://example.org/a,https://example.org/b``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture, CollectionContext
from spiders.outcomes import failure_reason, response_outcome

try:
    from scrapy_playwright.page import PageMethod
except ImportError:  # pragma: no cover - scrapy-playwright is a dependency
    PageMethod = None  # type: ignore[assignment,misc]


def _headers(response: Response) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1"))
            for k, values in response.headers.items() for v in values]


def _request_headers(request: scrapy.Request) -> dict[str, str]:
    return {k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in request.headers.items()}


class PagesSpider(scrapy.Spider):
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
        self.render = render not in (False, "0", "false", "no")
        if context is not None:
            self.render = self.render and context.render

    def key_for(self, url: str) -> str:
        return f"page:{url}"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url, found_by in self.inputs:
            key = self.key_for(url)
            if self.context is not None and self.context.is_captured(key):
                continue  # resumed run: already evidence, never fetched twice
            yield scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                                 meta={"vetting_key": key, "vetting_found_by": found_by,
                                       "handle_httpstatus_all": True})

    def parse(self, response: Response) -> Any:
        meta = response.meta
        outcome, reason = response_outcome(response)
        capture = Capture(
            key=meta["vetting_key"], kind=self.kind, url=response.request.url if response.request else response.url,
            outcome=outcome, reason=reason, found_by=meta["vetting_found_by"], final_url=response.url,
            status=response.status, request_headers=_request_headers(response.request) if response.request else {},
            response_headers=_headers(response), body=response.body,
            meta={"redirects": [str(u) for u in meta.get("redirect_urls", [])]},
        )
        is_html = b"html" in (response.headers.get(b"Content-Type") or b"text/html").lower()
        if outcome == "captured" and is_html and self.render and PageMethod is not None:
            yield scrapy.Request(
                response.url, callback=self.rendered, errback=self.render_failed, dont_filter=True,
                meta={"playwright": True, "playwright_include_page": True,
                      "playwright_context": f"capture-{capture.key}",
                      "playwright_context_kwargs": {"java_script_enabled": True, "accept_downloads": False,
                                                    "service_workers": "block"},
                      "playwright_page_methods": [
                          PageMethod("wait_for_load_state", "networkidle"),
                          PageMethod("screenshot", full_page=True, type="png"),
                      ],
                      "vetting_capture": capture, "handle_httpstatus_all": True},
            )
            return
        yield capture

    async def rendered(self, response: Response) -> Any:
        capture: Capture = response.meta["vetting_capture"]
        page = response.meta.get("playwright_page")
        methods = response.meta.get("playwright_page_methods") or []
        capture.screenshot = methods[1].result if len(methods) > 1 else None
        capture.rendered_dom = response.text
        if page is not None:
            await page.close()
            await page.context.close()
        yield capture

    async def render_failed(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        capture: Capture = request.meta["vetting_capture"]
        page = request.meta.get("playwright_page")
        if page is not None:
            await page.close()
            await page.context.close()
        capture.meta["render_error"] = failure_reason(failure)
        yield capture

    def failed(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        outcome, reason = ("refused", failure_reason(failure))
        if reason.startswith(("not public", "blocked")):
            outcome = reason.split(":", 1)[0].replace(" ", "_")
        elif not reason.startswith(("robots.txt", "method", "address", "domain", "scheme", "credentials",
                                    "cookie", "body", "user-agent")):
            outcome = "error"
        yield Capture(key=request.meta["vetting_key"], kind=self.kind, url=request.url, outcome=outcome,
                      reason=reason, found_by=request.meta["vetting_found_by"])
