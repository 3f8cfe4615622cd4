"""Reason codes for download errors: what a timeout, size cap, DNS, TLS or refused connection
is recorded as, and the spider errback helpers that record them (:func:`record_failure`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request

from spiders.guard.sink import _META_RECORDED, PAGE_KIND_META, REASON_META, GuardRefusal, RequestSink, record
from spiders.pagekind import PageKind, classify_page

if TYPE_CHECKING:
    from twisted.python.failure import Failure

# -- errors --------------------------------------------------------------------------------------

def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.append(cur)
        for attr in ("__cause__", "__context__"):
            nxt = getattr(cur, attr, None)
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        for sub in getattr(cur, "reasons", None) or []:  # twisted ResponseNeverReceived & co.
            value = getattr(sub, "value", sub)
            if isinstance(value, BaseException):
                todo.append(value)
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, BaseException):
                todo.append(arg)
            elif isinstance(arg, list):
                todo.extend(getattr(a, "value", a) for a in arg if isinstance(getattr(a, "value", a), BaseException))
    return seen


def exception_reason(exc: BaseException, request: Request | None = None, max_bytes: int = 0) -> str:
    """A short stable reason for a download error (timeout, size cap, DNS, TLS, refused...)."""
    if isinstance(exc, GuardRefusal):
        return exc.reason
    chain = _exception_chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    limit = (request.meta.get("download_maxsize") if request is not None else None) or max_bytes
    # Scrapy's HTTP/1.1 handler cancels a streamed body past DOWNLOAD_MAXSIZE and reports a bare
    # DownloadCancelledError (a Content-Length over the cap gets a message naming the max size).
    bare_cancel = "DownloadCancelledError" in names and not str(exc).strip()
    if bare_cancel or "max size" in lowered or "maxsize" in lowered or "download_maxsize" in lowered:
        return f"size: over {limit} bytes" if limit else "size: over the download cap"
    if "Timeout" in names or "took longer than" in lowered or "timed out" in lowered:
        return "timeout"
    if "max redirections" in lowered:
        return "redirects: over the limit"
    tls_markers = ("certificate verify failed", "ssl routines", "tlsv1 alert", "sslv3 alert",
                   "wrong version number", "handshake failure", "certificate has expired")
    if "SSL" in names or "VerificationError" in names or any(m in lowered for m in tls_markers):
        if "mismatch" in lowered:
            return "tls: certificate does not match the host name"
        match = re.search(r"certificate verify failed[^'\")\]]*", text, re.IGNORECASE)
        return "tls: " + (match.group(0).strip() if match else "handshake failed")
    if "DNSLookupError" in names or "CannotResolveHost" in names:
        return "dns: lookup failed"
    if "ConnectionRefused" in names:
        return "connection refused"
    if isinstance(exc, IgnoreRequest):
        return str(exc) or "refused"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"error: {type(exc).__name__}" + (f": {first[:200]}" if first else "")


def failure_reason(failure: Failure) -> str:
    """The recorded reason for a spider errback's failure (see :func:`record_failure`)."""
    request = getattr(failure, "request", None)
    if isinstance(failure.value, GuardRefusal):
        return failure.value.reason
    if request is not None and request.meta.get(_META_RECORDED) and request.meta.get(REASON_META):
        return str(request.meta[REASON_META])  # what the middlewares recorded for this attempt
    return exception_reason(failure.value, request)


def record_failure(failure: Failure, sink: RequestSink | None) -> str:
    """Spider errback helper: turn a download error into a recorded reason and return it.

    Guard refusals and errors the middlewares already recorded are not recorded twice; an
    ``HttpError`` (a non-2xx response the spider did not ask for) is recorded with the page's
    classification when it is a wall or block page.
    """
    request = getattr(failure, "request", None)
    value = failure.value
    response = getattr(value, "response", None)
    if response is not None:
        kind = response.meta.get(PAGE_KIND_META) if hasattr(response, "meta") else None
        if not isinstance(kind, PageKind):
            kind = classify_page(response.status, response.headers, response.body, response.url)
        reason = kind.reason or f"status {response.status}"
    else:
        reason = failure_reason(failure)
    if request is not None and not (isinstance(value, GuardRefusal) and value.recorded):
        record(sink, request, False, reason, getattr(response, "status", None))
    return reason
