"""Rendering a captured page in Chromium (Playwright), shared by every spider.

The raw response is captured first (the bytes the server sent); then, for publicly served
HTML, that very response is rendered in a fresh browser context (no cookies or storage carried
between pages; service workers and downloads blocked) for the DOM a person would see and a
full-page screenshot. The browser has no network of its own (:mod:`spiders.browser`): the page
document is served from the capture, and every other request the page makes goes through the
guard (:class:`spiders.guard.browser.BrowserGate`), which fetches it with the crawl's own
downloader and keeps each exchange as received, so the capture's WARC holds the page's
subresources too and replays offline. A render failure keeps the raw capture and records why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import scrapy
from scrapy import signals
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture
from spiders.guard import failure_reason

logger = logging.getLogger("spiders.render")


def response_headers(response: Response) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1"))
            for k, values in response.headers.items() for v in values]


def request_headers(request: scrapy.Request | None) -> dict[str, str]:
    if request is None:
        return {}
    return {k.decode("latin-1"): b", ".join(v).decode("latin-1") for k, v in request.headers.items()}


def original_url(request: scrapy.Request) -> str:
    """The URL the step asked for, before any redirect (the item is recorded under it)."""
    redirects = request.meta.get("redirect_urls") or []
    return str(redirects[0]) if redirects else request.url


def is_html(response: Response) -> bool:
    return b"html" in (response.headers.get(b"Content-Type") or b"text/html").lower()


#: Every status reaches the spider (a 404 or a login wall is part of the record) except the
#: redirects, which Scrapy's redirect middleware follows (and the guard re-checks at every hop).
#: ``handle_httpstatus_all`` would switch redirect-following off.
NON_REDIRECT_STATUSES = [code for code in range(100, 600) if code not in (301, 302, 303, 307, 308)]

#: How long a render waits for the page's network to fall quiet after ``load``, at most
#: (``VETTING_BROWSER_IDLE_MS`` overrides it).
NETWORK_IDLE_MS = 10_000


class Renderer:
    """The crawl's Chromium: launched on the first render, closed with the spider.

    At most ``VETTING_BROWSER_MAX_PAGES`` pages render at once (each in its own context).
    """

    def __init__(self, crawler: Any):
        from spiders.guard.sink import _sink_from

        settings = crawler.settings
        self.crawler = crawler
        self.sink = _sink_from(crawler)
        self.user_agent: str = settings.get("USER_AGENT", "")
        self.launch_options: dict[str, Any] = dict(settings.getdict("VETTING_BROWSER_LAUNCH_OPTIONS") or {})
        self.navigation_timeout_ms = max(1000, int(settings.getfloat("DOWNLOAD_TIMEOUT", 30) * 1000))
        self.idle_ms = settings.getint("VETTING_BROWSER_IDLE_MS", NETWORK_IDLE_MS)
        self._pages = asyncio.Semaphore(max(1, settings.getint("VETTING_BROWSER_MAX_PAGES", 8)))
        self._starting: asyncio.Lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._closed_port: Any = None

    async def browser(self) -> Any:
        async with self._starting:
            if self._browser is None:
                from playwright.async_api import async_playwright

                from spiders.browser import ClosedPort, find_chromium, no_network_args

                options = dict(self.launch_options)
                options.setdefault("executable_path", find_chromium())
                options.setdefault("headless", True)
                self._closed_port = ClosedPort()
                options["args"] = [a for a in options.get("args", [])
                                   if not a.startswith(("--proxy-", "--host-resolver-rules"))]
                options["args"] += no_network_args(self._closed_port.port)
                options.pop("proxy", None)
                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(**options)
            return self._browser

    async def render(self, capture: Capture, response: Response) -> None:
        """Fill ``capture`` with the rendered DOM, the screenshot and the page's subresources."""
        from spiders.guard.browser import BrowserGate, Document

        document = Document(url=response.url, status=response.status, headers=response_headers(response),
                            body=response.body)
        assert self.crawler.engine is not None
        gate = BrowserGate(self.crawler.engine.download_async, self.sink, document)
        async with self._pages:
            try:
                browser = await self.browser()
                context = await browser.new_context(
                    java_script_enabled=True, accept_downloads=False, service_workers="block",
                    user_agent=self.user_agent or None, ignore_https_errors=False)
            except Exception as exc:  # noqa: BLE001 - no browser: the raw capture stays, with why
                capture.meta["render_error"] = f"render: browser: {type(exc).__name__}: {str(exc)[:300]}"
                return
            try:
                await gate.attach(context)
                page = await context.new_page()
                page.set_default_timeout(self.navigation_timeout_ms)
                # The document is served from the capture at once; its subresources may take the
                # crawl's time cap each. A page that never settles is still rendered, with a note.
                await page.goto(document.url, wait_until="domcontentloaded")
                for state, timeout in (("load", self.navigation_timeout_ms), ("networkidle", self.idle_ms)):
                    try:
                        await page.wait_for_load_state(state, timeout=timeout)  # type: ignore[arg-type]
                    except Exception:  # noqa: BLE001
                        capture.meta["render_note"] = f"page not at {state} after {timeout} ms"
                        break
                capture.screenshot = await page.screenshot(full_page=True, type="png")
                capture.rendered_dom = await page.content()
            except Exception as exc:  # noqa: BLE001 - the raw capture stays; the reason is kept
                capture.meta["render_error"] = f"render: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            finally:
                with contextlib.suppress(Exception):  # the page or context may be gone already
                    await context.close()
        capture.exchanges.extend(gate.exchanges)
        capture.meta["browser_requests"] = {"allowed": gate.allowed, "refused": gate.refused}

    async def close(self) -> None:
        try:
            if self._browser is not None:
                await self._browser.close()
            if self._playwright is not None:
                await self._playwright.stop()
        finally:
            self._browser = self._playwright = None
            if self._closed_port is not None:
                self._closed_port.close()
                self._closed_port = None


class RenderMixin:
    """Adds ``render_capture`` to a spider that has ``render: bool``."""

    render: bool = True
    _renderer: Renderer | None = None

    def should_render(self, capture: Capture, response: Response) -> bool:
        return self.render and capture.outcome in ("captured", "exists") and is_html(response)

    def renderer(self) -> Renderer:
        if self._renderer is None:
            crawler = self.crawler  # type: ignore[attr-defined]
            self._renderer = Renderer(crawler)
            crawler.signals.connect(self._close_renderer, signal=signals.spider_closed)
        return self._renderer

    async def render_capture(self, capture: Capture, response: Response) -> Capture:
        """``capture``, rendered when it is publicly served HTML and rendering is on."""
        if self.should_render(capture, response):
            await self.renderer().render(capture, response)
        return capture

    def render_request(self, capture: Capture, url: str) -> scrapy.Request | None:
        """A guarded fetch of ``url`` (a page other than the one captured, e.g. an account's
        public profile behind its check URL) that renders it into ``capture``; None when the
        capture is not to be rendered."""
        if not self.render or capture.outcome not in ("captured", "exists"):
            return None
        return scrapy.Request(url, callback=self._render_fetched, errback=self._render_fetch_failed,
                              dont_filter=True, meta={"vetting_capture": capture, "vetting_key": capture.key,
                                                      "handle_httpstatus_list": NON_REDIRECT_STATUSES})

    async def _render_fetched(self, response: Response) -> Any:
        from spiders.exchange import hop_exchanges, received_exchange

        capture: Capture = response.meta["vetting_capture"]
        capture.exchanges.extend([*hop_exchanges(response), received_exchange(response)])
        capture.meta["rendered_url"] = response.url
        if is_html(response) and 200 <= response.status < 300:
            await self.renderer().render(capture, response)
        else:
            capture.meta["render_error"] = f"render: {response.url} answered {response.status}, not HTML"
        yield capture

    def _render_fetch_failed(self, failure: Failure) -> Any:
        capture: Capture = failure.request.meta["vetting_capture"]  # type: ignore[attr-defined]
        capture.meta["render_error"] = failure_reason(failure)
        yield capture

    def _close_renderer(self) -> Any:
        from twisted.internet.defer import Deferred

        renderer, self._renderer = self._renderer, None
        if renderer is None:
            return None
        return Deferred.fromFuture(asyncio.ensure_future(renderer.close()))


GUARD_REFUSALS = ("robots.txt", "method", "address", "domain", "scheme", "credentials", "cookie",
                  "body", "user-agent", "redirects")


def failed_capture(failure: Failure, kind: str, sink: Any = None) -> Capture:
    """A capture recording why a request produced no response (refused, walled, broken).

    The failure is also reported to the request sink unless the guard already recorded it.
    """
    from spiders.guard import record_failure

    request = failure.request  # type: ignore[attr-defined]
    reason = record_failure(failure, sink)
    if reason.startswith(("not public", "blocked")):
        outcome = reason.split(":", 1)[0].replace(" ", "_")
    elif reason.startswith(GUARD_REFUSALS):
        outcome = "refused"
    else:
        outcome = "error"
    meta = dict(request.meta.get("vetting_meta", {}))
    if original_url(request) != request.url:
        meta["refused_at"] = request.url  # the hop where the redirect chain was stopped
    return Capture(key=request.meta["vetting_key"], kind=kind, url=original_url(request), outcome=outcome,
                   reason=reason, found_by=request.meta.get("vetting_found_by", ""), meta=meta)
