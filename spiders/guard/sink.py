"""Where the guard's decisions go: the request sink, the per-attempt record, the refusal.

Every allowed and refused attempt is reported once to the ``VETTING_REQUEST_SINK`` (the
engine's audit trail) with a short stable reason; :class:`GuardRefusal` is what a refusal
raises. The ``request.meta`` keys the guard's middlewares share live here too.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.utils.misc import load_object

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger("spiders.guard")

_META_RECORDED = "_vetting_recorded"  # per attempt: has this attempt been recorded to the sink?
_META_APPROVED = "_vetting_approved"  # the URL the guard approved for this attempt
_META_ROBOTS_FETCH = "_vetting_robots_fetch"
PAGE_KIND_META = "vetting_page_kind"
REASON_META = "vetting_reason"  # the reason recorded for the attempt (what an errback reports)
BROWSER_META = "vetting_browser"  # set on a request made for the rendering browser: its resource type


class RequestSink(Protocol):
    """Where every allowed and refused request is reported (the engine's audit trail)."""

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None: ...


class GuardRefusal(IgnoreRequest):
    """A request the guard refused; ``str(exc)`` and ``exc.reason`` are the recorded reason."""

    def __init__(self, reason: str, recorded: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.recorded = recorded


# -- recording -----------------------------------------------------------------------------------

def record(sink: RequestSink | None, request: Request, allowed: bool, reason: str,
           status: int | None = None) -> None:
    """Report one attempt to the sink, once: later calls for the same attempt do nothing."""
    if request.meta.get(_META_RECORDED):
        return
    request.meta[_META_RECORDED] = True
    request.meta[REASON_META] = reason
    if sink is None:
        return
    if request.meta.get(BROWSER_META):  # the audit trail says which requests the browser made
        reason = f"{reason} (browser {request.meta[BROWSER_META]})"
    try:
        sink.record_request(request.url, request.method, allowed, reason, status)
    except Exception:  # the audit trail failing must stop the crawl, not vanish
        logger.exception("request sink failed for %s", request.url)
        raise


class SinkRef:
    """Carries the sink through Scrapy's settings, which deep-copy their values: without this
    the crawler would record into a copy of the engine's context, not the context itself."""

    def __init__(self, sink: RequestSink | None):
        self.sink = sink

    def __deepcopy__(self, memo: dict[int, Any]) -> SinkRef:
        return self

    def __copy__(self) -> SinkRef:
        return self

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None:
        if self.sink is not None:
            self.sink.record_request(url, method, allowed, reason, status)


def _sink_from(crawler: Crawler) -> RequestSink | None:
    sink = crawler.settings.get("VETTING_REQUEST_SINK")
    if isinstance(sink, str):
        sink = load_object(sink)
    if isinstance(sink, SinkRef):
        return sink.sink
    return sink
