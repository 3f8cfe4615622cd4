"""Rendering a captured page in Chromium (scrapy-playwright), shared by every spider.

The raw response is captured first (the bytes the server sent); then, for publicly served
HTML, the same URL is rendered in a fresh browser context (no cookies or storage carried
between pages; service workers and downloads blocked) for the DOM a person would see and a
full-page screenshot. A render failure keeps the raw capture and records why.
"""

from __future__ import annotations

import itertools
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture
from spiders.guard import failure_reason

try:
    from scrapy_playwright.page import PageMethod
except ImportError:  # pragma: no cover - scrapy-playwright is a dependency
    PageMethod = None  # type: ignore[assignment,misc]


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

#: Renders are scheduled before the pending fetches: a found profile starts rendering while the
#: crawl goes on (overlapped), instead of queueing behind every check of the manifest.
RENDER_PRIORITY = 100

#: Every render gets a browser context of its own, never reused: a context closed after one
#: page must not be found again by a later request with the same name.
_CONTEXT_NUMBERS = itertools.count(1)


class RenderMixin:
    """Adds ``render_request`` and its callbacks to a spider that has ``render: bool``."""

    render: bool = True

    def render_request(self, capture: Capture, url: str) -> scrapy.Request | None:
        """The follow-up browser request for ``capture``, or None when it must not be rendered."""
        if not self.render or PageMethod is None or capture.outcome not in ("captured", "exists"):
            return None
        return scrapy.Request(
            url, callback=self.rendered, errback=self.render_failed, dont_filter=True, priority=RENDER_PRIORITY,
            meta={"playwright": True, "playwright_include_page": True,
                  "playwright_context": f"capture-{next(_CONTEXT_NUMBERS)}",
                  "playwright_context_kwargs": {"java_script_enabled": True, "accept_downloads": False,
                                                "service_workers": "block"},
                  "playwright_page_methods": [
                      PageMethod("wait_for_load_state", "networkidle"),
                      PageMethod("screenshot", full_page=True, type="png"),
                  ],
                  "vetting_capture": capture, "vetting_key": capture.key,
                  "vetting_found_by": capture.found_by, "handle_httpstatus_list": NON_REDIRECT_STATUSES},
        )

    async def rendered(self, response: Response) -> Any:
        capture: Capture = response.meta["vetting_capture"]
        methods = response.meta.get("playwright_page_methods") or []
        capture.screenshot = methods[1].result if len(methods) > 1 else None
        capture.rendered_dom = response.text
        await _close(response.meta.get("playwright_page"))
        yield capture

    async def render_failed(self, failure: Failure) -> Any:
        request = failure.request  # type: ignore[attr-defined]
        capture: Capture = request.meta["vetting_capture"]
        await _close(request.meta.get("playwright_page"))
        capture.meta["render_error"] = failure_reason(failure)
        yield capture


async def _close(page: Any) -> None:
    if page is not None:
        await page.close()
        await page.context.close()


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
