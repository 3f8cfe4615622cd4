"""The exchanges as they went over the wire, kept for the WARC before Scrapy changes them.

Scrapy's decompression middleware replaces a compressed response by its decoded body and drops
``Content-Encoding``; its redirect middleware drops the 3xx response it followed. Evidence must
be the response as the server sent it (DESIGN.md, issue 11.2), so the guard's own versions of
those two middlewares keep, in ``request.meta``, an :class:`~spiders.capture.Exchange` of the
response as received (:data:`RECEIVED_META`) and of every redirect hop before it
(:data:`HOPS_META`). Spiders read them back with :func:`received_exchange` and :func:`hop_exchanges`.
"""

from __future__ import annotations

from typing import Any

from scrapy.http import Request, Response

from spiders.capture import Exchange

RECEIVED_META = "vetting_received"  # the final response as received (before decompression)
HOPS_META = "vetting_hops"  # the redirect responses followed to reach it, in order


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, values in headers.items() for v in values]


def exchange_from(request: Request, response: Response, role: str = "response") -> Exchange:
    """The exchange of ``request`` and ``response`` as they are now (call before decoding)."""
    ip = getattr(response, "ip_address", None)
    return Exchange(url=response.url, method=request.method.upper(), request_headers=_header_pairs(request.headers),
                    status=response.status, response_headers=_header_pairs(response.headers),
                    body=bytes(response.body), protocol=getattr(response, "protocol", None) or "HTTP/1.1",
                    ip_address=str(ip) if ip is not None else None, role=role)


def keep_received(request: Request, response: Response) -> None:
    """Remember ``response`` as received, for the WARC (the decompression middleware calls it)."""
    request.meta[RECEIVED_META] = exchange_from(request, response)


def keep_hop(request: Request, response: Response, redirected: Request) -> None:
    """Remember a followed redirect response on the request that follows it."""
    redirected.meta[HOPS_META] = [*request.meta.get(HOPS_META, []), exchange_from(request, response, "redirect")]


def received_exchange(response: Response) -> Exchange:
    """The final response as the server sent it (from the guard's record, else as Scrapy has it)."""
    request = response.request
    kept = response.meta.get(RECEIVED_META) if request is not None else None
    if isinstance(kept, Exchange) and kept.url == response.url:
        return kept
    return exchange_from(request if request is not None else Request(response.url), response)


def hop_exchanges(response: Response) -> list[Exchange]:
    """The redirect responses followed before ``response`` (empty when there was no redirect)."""
    try:
        return list(response.meta.get(HOPS_META, []))
    except AttributeError:  # a response with no request
        return []
