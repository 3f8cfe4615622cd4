"""Screening of collected text against the procedure's review categories: LEADS, not verdicts.

Each category is conduct that policy 261-1 names (IV.A.6, IV.C.1): an investigator reviews every
:class:`Flag` and decides, with a reason, whether it is a finding; a flag on its own proves
nothing about the candidate (sarcasm, quotation, a news story, a different person). Political
opinion is never a category: the procedure loader refuses one, and nothing here looks for it.

Matching semantics (documented for procedure authors in ``docs/screening.md``):

* the text is folded first (case, diacritics, compatibility forms, zero-width characters), and
  so are terms, so "RIFLE", "rífle" and "ri\u200bfle" all match ``rifle``;
* a term is a whole word or phrase: "gun" never matches inside "begun" or "gunther"; spaces in a
  phrase match any run of whitespace or hyphens ("keg stand", "keg-stand"), a hyphen inside a
  word matches a hyphen, a space or nothing ("AR-15", "AR 15", "AR15"); the LAST word of a term
  also matches its plural ("gun"/"guns", "party"/"parties", "glass"/"glasses", "AR-15s");
  other inflections must be listed as terms;
* a pattern is a Python regular expression, case-insensitive, run on the folded text one
  sentence at a time (write patterns without accents);
* ``unless`` phrases (terms, same rules) suppress every match of that rule in a sentence that
  contains one of them;
* overlapping matches of the same category are merged into one flag.

Hostile input is bounded: only the first :data:`MAX_SCREEN_CHARS` characters are screened
(``ScreeningResult.truncated`` says so and the caller must record it), patterns run on at most
:data:`MAX_WINDOW_CHARS` characters at a time, and :func:`compile_categories` refuses patterns
whose shape risks catastrophic backtracking (nested or alternating unbounded repeats; the
analysis is :func:`vetting.screening.rulecheck.backtracking_risk`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from itertools import pairwise
from typing import Any

from vetting.screening.names import FoldedText, fold, fold_text
from vetting.screening.rulecheck import backtracking_risk

__all__ = [
    "MAX_SCREEN_CHARS",
    "MAX_WINDOW_CHARS",
    "Category",
    "CategoryError",
    "CompiledCategories",
    "Flag",
    "Rule",
    "RuleProblem",
    "ScreeningResult",
    "check_categories",
    "compile_categories",
    "screen",
    "within_lookback",
]

#: Characters of one item screened at most (about 500 printed pages). The rest is not
#: screened, and ``ScreeningResult.truncated`` is set so the investigator knows.
MAX_SCREEN_CHARS = 1_000_000
#: A sentence longer than this is screened by patterns in overlapping windows of this size.
MAX_WINDOW_CHARS = 1_000
_WINDOW_OVERLAP = 200
#: A single pattern longer than this is refused (it is not a rule a commander can review).
MAX_PATTERN_CHARS = 500
_EXCERPT = 120


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One screening rule of a category (see the module docstring for the semantics)."""

    id: str
    terms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("terms", "patterns", "unless"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class Category:
    """A review category from the procedure: conduct the policy names, with its rules.

    ``requires_discredit``: lawful off-duty conduct (IV.C.1.c, e) that is a finding only with a
    recorded "brings discredit" justification. ``protected_conduct``: bias speech (IV.A.6.a),
    where the protected words ARE the conduct, so the firewall keeps them inside the flag.
    """

    id: str
    title: str
    policy: str
    rules: tuple[Rule, ...]
    requires_discredit: bool = False
    protected_conduct: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))


@dataclass(frozen=True)
class RuleProblem:
    """Why a rule cannot be used, naming the category, rule, field and entry."""

    category_id: str
    rule_id: str
    field: str
    value: str
    message: str

    def __str__(self) -> str:
        return (f"category {self.category_id!r}, rule {self.rule_id!r}, {self.field} "
                f"{self.value!r}: {self.message}")


class CategoryError(ValueError):
    """Raised by :func:`compile_categories`; ``problems`` lists every bad entry."""

    def __init__(self, problems: Sequence[RuleProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


# --- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """A LEAD for a person to review, never a verdict.

    ``start``/``end`` are offsets in the screened text as given (not folded); ``excerpt`` is the
    sentence around the match, shortened. ``rule_ids`` lists every rule merged into the flag.
    """

    category_id: str
    rule_id: str
    policy: str
    start: int
    end: int
    matched_text: str
    excerpt: str
    requires_discredit: bool
    protected_conduct: bool = False
    rule_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreeningResult:
    """Leads found in one text, and whether the text was in the lookback window.

    ``outside_lookback``: the item predates the window, so it was not screened (no flags).
    ``undated``: no publication date was known, so the window could not be applied.
    ``truncated``: the text was longer than the cap; only ``screened_chars`` were screened.
    """

    flags: tuple[Flag, ...]
    outside_lookback: bool
    undated: bool = False
    truncated: bool = False
    screened_chars: int = 0

    def keep_spans(self) -> list[tuple[int, int]]:
        """Spans the firewall must keep: flags of protected-conduct (bias speech) categories."""
        return [(f.start, f.end) for f in self.flags if f.protected_conduct]


# --- compilation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRule:
    rule: Rule
    terms: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]
    unless: re.Pattern[str] | None


@dataclass(frozen=True)
class _CompiledCategory:
    category: Category
    rules: tuple[_CompiledRule, ...]


@dataclass(frozen=True)
class CompiledCategories:
    """Categories with every term and pattern compiled once; build with
    :func:`compile_categories` and reuse for every item of a case."""

    categories: tuple[_CompiledCategory, ...]


def _word_piece(word: str, inflect: bool) -> str:
    parts = [re.escape(p) for p in word.split("-")]
    if inflect and word.isalpha() and len(word) >= 3:
        if word[-1] == "y" and word[-2] not in "aeiou":
            return re.escape(word[:-1]) + "(?:y|ies)"
        if word.endswith(("s", "x", "z", "ch", "sh")):
            return re.escape(word) + "(?:es)?"
        return re.escape(word) + "(?:e?s)?"
    # "AR-15" matches "AR-15", "AR 15" and "AR15"; a code ending in a digit takes an "s"
    joined = r"[\s-]?".join(parts)
    return joined + "s?" if inflect and word[-1].isdigit() else joined


def term_regex(term: str) -> str:
    """The regular expression (over folded text) for one term; see the module docstring."""
    words = fold(term).split()
    if not words:
        raise ValueError("empty term")
    body = r"[\s-]+".join(_word_piece(w, i == len(words) - 1) for i, w in enumerate(words))
    return r"(?<!\w)" + body + r"(?!\w)"


def _terms_union(terms: Iterable[str]) -> re.Pattern[str] | None:
    regexes = sorted({term_regex(t) for t in terms}, key=lambda r: (-len(r), r))
    return re.compile("|".join(regexes)) if regexes else None


def _fold_pattern(pattern: str) -> str:
    # regex syntax is ASCII; only literal non-ASCII letters need folding to meet folded text
    return "".join(ch if ch.isascii() else fold(ch) for ch in pattern)


def check_categories(categories: Iterable[Category]) -> list[RuleProblem]:
    """Every problem in the categories' rules (empty list = all usable). The procedure loader
    calls this (or :func:`compile_categories`) so a bad rule is refused at load time."""
    problems: list[RuleProblem] = []
    for cat in categories:
        for rule in cat.rules:
            def bad(fld: str, value: str, msg: str, _c: str = cat.id, _r: str = rule.id) -> None:
                problems.append(RuleProblem(_c, _r, fld, value, msg))

            if not (rule.terms or rule.patterns):
                bad("rule", "", "a rule needs terms or patterns")
            for fld, entries in (("terms", rule.terms), ("unless", rule.unless)):
                for t in entries:
                    if not isinstance(t, str) or not re.search(r"\w", fold(t)):
                        bad(fld, str(t), "must contain a letter or digit")
            for p in rule.patterns:
                if not isinstance(p, str) or not p.strip():
                    bad("patterns", str(p), "empty pattern")
                    continue
                if len(p) > MAX_PATTERN_CHARS:
                    bad("patterns", p[:60] + "…", f"longer than {MAX_PATTERN_CHARS} characters")
                    continue
                try:
                    rx = re.compile(_fold_pattern(p), re.IGNORECASE)
                except re.error as exc:
                    bad("patterns", p, f"not a valid regular expression: {exc}")
                    continue
                if rx.search("") is not None:
                    bad("patterns", p, "matches the empty string, so it would flag everything")
                    continue
                risk = backtracking_risk(_fold_pattern(p))
                if risk:
                    bad("patterns", p, f"risks catastrophic backtracking: {risk}")
    return problems


def compile_categories(categories: Iterable[Category]) -> CompiledCategories:
    """Compile every rule once; raise :class:`CategoryError` listing every problem."""
    cats = tuple(categories)
    problems = _checked(cats)
    if problems:
        raise CategoryError(problems)
    return _compile(cats)


@lru_cache(maxsize=32)
def _checked(cats: tuple[Category, ...]) -> tuple[RuleProblem, ...]:
    # screen() may be handed the same raw categories for every item of a case: check once
    return tuple(check_categories(cats))


@lru_cache(maxsize=32)
def _compile(cats: tuple[Category, ...]) -> CompiledCategories:
    out = []
    for cat in cats:
        rules = tuple(
            _CompiledRule(
                rule=r,
                terms=_terms_union(r.terms),
                patterns=tuple(re.compile(_fold_pattern(p), re.IGNORECASE) for p in r.patterns),
                unless=_terms_union(r.unless),
            )
            for r in cat.rules
        )
        out.append(_CompiledCategory(cat, rules))
    return CompiledCategories(tuple(out))


# --- the lookback window -----------------------------------------------------------------------


def _as_utc(d: date | datetime) -> datetime:
    if isinstance(d, datetime):
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    return datetime.combine(d, time(0, 0), tzinfo=UTC)


def _minus_years(d: datetime, years: int) -> datetime:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def within_lookback(published: date | datetime | None, as_of: date | datetime | None = None,
                    lookback_years: int | None = 7) -> bool:
    """True when content published on ``published`` falls in the window ending at ``as_of``
    (default now). Undated content and ``lookback_years=None`` (no window) are within.
    Naive datetimes are taken as UTC."""
    if published is None or lookback_years is None:
        return True
    if lookback_years < 0:
        raise ValueError("lookback_years must be zero or more")
    end = _as_utc(as_of) if as_of is not None else datetime.now(UTC)
    cutoff = _minus_years(end, lookback_years)
    if not isinstance(published, datetime):  # a bare date: compare whole days
        return published >= cutoff.date()
    return _as_utc(published) >= cutoff


# --- screening ---------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@dataclass
class _Hit:
    rule_id: str
    start: int  # folded offsets
    end: int


@dataclass
class _Sentences:
    starts: list[int] = field(default_factory=list)
    length: int = 0

    def bounds(self, start: int, end: int) -> tuple[int, int]:
        i = bisect_right(self.starts, start) - 1
        j = bisect_right(self.starts, max(start, end - 1)) - 1
        s = self.starts[i]
        e = self.starts[j + 1] if j + 1 < len(self.starts) else self.length
        return s, e


def _sentences(folded: str) -> _Sentences:
    starts = [0] + [m.end() for m in _SENTENCE_END.finditer(folded) if m.end() < len(folded)]
    return _Sentences(starts, len(folded))


def _cut_point(folded: str, start: int, limit: int) -> int:
    """Where to end a window that must stop before ``limit``: after the last whitespace, else
    the last non-word character, in the final overlap; else at ``limit`` (hard cut)."""
    space = folded.rfind(" ", limit - _WINDOW_OVERLAP, limit)
    if space > start:
        return space
    for i in range(limit - 1, max(start, limit - _WINDOW_OVERLAP) - 1, -1):
        ch = folded[i]
        if not (ch.isalnum() or ch == "_"):
            return i
    return limit


def _windows(folded: str, sentences: _Sentences) -> Iterable[tuple[int, int, bool]]:
    """``(start, end, final)``: sentence spans, long sentences cut into overlapping windows.

    ``final`` is False for a window cut inside a sentence: there the end of the window is not
    the end of the text, so a match ending exactly at it may be an artefact ("gun" of "gunner"
    with ``\\b`` or ``$``) and is left to the next window, which overlaps it.
    """
    bounds = [*sentences.starts, sentences.length]
    for s, e in pairwise(bounds):
        while e - s > MAX_WINDOW_CHARS:
            cut = _cut_point(folded, s, s + MAX_WINDOW_CHARS)
            yield s, cut, False
            nxt = folded.find(" ", cut - _WINDOW_OVERLAP, cut)
            s = nxt + 1 if nxt != -1 and nxt + 1 > s else cut - _WINDOW_OVERLAP // 2
        yield s, e, True


def screen(text: str | None, categories: Sequence[Category] | CompiledCategories, *,
           published: date | datetime | None = None, as_of: date | datetime | None = None,
           lookback_years: int | None = 7, max_chars: int = MAX_SCREEN_CHARS) -> ScreeningResult:
    """Screen ``text`` for the categories' rules and return LEADS for a person to review.

    Content published before the lookback window is not screened (``outside_lookback``).
    Only the first ``max_chars`` characters are screened (``truncated``). Offsets in the
    flags point into ``text`` as given. Pure function.
    """
    compiled = categories if isinstance(categories, CompiledCategories) else compile_categories(
        tuple(categories))
    undated = published is None
    if not within_lookback(published, as_of, lookback_years):
        return ScreeningResult((), outside_lookback=True, undated=False)
    text = text or ""  # an item with no extracted text screens as empty
    truncated = len(text) > max_chars
    body = text[:max_chars]
    ft = fold_text(body)
    folded = ft.folded
    sentences = _sentences(folded)
    windows: list[tuple[int, int, bool]] | None = None
    flags: list[Flag] = []
    for cc in compiled.categories:
        hits: list[_Hit] = []
        for cr in cc.rules:
            found: set[tuple[int, int]] = set()
            if cr.terms is not None:
                found |= {m.span() for m in cr.terms.finditer(folded) if m.end() > m.start()}
            if cr.patterns:
                if windows is None:
                    windows = list(_windows(folded, sentences))
                for rx in cr.patterns:
                    for ws, we, final in windows:
                        found |= {m.span() for m in rx.finditer(folded, ws, we)
                                  if m.end() > m.start() and (final or m.end() < we)}
            for s, e in sorted(found):
                if cr.unless is not None:
                    cs, ce = sentences.bounds(s, e)
                    cs, ce = max(cs, s - MAX_WINDOW_CHARS), min(ce, e + MAX_WINDOW_CHARS)
                    if cr.unless.search(folded, cs, ce):
                        continue
                hits.append(_Hit(cr.rule.id, s, e))
        flags += _merge(cc.category, hits, ft, sentences)
    flags.sort(key=lambda f: (f.start, f.category_id))
    return ScreeningResult(tuple(flags), outside_lookback=False, undated=undated,
                           truncated=truncated, screened_chars=len(body))


def _merge(cat: Category, hits: list[_Hit], ft: FoldedText, sentences: _Sentences) -> list[Flag]:
    hits.sort(key=lambda h: (h.start, -h.end))
    groups: list[tuple[int, int, list[str]]] = []
    for h in hits:
        if groups and h.start < groups[-1][1]:
            s, e, rules = groups[-1]
            if h.rule_id not in rules:
                rules.append(h.rule_id)
            groups[-1] = (s, max(e, h.end), rules)
        else:
            groups.append((h.start, h.end, [h.rule_id]))
    out = []
    for s, e, rules in groups:
        a, b = ft.span(s, e)
        cs, ce = ft.span(*sentences.bounds(s, e))
        out.append(Flag(
            category_id=cat.id, rule_id=rules[0], policy=cat.policy, start=a, end=b,
            matched_text=ft.original[a:b], excerpt=_excerpt(ft.original, a, b, cs, ce),
            requires_discredit=cat.requires_discredit, protected_conduct=cat.protected_conduct,
            rule_ids=tuple(rules)))
    return out


def _excerpt(original: str, a: int, b: int, cs: int, ce: int) -> str:
    lo, hi = max(cs, a - _EXCERPT), min(ce, b + _EXCERPT)
    text = " ".join(original[lo:hi].split())
    return ("…" if lo > cs else "") + text + ("…" if hi < ce else "")


def screening_categories(categories: Any) -> tuple[Category, ...]:
    """The procedure's review categories (its pydantic models) in the screener's plain form.

    Duck-typed on purpose: the screener knows nothing of the procedure module, which uses this
    to check a procedure's rules: neither module imports the other's caller.
    """
    return tuple(
        Category(id=c.id, title=c.title, policy=c.policy, requires_discredit=c.requires_discredit,
                 protected_conduct=c.protected_conduct,
                 rules=tuple(Rule(id=r.id, terms=tuple(r.terms), patterns=tuple(r.patterns),
                                  unless=tuple(r.unless)) for r in c.rules))
        for c in categories)
