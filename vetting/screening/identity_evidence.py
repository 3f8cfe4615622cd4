"""What identity evidence is made of: the candidate's identifiers, one page, and the matches and
contradictions found on it, collected (capped) as the matchers read the page.

The matchers (:mod:`vetting.screening.identity_matchers`, :mod:`vetting.screening.identity_birth`) fill a
:class:`_Collector`; :mod:`vetting.screening.identity` turns what it holds into a level. Keeping these
shapes apart from both lets each import them without importing the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from vetting.screening.names import FoldedText

#: At most this many occurrences of one identifier are listed (the first ones on the page).
MAX_OCCURRENCES = 5
_SNIPPET = 60


@dataclass
class CandidateIdentifiers:
    """What the candidate disclosed, as plain values (the lead converts from the model)."""

    full_name: str
    aliases: list[str] = field(default_factory=list)
    date_of_birth: date | None = None
    city: str = ""
    state: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    profile_urls: list[str] = field(default_factory=list)


@dataclass
class PageEvidence:
    """One collected page, as extracted text and metadata.

    ``linked_from_disclosed`` is True only when one of the candidate's disclosed profiles links
    to this page (``linked_from`` names that profile), whether the collector followed that link
    or reached the page another way; ``linked_rel_me`` says the link is marked ``rel="me"``
    there (the owner's "this is also me"), which is what confirms. ``found_by`` records how the
    page was reached ("disclosed by the candidate", 'search query "..." at rank 2', ...), for
    the reasons only.
    """

    url: str
    title: str = ""
    text: str = ""
    author: str = ""
    published: datetime | None = None
    links: list[str] = field(default_factory=list)
    linked_from_disclosed: bool = False
    linked_from: str = ""
    linked_rel_me: bool = True
    found_by: str = ""


@dataclass(frozen=True)
class Match:
    """One candidate identifier found on the page.

    ``where`` is ``<field>:<offset>`` (field is url, title, author, text; offset a character
    offset in that field), ``links[i]``, or ``linked_from_disclosed``; ``snippet`` is the text
    around it, for the person who validates.
    """

    kind: str
    value: str
    where: str
    snippet: str
    #: a same-name stranger is unlikely to share it (see the module docstring)
    strong: bool = False

    @property
    def identifier_class(self) -> str:
        return _CLASS[self.kind]


@dataclass(frozen=True)
class Contradiction:
    """A statement on the page that does not fit the candidate (``expected`` says what would)."""

    kind: str
    value: str
    expected: str
    where: str
    snippet: str


@dataclass(frozen=True)
class _Field:
    name: str
    text: FoldedText


def _original(f: _Field, start: int, end: int) -> str:
    a, b = f.text.span(start, end)
    return f.text.original[a:b]


_CLASS = {
    "disclosed_account": "disclosed_account",
    "cross_link": "cross_link",
    "email": "email",
    "phone": "phone",
    "username": "username",
    "full_name": "name",
    "alias": "name",
    "partial_name": "name",
    "location": "location",
    "date_of_birth": "date_of_birth",
}
_STRONG = frozenset({"disclosed_account", "cross_link", "email", "phone", "username"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- helpers ---------------------------------------------------------------------------------


def _snippet(original: str, start: int, end: int) -> str:
    a, b = max(0, start - _SNIPPET), min(len(original), end + _SNIPPET)
    s = " ".join(original[a:b].split())
    return ("…" if a > 0 else "") + s + ("…" if b < len(original) else "")


class _Collector:
    """Accumulates matches, capped per (kind, value) so a long page stays readable."""

    def __init__(self) -> None:
        self.matches: list[Match] = []
        self.contradictions: list[Contradiction] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._seen: set[tuple[str, str]] = set()
        self._spans: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
        self._contra_counts: dict[tuple[str, str], int] = {}
        self._contra_seen: set[tuple[str, str]] = set()

    def match(self, kind: str, value: str, f: _Field | None, start: int, end: int,
              where: str | None = None, strong: bool | None = None) -> None:
        key = (kind, value.casefold())
        if self._counts.get(key, 0) >= MAX_OCCURRENCES:
            return
        if f is not None:
            # two readers of one statement ("Maria Gutierrez, born in 1994" is a year after the
            # name and a bare "born in") overlap: one finding
            span_key = (kind, value.casefold(), f.name)
            if any(s < end and start < e for s, e in self._spans.get(span_key, ())):
                return
            self._spans.setdefault(span_key, []).append((start, end))
            a, b = f.text.span(start, end)
            where = f"{f.name}:{a}"
            snippet = _snippet(f.text.original, a, b)
        else:
            snippet = value
        # the full name and an alias found at the same place are one finding, not two
        seen_key = (_CLASS[kind], where or "")
        if seen_key in self._seen:
            return
        self._seen.add(seen_key)
        self._counts[key] = self._counts.get(key, 0) + 1
        if strong is None:
            strong = kind in _STRONG or (kind == "date_of_birth" and bool(_ISO_DATE.fullmatch(value)))
        self.matches.append(Match(kind, value, where or "", snippet, strong))

    def contradict(self, kind: str, value: str, expected: str, f: _Field, start: int,
                   end: int) -> None:
        a, b = f.text.span(start, end)
        where = f"{f.name}:{a}"
        key = (kind, value.casefold())
        # the same statement repeated is one contradiction, as a repeated name is one identifier
        if (kind, where) in self._contra_seen or self._contra_counts.get(key, 0) >= 1:
            return
        self._contra_seen.add((kind, where))
        self._contra_counts[key] = 1
        self.contradictions.append(
            Contradiction(kind, value, expected, where, _snippet(f.text.original, a, b)))
