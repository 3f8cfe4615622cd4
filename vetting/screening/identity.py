"""Is this page the candidate's? Evidence-based identity assessment of one collected page.

Policy 261-1 IV.B.8.d requires that "every effort must be made to validate Internet-based
information"; the first thing to validate is that a page belongs to the candidate and not to
someone who shares the name. :func:`assess_identity` lists every candidate identifier found on
a page (with where it was found and the surrounding text, so a person can check it), every
statement that contradicts the candidate's identifiers, and a level:

``confirmed``
    the page is one of the candidate's disclosed accounts (or lies under one), or one of them
    links to it marked ``rel="me"``; or at least three INDEPENDENT identifiers match, at least
    one of them strong, and nothing contradicts.
``probable``
    two independent identifiers and no contradiction (or three weak ones); or, with
    contradictions and a strong identifier, identifiers minus contradicted classes is at
    least two.
``possible``
    one identifier (a name alone is never more than this), or, with contradictions and a
    strong identifier, identifiers minus contradicted classes is exactly one.
``not_attributable``
    nothing matched; or a contradiction and no strong identifier (a namesake in the same city
    whose age is wrong is another person); or contradictions outweigh the matches.

Independent identifier classes: disclosed account, cross-link, email, phone, username, name
(the full name, the aliases and their initial forms such as "Mari G." are ONE class), location
(city and state are ONE class), date of birth (an explicit date, an age or a birth year: one
class). Strong identifiers are those a stranger is unlikely to share: disclosed account, cross-
link, email, phone, username, and an explicit full date of birth. A handle made only of the
candidate's names ("alexrivera") is an identifier but not a strong one. A same-name stranger in
the same city of the same age therefore stays ``probable``: three weak coincidences are how
wrong-person reports happen (the CFPB's criticism of name-only matching), so ``confirmed``
needs one strong identifier.

A link TO a disclosed account is one identifier (anyone can link to anyone's profile); a link
FROM a disclosed account marked rel="me" confirms, because only the candidate controls it and
says "this is also me"; without rel="me" it is one identifier (a friend's or a shared page).
Contradictions are
statements about the person ("I live in Omaha", "Alex Rivera, 52,", "I was born in 1970", the
descriptors after a name: "Maria Gutierrez, Phoenix AZ, born 1971"), never about third parties
("my brother lives in Omaha"), with one year of tolerance on ages.

The assessment is a lead for the validating investigator, never a decision: invariant 3 lets a
person validate an item as the candidate's only at ``confirmed``.

This module holds the levels and :func:`assess_identity`; the shapes of the evidence (the
candidate's identifiers, the page, matches and contradictions) are in
:mod:`vetting.screening.identity_evidence`; what finds each identifier and contradiction on a page
(accounts, emails, phones, usernames, names, location) and :func:`normalize_url` are in
:mod:`vetting.screening.identity_matchers`, birth and age in :mod:`vetting.screening.identity_birth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum

from vetting.screening.identity_birth import _birth
from vetting.screening.identity_evidence import (
    CandidateIdentifiers,
    Contradiction,
    Match,
    PageEvidence,
    _Collector,
    _Field,
)
from vetting.screening.identity_matchers import (
    _accounts,
    _emails,
    _location,
    _names,
    _phones,
    _usernames,
    normalize_url,
)
from vetting.screening.names import fold_text

__all__ = [
    "CandidateIdentifiers",
    "Contradiction",
    "IdentityAssessment",
    "IdentityLevel",
    "Match",
    "PageEvidence",
    "assess_identity",
    "meets_minimum",
    "normalize_url",
]

#: Page text beyond this many characters is not searched for identifiers (hostile pages).
IDENTITY_MAX_CHARS = 2_000_000


class IdentityLevel(StrEnum):
    """How strongly a page is attributed to the candidate, weakest first."""

    NOT_ATTRIBUTABLE = "not_attributable"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    CONFIRMED = "confirmed"


_ORDER = {lvl: i for i, lvl in enumerate(IdentityLevel)}


def meets_minimum(level: str | IdentityLevel, minimum: str | IdentityLevel) -> bool:
    """True when ``level`` is at least ``minimum`` in not_attributable < possible < probable <
    confirmed. Unknown level names raise ``ValueError`` (a typo must not pass a gate)."""
    return _ORDER[IdentityLevel(level)] >= _ORDER[IdentityLevel(minimum)]


@dataclass(frozen=True)
class IdentityAssessment:
    """The level, the evidence for it, and the reasons in words."""

    level: IdentityLevel
    matches: tuple[Match, ...]
    contradictions: tuple[Contradiction, ...]
    reasons: tuple[str, ...]

    @property
    def identifiers(self) -> tuple[str, ...]:
        """The independent identifier classes that matched, sorted."""
        return tuple(sorted({m.identifier_class for m in self.matches}))


# --- the assessment --------------------------------------------------------------------------


def assess_identity(ids: CandidateIdentifiers, page: PageEvidence, *,
                    as_of: date | datetime | None = None) -> IdentityAssessment:
    """Assess whether ``page`` belongs to the candidate described by ``ids``.

    Ages on the page are compared with the date of birth at the page's ``published`` date,
    else at ``as_of``, else today. Pure function: no I/O, no network.
    """
    # extracted fields may be missing (None) on odd pages; links may be hostile strings
    page = replace(page, url=page.url or "", title=page.title or "", text=page.text or "",
                   author=page.author or "", links=[str(x) for x in page.links or [] if x])
    ref = _reference_date(page.published, as_of)
    out = _Collector()
    fields = [
        _Field("title", fold_text(page.title[:IDENTITY_MAX_CHARS])),
        _Field("author", fold_text(page.author[:IDENTITY_MAX_CHARS])),
        _Field("text", fold_text(page.text[:IDENTITY_MAX_CHARS])),
    ]
    _accounts(ids, page, fields, out)
    _emails(ids, page, fields, out)
    _phones(ids, page, fields, out)
    _usernames(ids, page, fields, out)
    name_spans = _names(ids, page, fields, out)
    _location(ids, fields, name_spans, out)
    _birth(ids, fields, name_spans, ref, out)
    level, reasons = _level(out.matches, out.contradictions, page)
    return IdentityAssessment(level, tuple(out.matches), tuple(out.contradictions), tuple(reasons))


def _reference_date(published: datetime | None, as_of: date | datetime | None) -> date:
    for d in (published, as_of):
        if isinstance(d, datetime):
            return d.date()
        if isinstance(d, date):
            return d
    return datetime.now(UTC).date()


def _level(matches: Sequence[Match], contradictions: Sequence[Contradiction],
           page: PageEvidence) -> tuple[IdentityLevel, list[str]]:
    classes = {m.identifier_class for m in matches}
    strong = any(m.strong for m in matches)
    # like identifiers, contradictions count per class: "I'm 52" and "born in 1970" are one
    n, c = len(classes), len({x.kind for x in contradictions})
    listed = ", ".join(sorted(classes)) or "none"
    reasons = [f"independent identifiers matched: {n} ({listed})"]
    if c:
        reasons.append(f"contradictions: {c} (" + "; ".join(
            f"{x.kind} {x.value!r}, expected {x.expected}" for x in contradictions) + ")")
    if "disclosed_account" in classes:
        reasons.append("the page is (or lies under) an account the candidate disclosed")
        return IdentityLevel.CONFIRMED, reasons
    if page.linked_from_disclosed and page.linked_rel_me:
        reasons.append(f"an account the candidate disclosed links to this page as the candidate's own"
                       f"{' (' + page.linked_from + ')' if page.linked_from else ''}")
        return IdentityLevel.CONFIRMED, reasons
    if page.linked_from_disclosed:
        reasons.append("an account the candidate disclosed links to this page, but not as the candidate's "
                       "own (no rel=\"me\"): one identifier, never a confirmation (a friend's or a shared page)")
    if c == 0:
        if n >= 3 and strong:
            level = IdentityLevel.CONFIRMED
        elif n >= 3:
            reasons.append("no strong identifier (email, phone, username, account, full date "
                           "of birth): three weak ones are not enough to confirm")
            level = IdentityLevel.PROBABLE
        elif n == 2:
            level = IdentityLevel.PROBABLE
        elif n == 1:
            level = IdentityLevel.POSSIBLE
            if classes == {"name"}:
                reasons.append("a name alone is never more than possible")
        else:
            level = IdentityLevel.NOT_ATTRIBUTABLE
    elif not strong:
        # a namesake whose city or age is not the candidate's is another person: weak
        # coincidences (name, a city, an age) never outweigh the page's own words
        level = IdentityLevel.NOT_ATTRIBUTABLE
        reasons.append("the page contradicts the candidate and no strong identifier matched")
    else:
        score = n - c
        if score >= 2:
            level = IdentityLevel.PROBABLE
        elif score == 1:
            level = IdentityLevel.POSSIBLE
        else:
            level = IdentityLevel.NOT_ATTRIBUTABLE
            reasons.append("contradictions outweigh the matches")
        if n >= 3:
            reasons.append("a contradiction prevents confirmation")
    return level, reasons
