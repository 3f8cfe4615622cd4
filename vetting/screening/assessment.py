"""Screening of a case's collected items: identity evidence and policy-category leads.

Runs when every step of a case is terminal, over every item of collected content (pages,
accounts found, search results). For each it records which candidate identifiers the page
matches (and contradicts), the identity level that follows, and the review-category flags
with the matched spans. Flags are leads for the reviewing investigator, never findings:
only a person's validated, concurred decision makes a finding (vetting/review/validation.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import select

from vetting.domain.models import REVIEWABLE_KINDS, REVIEWABLE_OUTCOMES, Assessment, Candidate, Case, Item, utcnow
from vetting.domain.procedure import LoadedProcedure
from vetting.engine.reached import describe_reached, reached_of_item
from vetting.screening.identity import CandidateIdentifiers, PageEvidence, assess_identity, normalize_url
from vetting.screening.leads import screen, screening_categories
from vetting.store.workspace import Workspace


def candidate_identifiers(ws: Workspace, candidate: Candidate) -> CandidateIdentifiers:
    from vetting.domain.candidates import candidate_identifiers as stored_identifiers

    ids = stored_identifiers(ws, candidate)
    dob = ids.get("date_of_birth")
    return CandidateIdentifiers(
        full_name=ids["full_name"], aliases=list(ids.get("aliases") or []),
        date_of_birth=date.fromisoformat(dob) if dob else None,
        city=ids.get("city") or "", state=ids.get("state") or "",
        emails=list(ids.get("emails") or []), phones=list(ids.get("phones") or []),
        usernames=list(ids.get("usernames") or []), profile_urls=list(ids.get("profile_urls") or []))


def parse_published(value: str | None) -> datetime | None:
    """A page's publication time, if it states one we can read."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text[:10]):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _disclosed_links(items: list[Item], ids: CandidateIdentifiers) -> dict[str, tuple[str, bool]]:
    """Links found on the candidate's disclosed profiles: the basis of cross-link identity.

    Maps each link (normalized) to (the disclosed profile it is on, whether it is marked
    ``rel="me"`` there), so the evidence names the page that links, whatever way the linked
    page itself was reached (a search may find a page the disclosed profile also links to:
    the link is the identity evidence, the search is how it was reached, and the review shows
    both). Items captured before ``rel_me_links`` was recorded count every link as rel=me
    (the rule they were screened under)."""
    disclosed = {normalize_url(u) for u in ids.profile_urls}
    links: dict[str, tuple[str, bool]] = {}
    for item in items:
        if item.outcome == "captured" and normalize_url(item.url) in disclosed:
            meta = item.meta()
            me = {normalize_url(u) for u in meta["rel_me_links"]} if "rel_me_links" in meta else None
            for link in map(normalize_url, item.links()):
                rel_me = me is None or link in me
                if link not in links or (rel_me and not links[link][1]):
                    links[link] = (item.url, rel_me)
    return links


def _evidence(item: Item, disclosed_links: dict[str, tuple[str, bool]], ids: CandidateIdentifiers) -> PageEvidence:
    meta = item.meta()
    urls = {item.url, item.final_url or item.url, meta.get("profile_url") or item.url}
    found = [disclosed_links[n] for n in map(normalize_url, urls) if n in disclosed_links]
    linked_from, rel_me = max(found, key=lambda x: x[1]) if found else ("", False)
    reached = reached_of_item(item)
    disclosed = {normalize_url(u) for u in ids.profile_urls}
    if not linked_from and reached.get("via") == "link" and normalize_url(reached.get("from_url", "")) in disclosed:
        linked_from, rel_me = reached["from_url"], bool(reached.get("rel_me"))
    return PageEvidence(
        url=meta.get("profile_url") or item.final_url or item.url, title=item.title, text=item.text,
        author=item.author, published=parse_published(item.published), links=item.links(),
        linked_from_disclosed=bool(linked_from), linked_from=linked_from, linked_rel_me=rel_me,
        found_by=describe_reached(reached))


def assess_case(ws: Workspace, case: Case, candidate: Candidate, loaded: LoadedProcedure) -> int:
    """Screen every collected item of the case not screened yet; return how many were screened."""
    proc = loaded.procedure
    ids = candidate_identifiers(ws, candidate)
    categories = screening_categories(proc.categories)
    with ws.session() as s:
        items = list(s.exec(select(Item).where(Item.case_id == case.id).order_by(Item.id)))
        done = set(s.exec(select(Assessment.item_id).where(Assessment.case_id == case.id)))
    links = _disclosed_links(items, ids)
    as_of = datetime.now(UTC)
    count = 0
    for item in items:
        if item.id in done or item.kind not in REVIEWABLE_KINDS or item.outcome not in REVIEWABLE_OUTCOMES:
            continue
        page = _evidence(item, links, ids)
        identity = assess_identity(ids, page, as_of=as_of)
        result = screen(item.text, categories, published=page.published, as_of=as_of,
                        lookback_years=proc.settings.lookback_years)
        flags = [_flag_json(f) for f in result.flags]
        row = Assessment(
            item_id=item.id, case_id=case.id, identity_level=str(identity.level),
            matches_json=json.dumps([asdict(m) for m in identity.matches], default=str),
            contradictions_json=json.dumps([asdict(c) for c in identity.contradictions], default=str),
            identity_reasons_json=json.dumps(list(identity.reasons)),
            flags_json=json.dumps(flags), outside_lookback=result.outside_lookback,
            undated=result.undated, truncated=result.truncated, screened_at=utcnow())
        with ws.session() as s:
            s.add(row)
            s.commit()
        ws.record("item.screened", actor="system:screening", case_id=case.id, subject=item.id,
                  payload={"identity_level": row.identity_level,
                           "identifiers_matched": sorted({m.kind for m in identity.matches}),
                           "contradictions": len(identity.contradictions),
                           "flags": [{"category": f["category_id"], "rule": f["rule_id"]} for f in flags],
                           "outside_lookback": result.outside_lookback, "undated": result.undated,
                           "truncated": result.truncated})
        count += 1
    if count:
        ws.audit.checkpoint()
    return count


def _flag_json(flag: Any) -> dict[str, Any]:
    data = asdict(flag)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in data.items()}
