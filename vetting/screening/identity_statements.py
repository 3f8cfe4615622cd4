"""What a page says about a named person right next to the name: place, age, birth year.

News items, people-search listings and profile cards describe a person in a run of short
descriptors after the name: "Maria Gutierrez, Phoenix AZ, born 1971", "Alex Rivera (30) ·
Kansas City, MO", "Maria Gutierrez is 52 years old", "a 52-year-old Maria Gutierrez". Those
descriptors are the page's own words about that person, so :mod:`vetting.screening.identity_matchers`
compares them with the candidate: a different city or birth year there is a contradiction.

:func:`near_name_statements` reads them from FOLDED text (offsets into the folded text), with
the original text at hand for capitalization (a place is written capitalized; "AZ" is a state,
"az" is not). Pure functions, linear in the window read: at most :data:`WINDOW` characters
after each name and :data:`BEFORE` before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from vetting.screening.names import FoldedText, fold

__all__ = ["STATES", "STATE_BY_NAME", "Statement", "names_a_state", "near_name_statements"]

#: Characters read after a name for its descriptors, and before it for "52-year-old Name".
WINDOW = 120
BEFORE = 40
#: Descriptors read after one name at most (a longer run is a list, not a description).
MAX_DESCRIPTORS = 5
#: Name occurrences read for descriptors at most (the first ones on the page): a page that
#: names someone 25,000 times says nothing more about them at the 201st time.
MAX_NAMES = 200

STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico", "GU": "Guam", "VI": "Virgin Islands",
}
STATE_BY_NAME = {fold(v): k for k, v in STATES.items()}


def names_a_state(text: str) -> bool:
    """``text`` is a state: its upper-case abbreviation or its name in any case."""
    t = text.strip().rstrip(".")
    return (t.isupper() and t in STATES) or fold(t) in STATE_BY_NAME


@dataclass(frozen=True)
class Statement:
    """One descriptor of the named person: ``kind`` is ``place`` (value "City, ST", "City" or
    a state), ``age`` (value the age) or ``born`` (value a year, or the date text); ``start``
    and ``end`` are folded offsets; ``has_state`` says a place names its state."""

    kind: str
    value: str
    start: int
    end: int
    has_state: bool = False


# a descriptor run is cut at these separators: "Name, Phoenix AZ | born 1971 (52)"
_SEGMENT = re.compile(r"[^,|·•;()\[\]\n—–]+")
_AGE = re.compile(r"(?:(?:is|was|turned|turns|now)\s+)*(?:age[d]?\s*:?\s*)?(\d{1,2})"
                  r"(?:\s*(?:years?|yrs?)(?:[\s-]*old)?|\s*y/?o)?")
_BORN = re.compile(r"(?:(?:was|is)\s+)?(?:born|b\.)\s*:?\s*(?:in\s+|on\s+)?(.+)")
_YEAR = re.compile(r"(\d{4})(?!\d)")
_DATEISH = re.compile(r"[\w .,/-]{4,30}?\d{4}")
_PLACE_WORDS = re.compile(r"(?:(?:St|Ft|Mt)\.|[A-Z][\w'.-]*)(?:[ \t]+(?:(?:St|Ft|Mt)\.|[A-Z][\w'.-]*|of|de|la))*")
_STATE_TAIL = re.compile(r"^(.*?)[ \t]+([A-Z]{2})$")
_BEFORE_AGE = re.compile(r"(?<!\d)(\d{1,2})[\s-]*(?:years?|yrs?)[\s-]*old\b[^.!?\n\d]{0,30}$")
_NOT_SELF = re.compile(r"'s\b|\b(?:my|his|her|their|whose|friend|brother|sister|mother|mom|"
                       r"father|dad|son|daughter|wife|husband|cousin|uncle|aunt)\b")
_NOT_PLACE = frozenset({"the", "my", "a", "an", "he", "she", "they", "we", "i", "it", "this",
                        "that", "and", "or", "but", "mr", "mrs", "ms", "dr", "jr", "sr"})


def near_name_statements(text: FoldedText, name_spans: list[tuple[int, int]]) -> list[Statement]:
    """The descriptors after (and the age before) each name span, in page order (the location
    and the birth matchers both ask: read once per page)."""
    return list(_statements(text, tuple(name_spans[:MAX_NAMES])))


@lru_cache(maxsize=4)
def _statements(text: FoldedText, name_spans: tuple[tuple[int, int], ...]) -> tuple[Statement, ...]:
    out: list[Statement] = []
    for start, end in name_spans:
        out += _after(text, end)
        before = text.folded[max(0, start - BEFORE):start]
        m = _BEFORE_AGE.search(before)
        if m and not _NOT_SELF.search(before[m.end(1):]):
            offset = start - len(before)
            out.append(Statement("age", m.group(1), offset + m.start(1), offset + m.end(1)))
    return tuple(out)


def _after(text: FoldedText, end: int) -> list[Statement]:
    window = text.folded[end:end + WINDOW]
    # the run stops at the end of the sentence: ". " not after an initial, "St." or "b."
    stop = re.search(r"(?<!\b[a-z])(?<!\bst)(?<!\bft)(?<!\bmt)[.!?](?:\s|$)", window)
    if stop:
        window = window[:stop.start()]
    found: list[Statement] = []
    pending_place: Statement | None = None
    for i, seg in enumerate(_SEGMENT.finditer(window)):
        if i >= MAX_DESCRIPTORS:
            break
        raw = seg.group()
        body = raw.strip()
        if not body:
            continue
        s = end + seg.start() + (len(raw) - len(raw.lstrip()))
        e = s + len(body)
        statement = _classify(text, body, s, e)
        if statement is None:
            break
        completes = pending_place is not None and not pending_place.has_state
        if statement.kind in ("place", "state_abbr") and completes and names_a_state(_original(text, s, e)):
            # "Phoenix, Arizona", "Phoenix, AZ": the state completes the city before it
            assert pending_place is not None
            found.remove(pending_place)
            statement = Statement("place", f"{pending_place.value}, {_original(text, s, e)}",
                                  pending_place.start, e, True)
        elif statement.kind == "state_abbr":
            # alone after a name, "MD", "PA", "MA", "MS" are degrees as often as states
            pending_place = None
            continue
        pending_place = statement if statement.kind == "place" else None
        found.append(statement)
    # a city without a state is only a place when the run also gives an age or birth year
    # ("Maria Gutierrez, Phoenix, born 1971"); "Alex Rivera, Jordan, ..." is a list of people
    described = any(x.kind in ("age", "born") for x in found)
    return [x for x in found if x.kind != "place" or x.has_state or described]


def _original(text: FoldedText, start: int, end: int) -> str:
    a, b = text.span(start, end)
    return text.original[a:b]


def _classify(text: FoldedText, body: str, start: int, end: int) -> Statement | None:
    m = _AGE.fullmatch(body)
    if m:
        return Statement("age", m.group(1), start, end)
    m = _BORN.fullmatch(body)
    if m:
        rest = m.group(1).strip()
        y = _YEAR.match(rest)
        if y:
            return Statement("born", y.group(1), start, end)
        d = _DATEISH.match(rest)
        if d:
            return Statement("born", d.group(), start, end)
        return None
    original = _original(text, start, end).strip().rstrip(".")
    if not _PLACE_WORDS.fullmatch(original):
        return None
    if fold(original.split()[0]).rstrip(".") in _NOT_PLACE:
        return None
    if original in STATES:
        return Statement("state_abbr", original, start, end, True)
    if names_a_state(original):
        return Statement("place", original, start, end, True)
    tail = _STATE_TAIL.match(original)
    if tail and tail.group(2) in STATES:
        return Statement("place", f"{tail.group(1)}, {tail.group(2)}", start, end, True)
    return Statement("place", original, start, end, False)
