"""``news`` (Riverside Ledger): a news site with bylines and machine-readable dates.

Articles carry ``<meta name="author">``, ``article:published_time`` and ``<time>``, so the date
extraction and the lookback window can be tested. One article names a same-name stranger
(another city, another age): a name match that identity validation must reject.
"""

from __future__ import annotations

from typing import Any

from vetting.demoweb.content import load
from vetting.demoweb.html import esc, time_tag
from vetting.demoweb.http import Document, Request, Response, SiteApp, SiteContext, html_response


class NewsSite(SiteApp):
    name = "news"
    title = "Riverside Ledger"

    def __init__(self, context: SiteContext) -> None:
        super().__init__(context)
        self.articles: dict[str, dict[str, Any]] = {a["slug"]: a for a in load("news")["articles"]}
        self.route(r"/", self.index)
        self.route(r"/articles/(?P<slug>[a-z0-9\-]+)", self.article)

    def index(self, req: Request) -> Response:
        ordered = sorted(self.articles.values(), key=lambda a: a["published"], reverse=True)
        rows = "".join(f'<li><a href="/articles/{esc(a["slug"])}">{esc(a["title"])}</a> '
                       f'{time_tag(a["published"])}</li>' for a in ordered)
        return html_response(self.page("Latest news", f"<h1>Latest news</h1><ul>{rows}</ul>"))

    def article(self, req: Request, slug: str) -> Response:
        a = self.articles.get(slug)
        if a is None:
            return self.not_found("Article not found")
        head = (f'<meta name="author" content="{esc(a["author"])}">'
                f'<meta property="og:type" content="article">'
                f'<meta property="og:title" content="{esc(a["title"])}">'
                f'<meta property="article:published_time" content="{esc(a["published"])}">'
                f'<meta property="article:section" content="{esc(a["section"])}">')
        paras = "".join(f"<p>{esc(p)}</p>" for p in a["paragraphs"])
        body = (f'<article><h1>{esc(a["title"])}</h1><p class="byline">By <span class="author">'
                f'{esc(a["author"])}</span>, {time_tag(a["published"])}</p>{paras}</article>')
        return html_response(self.page(a["title"], body, head))

    def documents(self) -> list[Document]:
        return [Document(f"/articles/{a['slug']}", f"{a['title']} · {self.title}",
                         " ".join(a["paragraphs"]), a["published"]) for a in self.articles.values()]
