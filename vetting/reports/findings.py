"""The report gate: the only data the hiring-staff findings report can read.

Enforced here, not in a template: an item becomes a :class:`FindingPublic` only when its
decision in force is ``validated``, an adverse one has a second person's concurrence, and its
evidence re-hashes to what was captured. Its text is masked by the protected-characteristics
firewall (except the words that are themselves bias-speech conduct), and the public shape has
no field for raw content, unvalidated items, leads, or the candidate's date of birth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from vetting.domain.candidates import candidate_name
from vetting.domain.models import Assessment, Candidate, Case, Decision, Item, ProcedureVersion, StepRun
from vetting.engine.reached import describe_chain
from vetting.review.display import displayed
from vetting.review.validation import concurrence_for, current_decision, verify_item_evidence
from vetting.screening.firewall import mask_protected
from vetting.store.personal import Revealer
from vetting.store.workspace import Workspace


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class CategoryRef(_Public):
    id: str
    title: str
    policy: str


class FindingPublic(_Public):
    """One validated finding as hiring staff may see it."""

    item_id: str
    kind: str
    url: str
    captured_at: datetime
    title: str  # masked
    excerpt: str  # masked
    categories: list[CategoryRef]
    identity_level: str
    identifiers_matched: list[str]
    validated_by: str
    validated_at: datetime
    reason: str
    concurred_by: str | None
    mitigating: str
    discredit_justification: str
    artifacts: list[dict[str, str]]  # kind, path, sha256 (the screenshot is embedded from path)
    masked_count: int
    reached: str = ""  # how the collector reached the page, back to its step input (masked)


class DamagedFinding(_Public):
    """A finding whose stored evidence no longer verifies: never shown, always announced."""

    item_id: str
    url: str
    decision_id: int
    categories: list[str]
    damage: list[str]


UNREACHED_OUTCOMES = ("not_public", "blocked", "refused", "error", "not_checked", "not_collected")


class Unreached(_Public):
    item_id: str
    step_id: str
    url: str
    outcome: str
    reason: str
    reached: str = ""  # how the collector was led to it (masked)


class FindingsData(_Public):
    """Everything the findings report shows, and nothing more."""

    case_id: str
    candidate_id: str
    candidate_name: str
    procedure_id: str
    procedure_title: str
    procedure_version: int
    fingerprint: str
    approved_by: str
    case_status: str
    categories: list[tuple[CategoryRef, int]]
    findings: list[FindingPublic]
    validated_without_findings: int
    unreached: list[Unreached]
    failed_steps: list[tuple[str, str]]
    # Findings whose evidence changed or vanished since validation: the report refuses to
    # render with any (vet report findings), or names each in a notice (--allow-damaged).
    damaged: list[DamagedFinding] = []
    disposed: str = ""  # set once the candidate's personal data was erased: why nothing is shown


def disposal_note(ws: Workspace, candidate_id: str) -> str:
    """How an erased candidate's report explains itself: who erased, when, at which event."""
    from sqlalchemy import select as sa_select

    from audit.store import audit_event

    with ws.engine.connect() as conn:
        row = conn.execute(sa_select(audit_event.c.seq, audit_event.c.time, audit_event.c.actor)
                           .where(audit_event.c.action == "candidate.erased", audit_event.c.subject == candidate_id)
                           .order_by(audit_event.c.seq.desc()).limit(1)).first()
    if row is None:
        return "the candidate's personal data is missing, and no erasure was recorded"
    return f"the candidate's personal data was erased by {row.actor} at {row.time} (audit event {row.seq})"


def findings_data(ws: Workspace, case_id: str) -> FindingsData:
    with ws.session() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise LookupError(f"no case {case_id!r}")
        candidate = s.get(Candidate, case.candidate_id)
        version = s.get(ProcedureVersion, case.fingerprint)
        items = list(s.exec(select(Item).where(Item.case_id == case_id).order_by(Item.captured_at, Item.id)))
        assessments = {a.item_id: a for a in s.exec(select(Assessment).where(Assessment.case_id == case_id))}
        runs = list(s.exec(select(StepRun).where(StepRun.case_id == case_id).order_by(StepRun.position)))
    assert candidate is not None and version is not None
    by_id = {i.id: i for i in items}
    proc = json.loads(version.canonical_json)
    cats = {c["id"]: CategoryRef(id=c["id"], title=c["title"], policy=c["policy"]) for c in proc["categories"]}
    protected_cats = {c["id"] for c in proc["categories"] if c.get("protected_conduct")}
    counts = {cid: 0 for cid in cats}
    findings: list[FindingPublic] = []
    damaged: list[DamagedFinding] = []
    clean = 0
    with ws.session() as values:
        reveal = Revealer(values, candidate.id)
        disposed = disposal_note(ws, candidate.id) if reveal.erased else ""
        for item in ([] if disposed else items):
            decision = current_decision(ws, item.id)
            if decision is None or decision.decision != "validated":
                continue
            concurrence = concurrence_for(ws, decision.id) if decision.id is not None else None
            if decision.adverse and concurrence is None:
                continue  # adverse findings need a second person's concurrence
            finding_ids = json.loads(decision.findings_json)
            damage = verify_item_evidence(ws, item)
            if damage:  # evidence changed since validation: never shown, and never silently dropped
                damaged.append(DamagedFinding(item_id=item.id, url=item.final_url or item.url,
                                              decision_id=decision.id or 0, categories=finding_ids, damage=damage))
                continue
            if not finding_ids:
                clean += 1
            assessment = assessments.get(item.id)
            findings.append(_public(item, decision, concurrence.concurred_by if concurrence else None, assessment,
                                    [cats[c] for c in finding_ids if c in cats], protected_cats, reveal,
                                    by_id.get))
            for cid in finding_ids:
                counts[cid] = counts.get(cid, 0) + 1
    unreached = [Unreached(item_id=i.id, step_id=i.step_id, url=i.url, outcome=i.outcome, reason=i.reason,
                           reached=mask_protected(describe_chain(i, by_id.get)).text)
                 for i in items if i.outcome in UNREACHED_OUTCOMES]
    return FindingsData(
        case_id=case.id, candidate_id=candidate.id, candidate_name=candidate_name(ws, candidate), disposed=disposed,
        procedure_id=version.procedure_id, procedure_title=version.title, procedure_version=version.version,
        fingerprint=version.fingerprint, approved_by=version.approved_by, case_status=case.status,
        categories=[(cats[c], counts[c]) for c in cats], findings=findings, validated_without_findings=clean,
        unreached=unreached, failed_steps=[(r.step_id, r.error or "") for r in runs if r.status == "failed"],
        damaged=damaged)


def _public(item: Item, decision: Decision, concurred_by: str | None, assessment: Assessment | None,
            categories: list[CategoryRef], protected_cats: set[str], reveal: Revealer,
            get_item: Callable[[str], Item | None] = lambda _id: None) -> FindingPublic:
    shown = displayed(item, assessment, [c.id for c in categories], protected_cats)
    return FindingPublic(
        item_id=item.id, kind=item.kind, url=shown.url, captured_at=item.captured_at,
        title=shown.title, excerpt=shown.excerpt, categories=categories,
        identity_level=shown.identity_level, identifiers_matched=shown.identifiers_matched,
        validated_by=decision.decided_by, validated_at=decision.decided_at,
        # The reviewers' own words pass the firewall too: hiring staff never read a protected
        # characteristic, whoever wrote it.
        reason=mask_protected(reveal(decision.reason)).text, concurred_by=concurred_by,
        mitigating=mask_protected(reveal(decision.mitigating)).text,
        discredit_justification=mask_protected(reveal(decision.discredit_justification)).text,
        artifacts=shown.artifacts, masked_count=shown.masked_count,
        reached=mask_protected(describe_chain(item, get_item)).text)
