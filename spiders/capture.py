"""What a spider hands to the evidence pipeline, and what it expects from the engine.

Spiders never import the ``vetting`` package: the engine passes a context object with the
methods of :class:`CollectionContext`. Run alone (``scrapy crawl``) there is no context and
captures are simply yielded as items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Exchange:
    """One HTTP exchange as it went over the wire, for the WARC: the request our fetcher sent
    and the response exactly as the server sent it (status line, headers, and the payload still
    in its ``Content-Encoding``; only the chunked transfer coding is undone)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes  # as received: still compressed when the server compressed it
    protocol: str = "HTTP/1.1"
    ip_address: str | None = None
    role: str = "response"  # response | redirect | subresource (what the record is to the capture)


@dataclass
class Capture:
    """One captured thing with its raw bytes, before it becomes evidence."""

    key: str  # stable per case: the same URL/check gives the same key, so re-runs never duplicate
    kind: str  # page | account | search_result
    url: str
    outcome: str  # captured | exists | missing | indeterminate | not_found | not_public | blocked | refused | error
    reason: str = ""
    found_by: str = ""
    final_url: str | None = None
    status: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None  # the payload, decoded (what text is extracted from)
    received: Exchange | None = None  # the final response as the server sent it (the WARC record)
    exchanges: list[Exchange] = field(default_factory=list)  # redirect hops before it, then subresources
    rendered_dom: str | None = None  # the DOM after the browser ran the page
    screenshot: bytes | None = None  # full-page PNG
    meta: dict[str, Any] = field(default_factory=dict)


class CollectionContext(Protocol):
    """What the engine provides to a spider running one step of one case."""

    render: bool

    def is_captured(self, key: str) -> bool: ...

    def save_capture(self, capture: Capture) -> None: ...
