"""Turning captured HTML into what an investigator reads: title, author, date, text, links.

Collected pages are hostile input. Parsing uses BeautifulSoup's pure-Python parser on bytes
already capped in size by the guard; scripts, styles and templates are dropped before the
text is taken, and nothing from the page is ever executed or followed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

MAX_TEXT_CHARS = 500_000
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n+")

_AUTHOR_META = (("name", "author"), ("property", "article:author"), ("name", "twitter:creator"))
_DATE_META = (("property", "article:published_time"), ("name", "date"), ("name", "pubdate"),
              ("itemprop", "datePublished"), ("name", "dc.date"))


@dataclass
class PageText:
    title: str = ""
    author: str = ""
    published: str | None = None
    text: str = ""
    links: list[str] = field(default_factory=list)
    #: the links marked rel="me" (the page's owner says "this is also me"), a subset of links
    me_links: list[str] = field(default_factory=list)


def extract(html: str | bytes, base_url: str, encoding: str | None = None) -> PageText:
    """Extract the readable parts of a page; never raises on malformed markup."""
    if isinstance(html, bytes):
        html = html.decode(encoding or "utf-8", errors="replace")
    soup = BeautifulSoup(html, "html.parser")
    out = PageText()
    if soup.title and soup.title.string:
        out.title = " ".join(soup.title.string.split())[:500]
    for attr, value in _AUTHOR_META:
        tag = soup.find("meta", attrs={attr: value})
        if tag and tag.get("content"):
            out.author = str(tag["content"]).strip()[:200]
            break
    for attr, value in _DATE_META:
        tag = soup.find("meta", attrs={attr: value})
        if tag and tag.get("content"):
            out.published = str(tag["content"]).strip()[:64]
            break
    if out.published is None:
        time_tag = soup.find("time", attrs={"datetime": True})
        if time_tag:
            out.published = str(time_tag["datetime"]).strip()[:64]
    links: list[str] = []
    for a in soup.find_all("a", href=True):
        href = str(a["href"]).strip()
        try:  # a hostile href ("http://[::1") is skipped, never fatal to the capture
            absolute = urljoin(base_url, href)
            scheme = urlsplit(absolute).scheme
        except ValueError:
            continue
        if scheme in ("http", "https") and absolute not in links:
            links.append(absolute)
            rel = a.get("rel") or []
            if "me" in {r.lower() for r in (rel.split() if isinstance(rel, str) else rel)}:
                out.me_links.append(absolute)
    out.links = links[:500]
    out.me_links = [u for u in out.me_links if u in set(out.links)]
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "embed", "svg"]):
        tag.decompose()
    body = soup.body or soup
    text = body.get_text("\n")
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())
    out.text = _BLANKS.sub("\n\n", text).strip()[:MAX_TEXT_CHARS]
    return out
