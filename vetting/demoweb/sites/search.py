"""``search``: a SearXNG-compatible JSON search API over the demo sites' own pages.

``GET /search?q=...&format=json`` answers in SearXNG's shape (``query``,
``number_of_results``, ``results`` with ``url``, ``title``, ``content``, ``engine``, ``score``,
``category``, ``publishedDate``) from :class:`~vetting.demoweb.searchindex.SearchIndex`. Like a
SearXNG instance with only the JSON format enabled, any other format is 403. Ten results per
page (``pageno``). No rate limit: the demo never needs to back off.
"""

from __future__ import annotations

from vetting.demoweb.http import (
    Request,
    Response,
    SiteApp,
    SiteContext,
    html_response,
    json_response,
    text_response,
)
from vetting.demoweb.searchindex import SearchIndex

PAGE_SIZE = 10


class SearchSite(SiteApp):
    name = "search"
    title = "Demo SearXNG"

    def __init__(self, context: SiteContext, index: SearchIndex | None = None) -> None:
        super().__init__(context)
        self.index = index or SearchIndex()
        self.route(r"/", self.home)
        self.route(r"/search", self.search, methods=("GET", "HEAD", "POST"))
        self.route(r"/config", self.config)

    def home(self, req: Request) -> Response:
        body = ('<h1>Demo SearXNG</h1><form action="/search"><input name="q">'
                '<input type="hidden" name="format" value="json"><button>Search</button></form>'
                f"<p>{len(self.index.pages)} pages indexed from the demo web.</p>")
        return html_response(self.page("Search", body))

    def config(self, req: Request) -> Response:
        return json_response({"instance_name": "Demo SearXNG", "engines": [{"name": "demoindex",
                              "categories": ["general"], "enabled": True}], "version": "demo"})

    def search(self, req: Request) -> Response:
        if req.arg("format") != "json":
            return text_response("Forbidden: only format=json is enabled on this instance", 403)
        query = req.arg("q").strip()
        if not query:
            return json_response({"error": "no query"}, 400)
        try:
            pageno = max(1, int(req.arg("pageno", "1")))
        except ValueError:
            return json_response({"error": "pageno must be a number"}, 400)
        hits = self.index.search(query)
        window = hits[(pageno - 1) * PAGE_SIZE: pageno * PAGE_SIZE]
        results = [{"url": h.page.url, "title": h.page.title, "content": h.snippet,
                    "engine": h.page.engine, "engines": [h.page.engine], "positions": [i + 1],
                    "score": h.score, "category": "general", "publishedDate": h.page.published,
                    "template": "default.html"}
                   for i, h in enumerate(window, start=(pageno - 1) * PAGE_SIZE)]
        return json_response({"query": query, "number_of_results": len(hits), "results": results,
                              "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
                              "unresponsive_engines": []})
