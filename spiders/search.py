"""Web search through a SearXNG JSON API, with the top results captured as evidence.

Agencies run their own meta-search (SearXNG is self-hostable), so the queries never leave
the agency to a commercial profile-builder. Each query's JSON answer is kept as evidence;
each of the first ``max_results`` results becomes an item with its rank and query, and its
page is captured (raw and rendered) like any other page.

Debugging: ``scrapy crawl search -a endpoint=https://searx.example -a queries='"Jane Doe"'``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture, CollectionContext
from spiders.exchange import hop_exchanges, received_exchange
from spiders.outcomes import response_outcome
from spiders.pages import page_capture
from spiders.render import NON_REDIRECT_STATUSES, RenderMixin, failed_capture, request_headers, response_headers


def searxng_url(endpoint: str, query: str) -> str:
    """The SearXNG JSON API URL for one query (``/search?q=...&format=json``)."""
    return endpoint.rstrip("/") + "/search?" + urlencode({"q": query, "format": "json"})


class SearchSpider(RenderMixin, scrapy.Spider):
    name = "search"
    kind = "search_result"

    def __init__(self, queries: Iterable[tuple[str, str]] | str = (), endpoint: str = "",
                 max_results: int | str = 5, context: CollectionContext | None = None,
                 render: bool | str = True, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(queries, str):
            queries = [(q, "command line") for q in queries.split("|") if q.strip()]
        self.queries = list(queries)
        self.endpoint = endpoint
        self.max_results = int(max_results)
        self.context = context
        self.render = render not in (False, "0", "false", "no") and (context is None or context.render)
        self.requested: set[str] = set()  # a URL found by two queries is captured once

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for query, found_by in self.queries:
            # The query's answer is always fetched again: results may be missing after a kill.
            yield scrapy.Request(searxng_url(self.endpoint, query), callback=self.answered,
                                 errback=self.failed, dont_filter=True,
                                 meta={"vetting_key": f"query:{query}", "vetting_found_by": found_by,
                                       "vetting_query": query, "vetting_meta": {"query": query},
                                       "handle_httpstatus_list": NON_REDIRECT_STATUSES})

    def answered(self, response: Response) -> Any:
        query = response.meta["vetting_query"]
        found_by = response.meta["vetting_found_by"]
        outcome, reason = response_outcome(response)
        results: list[dict[str, Any]] = []
        if outcome == "captured":
            try:
                payload = json.loads(response.body)
                results = [r for r in payload.get("results", []) if isinstance(r, dict)]
            except (ValueError, AttributeError) as exc:
                outcome, reason = "error", f"search answer is not SearXNG JSON: {exc}"
        kept = results[: self.max_results]
        key = response.meta["vetting_key"]
        if not (self.context is not None and self.context.is_captured(key)):
            yield Capture(key=key, kind="search_query", url=response.url, outcome=outcome, reason=reason,
                          found_by=found_by, final_url=response.url, status=response.status,
                          request_headers=request_headers(response.request),
                          response_headers=response_headers(response), body=response.body,
                          received=received_exchange(response), exchanges=hop_exchanges(response),
                          meta={"query": query, "results": len(results), "kept": len(kept)})
        for rank, result in enumerate(kept, 1):
            url = str(result.get("url", ""))
            result_key = f"result:{url}"
            if urlsplit(url).scheme not in ("http", "https") or result_key in self.requested or (
                    self.context is not None and self.context.is_captured(result_key)):
                continue
            self.requested.add(result_key)
            meta = {"query": query, "rank": rank, "engine": result.get("engine"),
                    "snippet": str(result.get("content", ""))[:1000],
                    "result_title": str(result.get("title", ""))[:300],
                    "published": result.get("publishedDate")}
            yield scrapy.Request(url, callback=self.result_page, errback=self.failed, dont_filter=True,
                                 meta={"vetting_key": result_key, "vetting_found_by": f"search:{query}",
                                       "vetting_meta": meta, "handle_httpstatus_list": NON_REDIRECT_STATUSES})

    async def result_page(self, response: Response) -> Any:
        yield await page_capture(self, response, self.kind, **response.meta["vetting_meta"])

    def failed(self, failure: Failure) -> Any:
        key = failure.request.meta["vetting_key"]  # type: ignore[attr-defined]
        yield failed_capture(failure, "search_query" if key.startswith("query:") else self.kind, self.context)
