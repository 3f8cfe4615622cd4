"""Validation (IV.B.8.d): a named person decides each item, after its evidence is re-hashed.

Rules enforced here, in the data layer, not in a template:

* the stored evidence (content-addressed file AND its WARC record) is re-hashed first; any
  mismatch refuses the decision;
* ``validated`` is refused for an item below the procedure's minimum identity level, and a
  finding is refused for an item outside the lookback window;
* a finding in a category that needs it (lawful off-duty conduct) needs a recorded
  "brings discredit" justification;
* an adverse finding (validated with at least one finding category) reaches the report only
  with a second person's concurrence, and the decider cannot concur with themselves;
* decisions are never updated: a revision is a new decision citing the one it replaces.

Every decision and concurrence is an audit event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from vetting.models import (
    DECISIONS,
    REVIEWABLE_KINDS,
    REVIEWABLE_OUTCOMES,
    Assessment,
    Case,
    Concurrence,
    Decision,
    Item,
    utcnow,
)
from vetting.workspace import Workspace


class ValidationRefused(Exception):
    """The decision is refused; the message says why. Nothing was recorded."""


@dataclass
class DecisionRequest:
    item_id: str
    decision: str
    reason: str
    by: str
    findings: tuple[str, ...] = ()
    discredit: str = ""
    mitigating: str = ""
    supersedes: int | None = None


def verify_item_evidence(ws: Workspace, item: Item) -> list[str]:
    """Re-hash every artifact of an item (file and WARC record); return the problems."""
    from spiders.warc import read_record

    problems: list[str] = []
    artifacts = item.artifacts()
    if not artifacts:
        problems.append("the item has no stored evidence")
    for art in artifacts:
        try:
            data = ws.evidence_path(art["path"]).read_bytes()
        except OSError:
            problems.append(f"{art['kind']} file {art['path']} is missing")
            continue
        if hashlib.sha256(data).hexdigest() != art["sha256"]:
            problems.append(f"{art['kind']} file {art['path']} no longer matches its sha256")
        if art.get("warc"):
            try:
                _, payload = read_record(ws.evidence_path(art["warc"]), int(art["offset"]))
            except Exception as exc:  # noqa: BLE001 - any read failure is a broken record
                problems.append(f"{art['kind']} WARC record in {art['warc']} unreadable: {exc}")
                continue
            if hashlib.sha256(payload).hexdigest() != art["sha256"]:
                problems.append(f"{art['kind']} WARC record in {art['warc']} no longer matches its sha256")
    return problems


#: Match kinds that are the candidate's name (full name or alias): one identifier class.
NAME_KINDS = frozenset({"full_name", "alias"})


def name_only_match(matches_json: str) -> str:
    """The names matched when nothing but the name matched (the floor no procedure lowers), else ""."""
    matches = json.loads(matches_json or "[]")
    kinds = {m.get("kind") for m in matches}
    if kinds and kinds <= NAME_KINDS:
        return ", ".join(sorted({str(m.get("value", "")) for m in matches}))[:120]
    return ""


def current_decision(ws: Workspace, item_id: str) -> Decision | None:
    """The decision in force: the newest one not superseded by another."""
    with ws.session() as s:
        rows = list(s.exec(select(Decision).where(Decision.item_id == item_id).order_by(Decision.id)))
    superseded = {r.supersedes for r in rows if r.supersedes is not None}
    live = [r for r in rows if r.id not in superseded]
    return live[-1] if live else None


def reviewable_items(ws: Workspace, case_id: str) -> list[Item]:
    with ws.session() as s:
        return list(s.exec(select(Item).where(Item.case_id == case_id, Item.kind.in_(REVIEWABLE_KINDS),  # type: ignore[attr-defined]
                                              Item.outcome.in_(REVIEWABLE_OUTCOMES)).order_by(Item.id)))  # type: ignore[attr-defined]


def decide(ws: Workspace, req: DecisionRequest, *, dry_run: bool = False) -> Decision | None:
    """Record a decision on an item, or raise :class:`ValidationRefused` with the reason.

    With ``dry_run`` every check runs and nothing is written (used to check a whole batch
    before applying any of it).
    """
    from vetting.approvals import load_approved
    from vetting.identity import meets_minimum

    if req.decision not in DECISIONS:
        raise ValidationRefused(f"decision must be one of {', '.join(DECISIONS)}, not {req.decision!r}")
    if not req.by.strip():
        raise ValidationRefused("--by must name the person deciding")
    if len(req.reason.strip()) < 5:
        raise ValidationRefused("a decision needs a reason (at least a few words)")
    with ws.session() as s:
        item = s.get(Item, req.item_id)
        if item is None:
            raise ValidationRefused(f"no item {req.item_id!r}")
        case = s.get(Case, item.case_id)
        assessment = s.get(Assessment, item.id)
    assert case is not None
    if item.kind not in REVIEWABLE_KINDS or item.outcome not in REVIEWABLE_OUTCOMES:
        raise ValidationRefused(f"item {item.id} is a record of {item.outcome!r}, not collected content to validate")
    if assessment is None:
        raise ValidationRefused(f"item {item.id} has not been screened yet; run the case to completion first")
    previous = current_decision(ws, item.id)
    if previous is not None and req.supersedes != previous.id:
        raise ValidationRefused(f"item {item.id} already has decision {previous.id} ({previous.decision} by "
                                f"{previous.decided_by}); a revision must cite it with --supersedes {previous.id}")
    if previous is None and req.supersedes is not None:
        raise ValidationRefused(f"item {item.id} has no decision {req.supersedes} to supersede")
    _, loaded = load_approved(ws, case.procedure_id, case.fingerprint)
    proc = loaded.procedure
    categories = {c.id: c for c in proc.categories}
    findings = tuple(dict.fromkeys(req.findings))
    if req.decision != "validated" and findings:
        raise ValidationRefused("only a validated item can carry findings")
    for cat_id in findings:
        if cat_id not in categories:
            raise ValidationRefused(f"unknown review category {cat_id!r}; the procedure's: {', '.join(categories)}")
        if categories[cat_id].requires_discredit and len(req.discredit.strip()) < 10:
            raise ValidationRefused(f"category {cat_id} is lawful off-duty conduct: a finding needs a recorded "
                                    "justification of how it brings discredit (--discredit)")
    problems = verify_item_evidence(ws, item)
    if problems and dry_run:
        raise ValidationRefused("the stored evidence changed or is missing: " + "; ".join(problems))
    if problems:
        ws.record("item.validation_refused", actor=req.by, case_id=item.case_id, subject=item.id,
                  payload={"problems": problems})
        ws.audit.checkpoint()
        raise ValidationRefused("the stored evidence changed or is missing: " + "; ".join(problems))
    if req.decision == "validated":
        name_only = name_only_match(assessment.matches_json)
        if name_only:
            raise ValidationRefused(f"the only identifier this item matches is the candidate's name ({name_only}): "
                                    "a name alone never establishes identity, under any procedure")
        if not meets_minimum(assessment.identity_level, proc.settings.min_identity):
            raise ValidationRefused(
                f"identity level is {assessment.identity_level}, below the procedure's minimum "
                f"({proc.settings.min_identity}): it cannot be validated as the candidate's")
        if findings and assessment.outside_lookback and not proc.settings.findings_outside_lookback:
            raise ValidationRefused(f"the item is older than the {proc.settings.lookback_years}-year lookback "
                                    "window: it stays out of findings")
    if dry_run:
        return None
    row = Decision(item_id=item.id, case_id=item.case_id, decision=req.decision, reason=req.reason.strip(),
                   decided_by=req.by.strip(), decided_at=utcnow(), findings_json=json.dumps(list(findings)),
                   discredit_justification=req.discredit.strip(), mitigating=req.mitigating.strip(),
                   supersedes=req.supersedes, evidence_verified=True)
    with ws.session() as s:
        s.add(row)
        s.commit()
        s.refresh(row)
    ws.record(f"item.{req.decision}", actor=row.decided_by, case_id=item.case_id, subject=item.id,
              payload={"decision_id": row.id, "reason": row.reason, "findings": list(findings),
                       "discredit_justification": row.discredit_justification, "mitigating": row.mitigating,
                       "supersedes": row.supersedes, "identity_level": assessment.identity_level,
                       "evidence_rehashed": [a["sha256"] for a in item.artifacts()]})
    ws.audit.checkpoint()
    return row


def concur(ws: Workspace, decision_id: int, by: str, reason: str = "") -> Concurrence:
    """A second person concurs with an adverse finding; the decider cannot concur with themselves."""
    if not by.strip():
        raise ValidationRefused("--by must name the person concurring")
    with ws.session() as s:
        decision = s.get(Decision, decision_id)
        if decision is None:
            raise ValidationRefused(f"no decision {decision_id}")
        existing = s.exec(select(Concurrence).where(Concurrence.decision_id == decision_id)).first()
    if not decision.adverse:
        raise ValidationRefused(f"decision {decision_id} is not an adverse finding; nothing to concur with")
    if _same_person(decision.decided_by, by):
        raise ValidationRefused(f"{by} made decision {decision_id}; a second person must concur")
    if existing is not None:
        raise ValidationRefused(f"decision {decision_id} already has the concurrence of {existing.concurred_by}")
    live = current_decision(ws, decision.item_id)
    if live is None or live.id != decision_id:
        raise ValidationRefused(f"decision {decision_id} has been superseded by decision {live.id if live else '?'}")
    row = Concurrence(decision_id=decision_id, concurred_by=by.strip(), concurred_at=utcnow(), reason=reason.strip())
    with ws.session() as s:
        s.add(row)
        s.commit()
        s.refresh(row)
    ws.record("item.concurred", actor=row.concurred_by, case_id=decision.case_id, subject=decision.item_id,
              payload={"decision_id": decision_id, "reason": row.reason})
    ws.audit.checkpoint()
    return row


def _same_person(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def concurrence_for(ws: Workspace, decision_id: int) -> Concurrence | None:
    with ws.session() as s:
        return s.exec(select(Concurrence).where(Concurrence.decision_id == decision_id)).first()


@dataclass
class BatchEntry:
    """One entry of a decisions file, located for error messages."""

    line: int | None
    request: DecisionRequest
    concur_by: str | None
    concur_reason: str
    candidate: str | None
    url: str | None


def load_decisions_file(path: Path) -> tuple[str, list[BatchEntry]]:
    """Parse a decisions file (see docs/validation.md); every problem located by line."""
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    from vetting.yamlsource import InputError, Problem, load_yaml_file, validate_model

    class _One(BaseModel):
        model_config = ConfigDict(extra="forbid")
        item: str | None = None
        candidate: str | None = None
        url: str | None = None
        decision: str = Field(pattern="^(validated|rejected|unverifiable)$")
        reason: str = Field(min_length=5)
        by: str = Field(min_length=2)
        findings: list[str] = []
        discredit: str = ""
        mitigating: str = ""
        supersedes: int | None = None
        concur_by: str | None = None
        concur_reason: str = ""

        @model_validator(mode="after")
        def _target(self) -> _One:
            if not self.item and not (self.candidate and self.url):
                raise ValueError("name the item, or the candidate and the url")
            return self

    class _File(BaseModel):
        model_config = ConfigDict(extra="forbid")
        label: str = ""
        decisions: list[_One] = Field(min_length=1)

    doc = load_yaml_file(path)
    if not isinstance(doc.data, dict):
        raise InputError([Problem(str(path), 1, "", "expected a mapping with a 'decisions' list")])
    parsed = validate_model(_File, doc)
    entries = []
    for n, d in enumerate(parsed.decisions):
        entries.append(BatchEntry(doc.line_of(("decisions", n)),
                                  DecisionRequest(d.item or "", d.decision, d.reason, d.by, tuple(d.findings),
                                                  d.discredit, d.mitigating, d.supersedes),
                                  d.concur_by, d.concur_reason, d.candidate, d.url))
    return parsed.label, entries


def resolve_item(ws: Workspace, candidate_id: str, url: str) -> str:
    """The id of the collected item of a candidate's case whose URL is ``url``.

    One URL may be collected by several steps (a disclosed page that search also found);
    the page capture is preferred, then the account check, then the search result.
    """
    with ws.session() as s:
        cases = [c.id for c in s.exec(select(Case).where(Case.candidate_id == candidate_id))]
        found = [item for item in s.exec(select(Item).where(Item.case_id.in_(cases)))  # type: ignore[attr-defined]
                 if url in (item.url, item.final_url, item.meta().get("profile_url"))
                 and item.kind in REVIEWABLE_KINDS and item.outcome in REVIEWABLE_OUTCOMES]
    if not found:
        raise ValidationRefused(f"no collected item at {url} for candidate {candidate_id!r}")
    found.sort(key=lambda i: (REVIEWABLE_KINDS.index(i.kind), i.id))
    return found[0].id


def apply_decisions_file(ws: Workspace, path: Path) -> list[Decision]:
    """Check every entry first; apply them all only if every one passes (all or nothing)."""
    from vetting.yamlsource import InputError, Problem

    _, entries = load_decisions_file(path)
    problems = []
    for e in entries:
        try:
            if not e.request.item_id:
                e.request.item_id = resolve_item(ws, e.candidate or "", e.url or "")
            decide(ws, e.request, dry_run=True)
            if e.concur_by is not None and _same_person(e.concur_by, e.request.by):
                raise ValidationRefused(f"{e.concur_by} cannot concur with their own decision")
        except ValidationRefused as exc:
            problems.append(Problem(str(path), e.line, f"decision for {e.request.item_id or e.url}", str(exc)))
    if problems:
        raise InputError(problems)
    applied = []
    for e in entries:
        row = decide(ws, e.request)
        assert row is not None and row.id is not None
        if e.concur_by is not None and row.adverse:
            concur(ws, row.id, e.concur_by, e.concur_reason)
        applied.append(row)
    return applied
