"""What happened to a request, in the words the uniform record uses.

Every URL a step tried ends in one outcome with a reason, whether it was captured, refused by
the guard, walled off, blocked or broken: the negatives are part of the record.
"""

from __future__ import annotations

from scrapy.http import Response

from spiders.guard import PAGE_KIND_META
from spiders.pagekind import PageKind, classify_page


def page_kind(response: Response) -> PageKind:
    """The guard's verdict on a response (public, login wall, block page), classified once.

    The guard's response middleware classifies every response it lets through; a spider run
    without it (a unit test) classifies here.
    """
    kind = response.meta.get(PAGE_KIND_META) if response.request is not None else None
    if isinstance(kind, PageKind):
        return kind
    return classify_page(response.status, response.headers, response.body, response.url)


def response_outcome(response: Response) -> tuple[str, str]:
    """(outcome, reason) for a response that arrived."""
    kind = page_kind(response)
    if kind.kind != "public":
        return kind.kind.replace(" ", "_"), kind.reason
    if 200 <= response.status < 300:
        return "captured", f"status {response.status}"
    if response.status in (404, 410):
        return "not_found", f"status {response.status}"
    return "error", f"status {response.status}"
