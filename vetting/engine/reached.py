"""How a collected item was reached: the first link of its evidence chain.

Every item records how the collector got to it (``Item.reached_json``), so a reviewer, a
commander and hiring staff can tell a disclosed account from a page a search turned up:

``{"via": "disclosed", "input": "profile_urls:<url>", "depth": 0}``
    an account the candidate disclosed (a pages step's input from ``profile_urls``);
``{"via": "input", "input": "<identifier or procedure source>", "depth": 0}``
    any other URL a pages step lists;
``{"via": "link", "from_url": ..., "from_item": ..., "depth": 1|2|3, "rel_me": bool, "site": ...}``
    a profile link followed from another captured page (``limits.max_depth``);
``{"via": "search", "query": ..., "rank": R}``
    a result of the agency's search backend, at rank R for query Q;
``{"via": "search_backend", "query": ...}``
    the search backend's answer to a query itself;
``{"via": "site_check", "site": ..., "username": ...}``
    an account check of a username on a site of the procedure's site list.

:func:`reached_for` derives the record for captures whose spider did not set one (search
results and site checks carry their query, rank, site and username in ``meta``), and for
items stored before the column existed. :func:`describe_reached` says it in words.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["describe_chain", "describe_reached", "reached_for", "reached_of_item"]

#: Links followed back at most when a chain is told (``limits.max_depth`` is at most 3).
MAX_CHAIN = 4


def reached_for(kind: str, found_by: str, meta: dict[str, Any],
                reached: dict[str, Any] | None = None) -> dict[str, Any]:
    """The how-reached record of one capture (``reached`` as the spider gave it, if any)."""
    if reached:
        return dict(reached)
    if kind == "search_query":
        return {"via": "search_backend", "query": meta.get("query", "")}
    if meta.get("query") is not None and meta.get("rank") is not None:
        return {"via": "search", "query": meta["query"], "rank": meta["rank"]}
    if kind == "account" or meta.get("site") is not None and meta.get("username") is not None:
        return {"via": "site_check", "site": meta.get("site", ""), "username": meta.get("username", "")}
    if found_by.startswith("profile_urls"):
        return {"via": "disclosed", "input": found_by, "depth": 0}
    if found_by.startswith("link:"):
        return {"via": "link", "from_url": found_by.removeprefix("link:")}
    return {"via": "input", "input": found_by, "depth": 0}


def reached_of_item(item: Any) -> dict[str, Any]:
    """The stored record of an :class:`~vetting.domain.models.Item`, derived for older items."""
    try:
        stored = json.loads(getattr(item, "reached_json", "") or "{}")
    except ValueError:
        stored = {}
    return reached_for(item.kind, item.found_by or "", item.meta(), stored if isinstance(stored, dict) else None)


def describe_reached(reached: dict[str, Any]) -> str:
    """The record in words: "disclosed by the candidate", "link from X (depth 1, rel=me)",
    'search query "Q" at rank R', "site check: S for username U"."""
    via = reached.get("via", "")
    if via == "disclosed":
        return "disclosed by the candidate"
    if via == "input":
        return f"listed by the procedure's step ({reached.get('input') or 'step input'})"
    if via == "link":
        detail = [f"depth {reached['depth']}"] if reached.get("depth") is not None else []
        if reached.get("rel_me"):
            detail.append('marked rel="me"')
        if reached.get("site"):
            detail.append(f"a {reached['site']} profile")
        if reached.get("from_item"):
            detail.append(f"from item {reached['from_item']}")
        return f"link from {reached.get('from_url', '?')}" + (f" ({', '.join(detail)})" if detail else "")
    if via == "search":
        return f"search query {_quoted(reached.get('query', ''))} at rank {reached.get('rank')}"
    if via == "search_backend":
        return f"the search backend's answer to the query {_quoted(reached.get('query', ''))}"
    if via == "site_check":
        return f"site check: {reached.get('site', '?')} for username {reached.get('username', '?')}"
    return "not recorded"


def describe_chain(item: Any, get_item: Any) -> str:
    """How ``item`` was reached, back to the step input it started from: "link from B (depth
    2) ← link from A (depth 1) ← disclosed by the candidate". ``get_item(id)`` returns the
    item a link came from, or None."""
    parts: list[str] = []
    seen: set[str] = set()
    current = item
    for _ in range(MAX_CHAIN):
        reached = reached_of_item(current)
        parts.append(describe_reached(reached))
        parent_id = reached.get("from_item") if reached.get("via") == "link" else None
        if not parent_id or parent_id in seen:
            break
        seen.add(parent_id)
        current = get_item(parent_id)
        if current is None:
            break
    return " \u2190 ".join(parts)


def _quoted(query: Any) -> str:
    """The query as typed, between typographic quotes unless it is one quoted phrase already:
    '"Jane Doe"' stays as is, '"Jane Doe" Kansas City' becomes “"Jane Doe" Kansas City”."""
    text = str(query)
    if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        return text
    return f"\u201c{text}\u201d"
