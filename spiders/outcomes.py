"""What happened to a request, in the words the uniform record uses.

Every URL a step tried ends in one outcome with a reason, whether it was captured, refused by
the guard, walled off, blocked or broken: the negatives are part of the record.
"""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TCPTimedOutError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from spiders.pagekind import classify_page


def response_outcome(response: Response) -> tuple[str, str]:
    """(outcome, reason) for a response that arrived."""
    kind = classify_page(response.status, response.headers, response.body, response.url)
    if kind.kind != "public":
        return kind.kind.replace(" ", "_"), kind.reason
    if 200 <= response.status < 300:
        return "captured", f"status {response.status}"
    if response.status in (404, 410):
        return "not_found", f"status {response.status}"
    return "error", f"status {response.status}"


def failure_reason(failure: Failure) -> str:
    """A short stable reason for a request that produced no response."""
    exc = failure.value
    if isinstance(exc, IgnoreRequest):
        text = str(exc) or "refused"
        # Scrapy's own robots.txt middleware words it differently from the guard's codes.
        return "robots.txt: disallowed" if text == "Forbidden by robots.txt" else text
    if isinstance(exc, (TwistedTimeoutError, TCPTimedOutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, DNSLookupError):
        return f"dns: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "maxsize" in text.lower() or "Cancelling download" in text:
        return f"size: {text}"
    return f"error: {name}" + (f": {text[:200]}" if text else "")
