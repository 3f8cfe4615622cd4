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

Every decision and concurrence is written in ONE transaction with its audit event, under the
log's write lock; the event binds every field the findings report will display (personal
values by their commitments, ``vetting.store.personal``). The decision tables are append-only, and one
decision in force per item is a database constraint (``vetting/store/db.py``, migration 3).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import select

from vetting.domain.models import (
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
from vetting.review.display import Displayed, displayed
from vetting.store.personal import PersonalDataErased, candidate_of_case
from vetting.store.workspace import Transaction, Workspace


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
    evidence_images: tuple[str, ...] = ()  # pictures hiring staff may see (vetting.review.evidence_images)


def verify_item_evidence(ws: Workspace, item: Item) -> list[str]:
    """Re-hash every artifact of an item (file and WARC record); return the problems."""
    from spiders.warc import read_record, record_bytes

    problems: list[str] = []
    artifacts = item.artifacts()
    if not artifacts:
        problems.append("the item has no stored evidence")
    for art in artifacts:
        try:
            data = ws.read_evidence(art["path"], art["sha256"])
        except OSError:
            problems.append(f"{art['kind']} file {art['path']} is missing")
            continue
        if hashlib.sha256(data).hexdigest() != art["sha256"]:
            problems.append(f"{art['kind']} file {art['path']} no longer matches its sha256")
        if art.get("warc"):
            try:
                _, payload = read_record(ws.warc_file(art["warc"]), int(art["offset"]))
            except Exception as exc:  # noqa: BLE001 - any read failure is a broken record
                problems.append(f"{art['kind']} WARC record in {art['warc']} unreadable: {exc}")
                continue
            if hashlib.sha256(payload).hexdigest() != art["sha256"]:
                problems.append(f"{art['kind']} WARC record in {art['warc']} no longer matches its sha256")
            elif art.get("record_sha256"):  # the whole record: WARC headers (URI, date, IP) too
                whole, _ = record_bytes(ws.warc_file(art["warc"]), int(art["offset"]))
                if hashlib.sha256(whole).hexdigest() != art["record_sha256"]:
                    problems.append(f"{art['kind']} WARC record in {art['warc']} at offset {art['offset']}: "
                                    "its headers changed since capture (whole-record sha256 differs)")
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
        return _in_force(s, item_id)


def reviewable_items(ws: Workspace, case_id: str) -> list[Item]:
    with ws.session() as s:
        return _reviewable(s, case_id)


def _reviewable_kind() -> tuple[Any, ...]:
    """What makes an item reviewable (a page, account or search result, captured or found)."""
    return (Item.kind.in_(REVIEWABLE_KINDS), Item.outcome.in_(REVIEWABLE_OUTCOMES))  # type: ignore[attr-defined]


def _reviewable_where(case_id: str) -> tuple[Any, ...]:
    """The reviewable items of one case."""
    return (Item.case_id == case_id, *_reviewable_kind())


def _reviewable(s: Any, case_id: str) -> list[Item]:
    return list(s.exec(select(Item).where(*_reviewable_where(case_id)).order_by(Item.id)))


#: What :func:`decisions_in_force` reads of a decision: enough to know which one is in force
#: without loading whole rows (a workspace's decisions number in the thousands).
_DECISION_LINKS = (Decision.id, Decision.item_id, Decision.supersedes)


def awaiting_flags(ws: Workspace, case_id: str) -> list[tuple[str, bool]]:
    """(item id, awaits a decision) for each reviewable item of a case, in item order.

    The same rule as :func:`items_and_decisions` without loading the items themselves (their
    text): what the review page's links to the next and previous item awaiting need.
    """
    with ws.session() as s:
        ids = list(s.exec(select(Item.id).where(*_reviewable_where(case_id)).order_by(Item.id)))  # type: ignore[call-overload]
        live = decisions_in_force(s.exec(select(*_DECISION_LINKS).where(Decision.case_id == case_id)))  # type: ignore[call-overload]
    return [(item_id, item_id not in live) for item_id in ids]


def awaiting_counts(ws: Workspace, case_ids: list[str]) -> dict[str, int]:
    """How many reviewable items of each case await a decision: :func:`items_and_decisions`'s
    rule for many cases in two queries (a list of 200 cases was 200 loads of whole items)."""
    with ws.session() as s:
        rows = list(s.exec(select(Item.case_id, Item.id).where(Item.case_id.in_(case_ids), *_reviewable_kind())))  # type: ignore[attr-defined,call-overload]
        live = decisions_in_force(s.exec(select(*_DECISION_LINKS).where(Decision.case_id.in_(case_ids))))  # type: ignore[attr-defined,call-overload]
    counts = dict.fromkeys(case_ids, 0)
    for case_id, item_id in rows:
        if item_id not in live:
            counts[case_id] += 1
    return counts


def item_lines_and_decisions(ws: Workspace, case_id: str) -> list[tuple[Any, Decision | None]]:
    """:func:`items_and_decisions` with only what a list of items shows (id, kind, url, final
    url, outcome, title) instead of whole items: a case page does not read every item's text."""
    with ws.session() as s:
        lines = list(s.exec(select(Item.id, Item.kind, Item.url, Item.final_url, Item.outcome,  # type: ignore[call-overload]
                                   Item.title).where(*_reviewable_where(case_id)).order_by(Item.id)))
        live = decisions_in_force(s.exec(select(Decision).where(Decision.case_id == case_id)))
    return [(line, live.get(line.id)) for line in lines]


def items_and_decisions(ws: Workspace, case_id: str) -> list[tuple[Item, Decision | None]]:
    """Each reviewable item of a case with its decision in force (None: it awaits a decision).

    The one place the "awaiting a decision" rule lives (review queue, case list, web pages),
    read in one database session for the whole case.
    """
    with ws.session() as s:
        items = _reviewable(s, case_id)
        live = decisions_in_force(s.exec(select(Decision).where(Decision.case_id == case_id)))
    return [(item, live.get(item.id)) for item in items]


@dataclass
class _Checked:
    """A decision request that passed every check, with what its row and event need."""

    req: DecisionRequest
    item: Item
    assessment: Assessment
    findings: tuple[str, ...]
    protected_cats: set[str]


def _check(ws: Workspace, req: DecisionRequest, *, record_refusal: bool) -> _Checked:
    """Every rule of a decision, read-only except the ``item.validation_refused`` event."""
    from vetting.domain.approvals import load_approved
    from vetting.screening.identity import meets_minimum

    if req.decision not in DECISIONS:
        raise ValidationRefused(f"decision must be one of {', '.join(DECISIONS)}, not {req.decision!r}")
    if not req.by.strip():
        raise ValidationRefused("a decision must name the account deciding")
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
    _check_in_force(current_decision(ws, item.id), item.id, req.supersedes)
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
    _check_evidence_images(ws, item, req)
    problems = verify_item_evidence(ws, item)
    if problems:
        if record_refusal:
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
    protected = {c.id for c in proc.categories if c.protected_conduct}
    return _Checked(req, item, assessment, findings, protected)


def _check_in_force(previous: Decision | None, item_id: str, supersedes: int | None) -> None:
    if previous is not None and supersedes != previous.id:
        raise ValidationRefused(f"item {item_id} already has decision {previous.id} ({previous.decision} by "
                                f"{previous.decided_by}); a revision must cite it with --supersedes {previous.id}")
    if previous is None and supersedes is not None:
        raise ValidationRefused(f"item {item_id} has no decision {supersedes} to supersede")


def decision_payload(row: Decision, shown: Displayed, shown_commit: Any, evidence: list[str]) -> dict[str, Any]:
    """The ``item.<decision>`` event's payload: every field the findings report displays, bound.

    Personal values (the reviewer's words, the item's title, address and excerpt as displayed)
    appear only as commitments; the rest (categories, identity, hashes, time) in the clear.
    """
    return {"decision_id": row.id, "decision": row.decision, "findings": json.loads(row.findings_json),
            "reason": row.reason, "discredit_justification": row.discredit_justification,
            "mitigating": row.mitigating, "supersedes": row.supersedes,
            "decided_at": row.decided_at.isoformat(),
            "identity_level": shown.identity_level, "identifiers_matched": shown.identifiers_matched,
            "evidence_rehashed": evidence,
            "shown": {"url": shown_commit(shown.url), "title": shown_commit(shown.title),
                      "kind": shown.kind, "captured_at": shown.captured_at,
                      "excerpt": shown_commit(shown.excerpt),
                      "artifacts": [{"kind": a["kind"], "sha256": a["sha256"]} for a in shown.artifacts]}}


def _write_decision(tx: Transaction, c: _Checked) -> Decision:
    """Insert the decision row and its event in the caller's (locked) transaction."""
    item, req = c.item, c.req
    # Under the write lock: nobody decided this item since the checks ran.
    previous = _in_force(tx.session, item.id)
    _check_in_force(previous, item.id, req.supersedes)
    commit = tx.committer(candidate_of_case(tx.session, item.case_id))
    row = Decision(item_id=item.id, case_id=item.case_id, decision=req.decision,
                   reason=commit(req.reason.strip()), decided_by=req.by.strip(), decided_at=utcnow(),
                   findings_json=json.dumps(list(c.findings)),
                   discredit_justification=commit(req.discredit.strip()), mitigating=commit(req.mitigating.strip()),
                   supersedes=req.supersedes, evidence_verified=True)
    tx.session.add(row)
    tx.session.flush()
    shown = displayed(item, c.assessment, list(c.findings), c.protected_cats)
    payload = decision_payload(row, shown, commit, [a["sha256"] for a in item.artifacts()])
    if req.evidence_images:  # the pictures hiring staff may see (an address is personal: committed)
        payload["evidence_images"] = commit.many(list(req.evidence_images))
    tx.record(f"item.{req.decision}", actor=row.decided_by, case_id=item.case_id, subject=item.id,
              payload=payload)
    return row


def _refused_by_constraint(exc: Exception, what: str) -> ValidationRefused:
    return ValidationRefused(f"{what} was refused by the database (another decision was recorded at the "
                             f"same moment): {str(exc).splitlines()[0]}")


def decide(ws: Workspace, req: DecisionRequest, *, dry_run: bool = False) -> Decision | None:
    """Record a decision on an item, or raise :class:`ValidationRefused` with the reason.

    The row and its audit event commit in one transaction. With ``dry_run`` every check runs
    and nothing is written.
    """
    checked = _check(ws, req, record_refusal=not dry_run)
    if dry_run:
        return None
    try:
        with ws.transaction() as tx:
            row = _write_decision(tx, checked)
    except PersonalDataErased as exc:
        raise ValidationRefused(str(exc)) from None
    except IntegrityError as exc:
        raise _refused_by_constraint(exc, f"the decision on {req.item_id}") from None
    ws.audit.checkpoint()
    return row


def _check_evidence_images(ws: Workspace, item: Item, req: DecisionRequest) -> None:
    """Each marked evidence image must name a picture of the archived page (never ignored)."""
    if not req.evidence_images:
        return
    from vetting.review.evidence_images import marked_media

    if req.decision != "validated":
        raise ValidationRefused("only a validated item can mark an evidence image")
    source = next((a for a in item.artifacts() if a["kind"] == "dom"), None) or next(
        (a for a in item.artifacts() if a["kind"] == "response"), None)
    if source is None:
        raise ValidationRefused(f"item {item.id} has no archived page to mark an image of")
    html = ws.read_evidence(source["path"], source["sha256"]).decode("utf-8", errors="replace")
    for spec in req.evidence_images:
        try:
            count = marked_media(html, item.final_url or item.url, spec)
        except ValueError as exc:
            raise ValidationRefused(f"--evidence-image {exc}") from None
        if count == 0:
            raise ValidationRefused(f"--evidence-image {spec!r} names no image or video of the archived page")


def decisions_in_force(rows: Iterable[Decision]) -> dict[str, Decision]:
    """The rule of which decision is in force, per item: the newest (highest id) one that no
    other decision supersedes. ``rows`` are any set of decisions (one item's or one case's);
    the single place this rule lives, for validation, review and the reports alike."""
    ordered = sorted(rows, key=lambda r: r.id or 0)
    superseded = {r.supersedes for r in ordered if r.supersedes is not None}
    live: dict[str, Decision] = {}
    for r in ordered:
        if r.id not in superseded:
            live[r.item_id] = r
    return live


def _in_force(s: Any, item_id: str) -> Decision | None:
    rows = s.exec(select(Decision).where(Decision.item_id == item_id))
    return decisions_in_force(rows).get(item_id)


def _check_concur(s: Any, decision_id: int, by: str) -> Decision:
    decision = s.get(Decision, decision_id)
    if decision is None:
        raise ValidationRefused(f"no decision {decision_id}")
    existing = s.exec(select(Concurrence).where(Concurrence.decision_id == decision_id)).first()
    if not decision.adverse:
        raise ValidationRefused(f"decision {decision_id} is not an adverse finding; nothing to concur with")
    if decision.decided_by == by.strip():
        raise ValidationRefused(f"{by} made decision {decision_id}; a second person must concur")
    if existing is not None:
        raise ValidationRefused(f"decision {decision_id} already has the concurrence of {existing.concurred_by}")
    live = _in_force(s, decision.item_id)
    if live is None or live.id != decision_id:
        raise ValidationRefused(f"decision {decision_id} has been superseded by decision {live.id if live else '?'}")
    return decision


def _write_concurrence(tx: Transaction, decision_id: int, by: str, reason: str) -> Concurrence:
    decision = _check_concur(tx.session, decision_id, by)
    commit = tx.committer(candidate_of_case(tx.session, decision.case_id))
    row = Concurrence(decision_id=decision_id, concurred_by=by.strip(), concurred_at=utcnow(),
                      reason=commit(reason.strip()))
    tx.session.add(row)
    tx.session.flush()
    tx.record("item.concurred", actor=row.concurred_by, case_id=decision.case_id, subject=decision.item_id,
              payload={"decision_id": decision_id, "concurrence_id": row.id, "reason": row.reason,
                       "concurred_at": row.concurred_at.isoformat(),
                       "findings": json.loads(decision.findings_json)})
    return row


def concur(ws: Workspace, decision_id: int, by: str, reason: str = "") -> Concurrence:
    """A second person concurs with an adverse finding; the decider cannot concur with themselves.

    Checked, written and recorded in one transaction under the log's write lock.
    """
    if not by.strip():
        raise ValidationRefused("a concurrence must name the account concurring")
    try:
        with ws.transaction() as tx:
            row = _write_concurrence(tx, decision_id, by, reason)
    except PersonalDataErased as exc:
        raise ValidationRefused(str(exc)) from None
    except IntegrityError as exc:
        raise _refused_by_constraint(exc, f"the concurrence with decision {decision_id}") from None
    ws.audit.checkpoint()
    return row


def decision_reason(ws: Workspace, decision: Decision) -> str:
    """A decision's reason, read back from the personal values ([erased] once erased)."""
    from vetting.store.personal import Revealer

    with ws.session() as s:
        return Revealer(s, candidate_of_case(s, decision.case_id))(decision.reason)


def concurrence_for(ws: Workspace, decision_id: int) -> Concurrence | None:
    with ws.session() as s:
        return s.exec(select(Concurrence).where(Concurrence.decision_id == decision_id)).first()


@dataclass
class BatchEntry:
    """One entry of a decisions file, located for error messages."""

    line: int | None
    request: DecisionRequest
    candidate: str | None
    url: str | None


#: Fields a decisions file once had and no longer may: who decides is the logged-in account,
#: and a file never concurs (concurrence is its own act by a second account).
_REFUSED_FIELDS = {
    "by": "the decider is the logged-in account (vet whoami), never a name in the file: remove 'by'",
    "concur_by": ("a decisions file cannot concur: concurrence is its own act by a second logged-in "
                  "account (vet concur DECISION): remove 'concur_by'"),
    "concur_reason": "a decisions file cannot concur (vet concur DECISION --reason): remove 'concur_reason'",
}


def load_decisions_file(path: Path) -> tuple[str, list[BatchEntry]]:
    """Parse a decisions file (see docs/validation.md); every problem located by line."""
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    from vetting.domain.yamlsource import InputError, Problem, load_yaml_file, validate_model

    class _One(BaseModel):
        model_config = ConfigDict(extra="forbid")
        item: str | None = None
        candidate: str | None = None
        url: str | None = None
        decision: str = Field(pattern="^(validated|rejected|unverifiable)$")
        reason: str = Field(min_length=5)
        findings: list[str] = []
        discredit: str = ""
        mitigating: str = ""
        supersedes: int | None = None
        evidence_images: list[str] = []

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
    listed = doc.data.get("decisions")
    if isinstance(listed, list):
        refused = [Problem(str(path), doc.line_of(("decisions", n, key)) or doc.line_of(("decisions", n)),
                           f"decisions[{n}].{key}", why)
                   for n, entry in enumerate(listed) if isinstance(entry, dict)
                   for key, why in _REFUSED_FIELDS.items() if key in entry]
        if refused:
            raise InputError(refused)
    parsed = validate_model(_File, doc)
    entries = []
    for n, d in enumerate(parsed.decisions):
        entries.append(BatchEntry(doc.line_of(("decisions", n)),
                                  DecisionRequest(d.item or "", d.decision, d.reason, "", tuple(d.findings),
                                                  d.discredit, d.mitigating, d.supersedes,
                                                  tuple(d.evidence_images)),
                                  d.candidate, d.url))
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


def apply_decisions_file(ws: Workspace, path: Path, by: str) -> list[Decision]:
    """``by``'s decisions: check every entry first, then apply them all in ONE transaction (all or nothing).

    Two entries for one item are refused (a revision of a decision made in the same file has
    no decision id to cite yet). A failure while writing rolls the whole file back.
    """
    from vetting.domain.yamlsource import InputError, Problem

    _, entries = load_decisions_file(path)
    problems = []
    checked: list[_Checked] = []
    first_line: dict[str, int | None] = {}
    for e in entries:
        e.request.by = by
        try:
            if not e.request.item_id:
                e.request.item_id = resolve_item(ws, e.candidate or "", e.url or "")
            if e.request.item_id in first_line:
                where = first_line[e.request.item_id]
                raise ValidationRefused(f"item {e.request.item_id} already has an entry in this file"
                                        + (f" (line {where})" if where else "") + "; one decision per item per file")
            first_line[e.request.item_id] = e.line
            checked.append(_check(ws, e.request, record_refusal=False))
        except ValidationRefused as exc:
            problems.append(Problem(str(path), e.line, f"decision for {e.request.item_id or e.url}", str(exc)))
    if problems:
        raise InputError(problems)
    applied = []
    try:
        with ws.transaction() as tx:
            for c in checked:
                applied.append(_write_decision(tx, c))
    except (ValidationRefused, PersonalDataErased) as exc:
        raise InputError([Problem(str(path), None, "decisions", f"nothing applied: {exc}")]) from None
    except (IntegrityError, OperationalError) as exc:
        raise InputError([Problem(str(path), None, "decisions",
                                  f"nothing applied: the database refused the batch: "
                                  f"{str(exc.orig if hasattr(exc, 'orig') else exc).splitlines()[0]}")]) from None
    ws.audit.checkpoint()
    return applied
