"""The demo search engine's index: real term and phrase matching over the demo sites' pages.

Query syntax is the everyday one: ``"quoted phrases"`` must appear as written (word order
kept; an e-mail address or handle inside quotes must appear verbatim), bare words must all
appear (AND), ``-word`` excludes. Scores add a log-scaled term frequency per query part, with a
bonus for matches in the title, so the ranking is explainable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_WORD = re.compile(r"\w+", re.UNICODE)
_QUERY_PART = re.compile(r'(-?)"([^"]*)"|(-?)(\S+)')


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _WORD.findall(text)]


@dataclass(frozen=True)
class IndexedPage:
    url: str
    title: str
    text: str
    published: str | None
    engine: str = "demoindex"

    @property
    def title_tokens(self) -> list[str]:
        return tokens(self.title)


@dataclass(frozen=True)
class QueryPart:
    """One phrase or word of a query (a bare word is a phrase of one token)."""

    words: tuple[str, ...]
    raw: str
    exclude: bool = False
    verbatim: bool = False  # quoted text with punctuation (e-mail, handle): match it literally too


@dataclass(frozen=True)
class Hit:
    page: IndexedPage
    score: float
    snippet: str


def parse_query(query: str) -> list[QueryPart]:
    parts = []
    for m in _QUERY_PART.finditer(query):
        quoted = m.group(2) is not None
        raw = (m.group(2) if quoted else m.group(4)) or ""
        words = tuple(tokens(raw))
        if not words:
            continue
        exclude = bool(m.group(1) if quoted else m.group(3))
        verbatim = quoted and bool(re.search(r"[^\w\s]", raw))
        parts.append(QueryPart(words, raw.strip().lower(), exclude, verbatim))
    return parts


def _count(haystack: list[str], needle: tuple[str, ...]) -> int:
    n = len(needle)
    return sum(1 for i in range(len(haystack) - n + 1) if tuple(haystack[i:i + n]) == needle)


@dataclass
class SearchIndex:
    """All indexed pages; :meth:`search` scans them (the demo web has a few dozen)."""

    pages: list[IndexedPage] = field(default_factory=list)

    def add(self, page: IndexedPage) -> None:
        self.pages.append(page)

    def search(self, query: str) -> list[Hit]:
        parts = parse_query(query)
        wanted = [p for p in parts if not p.exclude]
        if not wanted:
            return []
        hits = []
        for page in self.pages:
            body = tokens(page.text)
            title = page.title_tokens
            lowered = f"{page.title} {page.text}".lower()
            score = 0.0
            for part in parts:
                n = _count(body, part.words) + _count(title, part.words)
                if part.verbatim and part.raw not in lowered:
                    n = 0
                if part.exclude:
                    if n:
                        break
                    continue
                if n == 0:
                    break
                score += (1.0 + math.log(n)) * len(part.words) + (2.0 if _count(title, part.words) else 0.0)
            else:
                hits.append(Hit(page, round(score, 3), snippet(page.text, wanted[0])))
        # best score first; among equals, the most recent page first (then by URL, for stability)
        hits.sort(key=lambda h: h.page.url)
        hits.sort(key=lambda h: h.page.published or "", reverse=True)
        hits.sort(key=lambda h: -h.score)
        return hits


def snippet(text: str, part: QueryPart, width: int = 220) -> str:
    """About ``width`` characters of ``text`` around the first occurrence of ``part``."""
    pattern = r"\W+".join(re.escape(w) for w in part.words)
    m = re.search(pattern, text, re.IGNORECASE)
    start = max(0, (m.start() if m else 0) - width // 3)
    end = min(len(text), start + width)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + text[start:end].strip() + suffix
