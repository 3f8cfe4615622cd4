"""The guard inside the browser: every request Chromium makes is performed by the guarded
fetcher (Scrapy's downloader, with every guard middleware), or refused; Chromium has no
network of its own.

Chromium is launched by :mod:`spiders.browser` with its own network shut: every connection it
would open goes to a proxy on a loopback port where nothing listens (loopback included,
``<-loopback>``), and its host resolver answers "not found" for every name. So a request that
escaped interception fails closed, never open.

Every request the page makes (the document, subresources, frames, fetch/XHR, beacons, prefetch,
workers' scripts) is paused by Playwright's routing (the DevTools ``Fetch`` domain) and handed
to :class:`BrowserGate`, which:

* serves the page's own document from the capture already made (the bytes the spider fetched
  and recorded, so the screenshot is of the evidence, and the page is not fetched twice);
* refuses, with an audit event, what a reader of public pages never sends: methods other than
  GET/HEAD (beacons, form posts), streams (EventSource) and WebSocket connections, a navigation
  of the main frame away from the captured page, service-worker registrations;
* fetches everything else through ``crawler.engine.download_async``: the same downloader
  middlewares as any request of the crawl, so robots.txt of that host, the address rule (at
  every redirect hop, which our fetcher follows, not Chromium), domain lists, caps, rate
  limits, the User-Agent and the audit event of each attempt all apply;
* hands Chromium the decoded response (``route.fulfill``) and keeps the exchange as received
  (and its redirect hops) for the capture's WARC.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Request, Response

from spiders.capture import Exchange
from spiders.exchange import hop_exchanges, received_exchange
from spiders.guard.policy import ALLOWED_METHODS
from spiders.guard.sink import _META_RECORDED, BROWSER_META, PAGE_KIND_META, REASON_META, RequestSink

logger = logging.getLogger("spiders.guard")

#: Request headers of Chromium's that are passed on to our fetcher (the rest are the fetcher's
#: own: User-Agent, Accept-Encoding; cookies and credentials are never sent).
FORWARDED_HEADERS = ("accept", "accept-language", "referer")
#: Response headers not handed back to Chromium: the body it gets is decoded and whole, and it
#: keeps no cookies.
_NOT_FULFILLED = ("content-encoding", "content-length", "transfer-encoding", "set-cookie", "set-cookie2")
#: Resource types that are connections held open, not content to capture.
STREAMING_TYPES = ("eventsource", "websocket")
#: A page cannot flood the audit log through the service-worker report binding.
MAX_PAGE_REPORTS = 50

#: Service-worker registrations are blocked (``service_workers="block"``); this makes each
#: attempt reach the audit log too, through the binding :class:`BrowserGate` exposes.
_SERVICE_WORKER_SCRIPT = """
(() => {
  const report = self.__vettingRefused;
  const sw = (typeof navigator !== "undefined") ? navigator.serviceWorker : undefined;
  if (!sw || !report) return;
  const refuse = function (url) {
    try { report("service worker", new URL(String(url), location.href).href); } catch (e) {}
    return Promise.reject(new DOMException("service workers are not allowed", "SecurityError"));
  };
  try { Object.defineProperty(sw, "register", {value: refuse, configurable: false}); } catch (e) {}
})();
"""

Fetch = Callable[[Request], Awaitable[Response]]


@dataclass
class Document:
    """The page the browser renders, as the spider captured it (decoded body)."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class BrowserGate:
    """One render's request gate; see the module docstring. ``exchanges`` collects, in order,
    every response our fetcher received for the page (redirect hops included), as received."""

    fetch: Fetch
    sink: RequestSink | None
    document: Document
    exchanges: list[Exchange] = field(default_factory=list)
    allowed: int = 0
    refused: int = 0
    _document_served: bool = False
    _page_reports: int = 0

    async def attach(self, context: Any) -> None:
        """Route every request and WebSocket of ``context`` (a Playwright BrowserContext) here."""
        await context.expose_binding("__vettingRefused", self._page_report)
        await context.add_init_script(_SERVICE_WORKER_SCRIPT)
        await context.route("**/*", self.handle)
        await context.route_web_socket("**/*", self.websocket)

    # -- recording ------------------------------------------------------------------------------
    def _refuse(self, url: str, method: str, reason: str) -> None:
        self.refused += 1
        if self.sink is not None:
            self.sink.record_request(url, method, False, reason, None)

    async def _page_report(self, source: Any, what: str, url: str) -> None:
        if self._page_reports >= MAX_PAGE_REPORTS:
            return
        self._page_reports += 1
        self._refuse(str(url)[:2000], "GET", f"browser: {str(what)[:40]} not allowed")

    # -- WebSocket -----------------------------------------------------------------------------
    async def websocket(self, ws: Any) -> None:
        """A WebSocket is never connected (no connection to the server is ever made)."""
        self._refuse(ws.url, "GET", "browser: websocket not allowed")
        with contextlib.suppress(Exception):  # the page or context may be gone already
            await ws.close(code=1008, reason="refused by the lawful-collection guard")

    # -- every other request --------------------------------------------------------------------
    async def handle(self, route: Any) -> None:
        try:
            await self._handle(route)
        except Exception as exc:  # noqa: BLE001 - a closed page, a cancelled render: never open
            logger.debug("browser gate: %s for %s", exc, getattr(route.request, "url", "?"))
            with contextlib.suppress(Exception):  # the page or context may be gone already
                await route.abort("blockedbyclient")

    async def _handle(self, route: Any) -> None:
        request = route.request
        url: str = request.url
        method = str(request.method).upper()
        if url.startswith(("data:", "blob:", "about:")):
            await route.continue_()  # no network: the bytes are in the page already
            return
        main_frame = _is_main_navigation(request)
        if main_frame and not self._document_served:  # the goto of the captured page (URL as Chromium spells it)
            self._document_served = True
            await route.fulfill(status=self.document.status, headers=_fulfilled(self.document.headers),
                                body=self.document.body)
            return
        reason = ""
        if method not in ALLOWED_METHODS:
            reason = f"method: {method} not allowed"
        elif request.resource_type in STREAMING_TYPES:
            reason = f"browser: {request.resource_type} not allowed"
        elif main_frame:
            reason = "browser: navigation away from the captured page not followed"
        if reason:
            self._refuse(url, method, reason)
            await route.abort("blockedbyclient")
            return
        response = await self._fetch(url, method, request.resource_type, request.headers)
        if response is None:
            self.refused += 1
            await route.abort("blockedbyclient")
            return
        self.allowed += 1
        await route.fulfill(status=response.status, headers=_fulfilled(_pairs(response)),
                            body=b"" if method == "HEAD" else response.body)

    async def _fetch(self, url: str, method: str, resource_type: str, headers: dict[str, str]) -> Response | None:
        """Our fetcher's response, or None when the guard refused it or it failed (recorded)."""
        forwarded = {k: v for k, v in headers.items() if k.lower() in FORWARDED_HEADERS}
        from spiders.render import NON_REDIRECT_STATUSES

        scrapy_request = Request(url, method=method, headers=forwarded, dont_filter=True,
                                 meta={BROWSER_META: resource_type or "other",
                                       "handle_httpstatus_list": NON_REDIRECT_STATUSES})
        try:
            response = await self.fetch(scrapy_request)
        except Exception as exc:  # noqa: BLE001 - refusals and download errors alike
            if not scrapy_request.meta.get(_META_RECORDED):
                from spiders.guard.reasons import exception_reason

                self._refuse(url, method, exception_reason(exc, scrapy_request))
            logger.debug("browser request %s not fetched: %s", url,
                         scrapy_request.meta.get(REASON_META) or exc)
            return None
        self.exchanges.extend(hop_exchanges(response))
        self.exchanges.append(_as_subresource(received_exchange(response)))
        kind = response.meta.get(PAGE_KIND_META)
        if kind is not None and not getattr(kind, "public", True):
            return None  # a wall or block page (recorded as refused) is not shown as content
        return response


def _as_subresource(exchange: Exchange) -> Exchange:
    exchange.role = "subresource"
    return exchange


def _pairs(response: Response) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, values in response.headers.items() for v in values]


def _fulfilled(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Headers for ``route.fulfill``: decoded whole body, no cookies (repeated names joined)."""
    out: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _NOT_FULFILLED:
            continue
        out[lower] = f"{out[lower]}, {value}" if lower in out else value
    return out


def _is_main_navigation(playwright_request: Any) -> bool:
    try:
        return bool(playwright_request.is_navigation_request()
                    and playwright_request.frame.parent_frame is None)
    except Exception:  # noqa: BLE001 - service-worker requests have no frame
        return False
