"""Page capture: the candidate's disclosed profiles and any URL list a step names.

Each page is fetched plainly first, so the evidence is the exact bytes the server sent, then
rendered in Chromium for the DOM and a screenshot (:mod:`spiders.render`). A page that cannot
be reached is still recorded, with the reason.

With ``max_depth`` above 0 the spider follows the *profile links* (:mod:`spiders.links`) of
each page it captured, up to ``max_depth`` links away from the step's own inputs: depth 1 is
a profile linked from a disclosed one, depth 2 a profile linked from that. Followed pages go
through the same guard as any other request; each capture records how it was reached
(``Capture.reached``: the page it was linked from, at which depth, and whether by ``rel=me``).
The step's ``max_pages`` bounds inputs and followed pages together; a link over a cap is
recorded ``not_collected`` with the cap, so the record shows what was not looked at.

Debugging: ``scrapy crawl pages -a urls=https://example.org/a,https://example.org/b -a max_depth=1``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture, CollectionContext
from spiders.exchange import hop_exchanges, received_exchange
from spiders.links import PROFILE_LINKS_PER_PAGE, ProfileLink, profile_links, profile_pattern
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
    """Capture a list of URLs as evidence, rendered where the page needs a browser, and follow
    profile links up to ``max_depth``."""

    name = "pages"
    kind = "page"

    def __init__(self, urls: Iterable[tuple[str, str]] | str = (), context: CollectionContext | None = None,
                 render: bool | str = True, max_depth: int | str = 0,
                 profile_urls: Iterable[tuple[str, str]] = (), max_pages: int | str = 0,
                 links_per_page: int | str = PROFILE_LINKS_PER_PAGE, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(urls, str):  # from `scrapy crawl pages -a urls=a,b`
            urls = [(u.strip(), "command line") for u in urls.split(",") if u.strip()]
        self.inputs = list(urls)
        self.context = context
        self.render = render not in (False, "0", "false", "no") and (context is None or context.render)
        self.max_depth = int(max_depth)
        # (site name, pattern) for each profile URL template of the procedure's site list
        self.patterns = [(site, rx) for site, template in profile_urls
                         if (rx := profile_pattern(template)) is not None]
        self.max_pages = int(max_pages) or len(self.inputs) + 10_000
        self.links_per_page = int(links_per_page)
        # page keys asked for in this crawl: every input from the start, so a link to a page that
        # is also an input never takes it first (it is recorded as the input it is)
        self.requested: set[str] = {f"page:{url}" for url, _ in self.inputs}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url, found_by in self.inputs:
            key = f"page:{url}"
            reached = {"via": "disclosed" if found_by.startswith("profile_urls") else "input",
                       "input": found_by, "depth": 0}
            if self.context is not None and self.context.is_captured(key):
                # resumed run: already evidence, never fetched twice; its links still count
                for request in self._follow_stored(key, url, reached):
                    yield request
                continue
            yield scrapy.Request(url, callback=self.parse, errback=self.failed, dont_filter=True,
                                 meta={"vetting_key": key, "vetting_found_by": found_by, "vetting_reached": reached,
                                       "handle_httpstatus_list": NON_REDIRECT_STATUSES})

    async def parse(self, response: Response) -> Any:
        capture = await page_capture(self, response, self.kind)
        # links are read before the capture is handed on: it records which it followed
        follow = self.follow(capture)
        yield capture
        for request in follow:
            yield request

    def failed(self, failure: Failure) -> Any:
        capture = failed_capture(failure, self.kind, self.context)
        capture.reached = dict(failure.request.meta.get("vetting_reached") or {})  # type: ignore[attr-defined]
        yield capture

    # -- following profile links ------------------------------------------------------------
    def follow(self, capture: Capture) -> list[scrapy.Request | Capture]:
        """Requests for the profile links of a captured page (none beyond ``max_depth``)."""
        depth = int(capture.reached.get("depth", 0))
        if depth >= self.max_depth or capture.outcome != "captured":
            return []
        html = capture.rendered_dom if capture.rendered_dom is not None else capture.body
        if not html:
            return []
        from_url = capture.final_url or capture.url
        links, over = profile_links(html, from_url, self.patterns, self.links_per_page)
        capture.meta["profile_links"] = [[x.url, x.rel_me, x.site] for x in links]
        out = self._requests(capture.key, from_url, depth, links)
        for link in over:
            key = f"page:{link.url}"
            if key in self.requested:
                continue
            self.requested.add(key)
            out.append(Capture(key=key, kind=self.kind, url=link.url, outcome="not_collected",
                               reason=f"limit: {self.links_per_page} profile links followed per page",
                               found_by=f"link:{from_url}",
                               reached=self._reached(capture.key, from_url, depth, link)))
        return out

    @staticmethod
    def _reached(from_key: str, from_url: str, depth: int, link: ProfileLink) -> dict[str, Any]:
        return {"via": "link", "from_url": from_url, "from_key": from_key, "depth": depth + 1,
                "rel_me": link.rel_me, "site": link.site}

    def _follow_stored(self, key: str, url: str, reached: dict[str, Any]) -> list[scrapy.Request | Capture]:
        stored = getattr(self.context, "profile_links_of", None)
        if self.max_depth <= int(reached["depth"]) or stored is None:
            return []
        links = [ProfileLink(u, bool(me), site) for u, me, site in stored(key)]
        return self._requests(key, url, int(reached["depth"]), links)

    def _requests(self, from_key: str, from_url: str, depth: int,
                  links: list[ProfileLink]) -> list[scrapy.Request | Capture]:
        out: list[scrapy.Request | Capture] = []
        for link in links:
            key = f"page:{link.url}"
            if key in self.requested:
                continue
            self.requested.add(key)
            reached = self._reached(from_key, from_url, depth, link)
            found_by = f"link:{from_url}"
            if len(self.requested) > self.max_pages:
                out.append(Capture(key=key, kind=self.kind, url=link.url, outcome="not_collected",
                                   reason=f"limit: step max_pages is {self.max_pages}", found_by=found_by,
                                   reached=reached))
                continue
            if self.context is not None and self.context.is_captured(key):
                out += self._follow_stored(key, link.url, reached)  # resumed run: captured before
                continue
            out.append(scrapy.Request(link.url, callback=self.parse, errback=self.failed, dont_filter=True,
                                      meta={"vetting_key": key, "vetting_found_by": found_by,
                                            "vetting_reached": reached,
                                            "handle_httpstatus_list": NON_REDIRECT_STATUSES}))
        return out


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
        reached=dict(response.meta.get("vetting_reached") or {}),
    )
    return await spider.render_capture(capture, response)
