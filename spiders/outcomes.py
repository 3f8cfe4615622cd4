"""What happened to a request, in the words the uniform record uses.

Every URL a step tried ends in one outcome with a reason, whether it was captured, refused by
the guard, walled off, blocked or broken: the negatives are part of the record.
"""

from __future__ import annotations

from scrapy.http import Response
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
    """A short stable reason for a request that produced no response (the guard's wording)."""
    from spiders.guard import failure_reason as guard_reason

    return guard_reason(failure)
