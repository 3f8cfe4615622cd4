"""The data behind the three reports, gathered once so the templates only lay it out.

* Findings (hiring staff): :func:`findings_report` wraps the gate of ``vetting.reports.findings``
  (validated, concurred, re-hashed, masked) with what makes the report checkable: the signed
  audit checkpoint it was made at, the redacted picture of the page (``vetting.reports.redaction``), and for
  each finding a *receipt*, the RFC 6962 inclusion proof of its ``item.validated`` (and
  ``item.concurred``) audit event against that checkpoint.
* Written process (commanders): :func:`process_report`, the approved procedure as frozen,
  with the history of its versions.
* Audit and uniformity (commanders): :func:`audit_report`, the verifier's result, each case's
  timeline of steps and decisions, the requests the guard refused, and the uniformity matrix.

Nothing here formats text for people: that is the templates' job, so the same data renders
to the same bytes.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlmodel import select

from audit import Checkpoint, Event, VerifyReport
from audit.checkpoints import load_public_key, public_key_fingerprint
from vetting.domain.models import Case, Concurrence, Decision, ProcedureVersion
from vetting.reports.findings import FindingPublic, FindingsData, findings_data
from vetting.reports.receipts import RECEIPTS_FORMAT
from vetting.reports.redaction import PictureView, redacted_pictures
from vetting.review.uniformity import UniformityReport, check_uniformity
from vetting.review.validation import decisions_in_force
from vetting.store.personal import Revealer
from vetting.store.workspace import Workspace

#: Pictures larger than this are not embedded (the report stays openable); the report says so.
MAX_EMBED_BYTES = 8_000_000
#: Raster formats only, recognised by their magic bytes: an SVG (which can carry script) or an
#: unknown file is never embedded, whatever its name says.
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"RIFF", "image/webp"))
#: Audit actions shown in a case's timeline (requests and captures are counted, not listed).
TIMELINE_ACTIONS = ("case.opened", "step.started", "step.retried", "step.finished", "case.completed",
                    "item.validated", "item.rejected", "item.unverifiable", "item.concurred",
                    "item.validation_refused", "evidence.redacted", "report.rendered")


# -- shared: the checkpoint a report is made at -------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """A signed audit checkpoint as a report cites it."""

    idx: int
    time: str
    tree_size: int
    root: str  # hex
    note: str  # the signed note (C2SP format), verifiable with the public key
    public_key_sha256: str


def current_checkpoint(ws: Workspace) -> CheckpointInfo:
    """Sign the log as it stands (a no-op when nothing was appended since the last checkpoint)."""
    cp: Checkpoint = ws.audit.checkpoint()
    key = public_key_fingerprint(load_public_key(ws.key_dir))
    return CheckpointInfo(cp.idx, cp.time, cp.tree_size, cp.root.hex(), cp.note, key)


# -- findings (hiring staff) ----------------------------------------------------------------
@dataclass(frozen=True)
class Receipt:
    """Proof that one decision event is in the log the checkpoint signs."""

    item_id: str
    role: str  # "validated" | "concurred"
    seq: int
    event: dict[str, Any]  # the event document whose canonical bytes are the leaf
    leaf_hash: str
    proof: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "role": self.role, "seq": self.seq, "event": self.event,
                "leaf_hash": self.leaf_hash, "proof": self.proof}


@dataclass(frozen=True)
class FindingView:
    finding: FindingPublic
    number: int
    screenshot_uri: str | None  # the REDACTED picture (vetting.reports.redaction), never the original screenshot
    screenshot_note: str  # why no picture is shown, when none is
    receipts: list[Receipt]
    picture: PictureView | None = None  # its sha256, the source's, and how much it covers


@dataclass(frozen=True)
class FindingsReport:
    data: FindingsData
    findings: list[FindingView]
    checkpoint: CheckpointInfo
    origin: str
    head_receipts: list[Receipt] = field(default_factory=list)  # candidate.added, procedure.approved

    @property
    def receipts_block(self) -> dict[str, Any]:
        """The machine-readable receipts embedded in the report (``<script type=application/json>``)."""
        head = self.head_receipts
        return {"format": RECEIPTS_FORMAT, "origin": self.origin, "case_id": self.data.case_id,
                "candidate_id": self.data.candidate_id,
                "checkpoint": {"tree_size": self.checkpoint.tree_size, "root": self.checkpoint.root,
                               "note": self.checkpoint.note},
                "public_key_sha256": self.checkpoint.public_key_sha256,
                "receipts": [r.as_json() for r in head] + [r.as_json() for f in self.findings for r in f.receipts]}


def sniff_image(data: bytes) -> str | None:
    for magic, mime in IMAGE_MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


def picture_uri(picture: PictureView) -> tuple[str | None, str]:
    """The finding's redacted picture as a ``data:`` URI (never a path or URL the reader would fetch).

    Hiring staff never see the original screenshot: it shows what the firewall masks.
    """
    data = picture.png
    if data is None:
        return None, picture.note
    if len(data) > MAX_EMBED_BYTES:
        return None, f"redacted picture of {len(data)} bytes is too large to embed; it is in the evidence store"
    mime = sniff_image(data)
    if mime is None:
        return None, "the redacted picture is not a PNG, JPEG or WebP image; not embedded"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", picture.note


def _decision_events(ws: Workspace, case_id: str, tree_size: int) -> dict[tuple[str, int], Event]:
    """(role, decision id) -> the audit event recording it, among the first ``tree_size`` events."""
    found: dict[tuple[str, int], Event] = {}
    for event in ws.audit.events(case_id=case_id):
        if event.seq >= tree_size:
            break
        if event.action in ("item.validated", "item.concurred"):
            decision_id = event.payload.get("decision_id")
            if isinstance(decision_id, int):
                found[(event.action.removeprefix("item."), decision_id)] = event
    return found


def _decisions_in_force(ws: Workspace, case_id: str) -> tuple[dict[str, Decision], set[int]]:
    """Per item, the decision in force (``validation.decisions_in_force``), and the ids of
    decisions with a concurrence; two queries per case."""
    with ws.session() as s:
        rows = list(s.exec(select(Decision).where(Decision.case_id == case_id)))
        concurred = set(s.exec(select(Concurrence.decision_id).join(Decision, Decision.id == Concurrence.decision_id)
                               .where(Decision.case_id == case_id)))
    return decisions_in_force(rows), concurred


def inclusion_proofs(ws: Workspace, seqs: list[int], tree_size: int) -> dict[int, list[bytes]]:
    """RFC 6962 audit paths of many events in one tree, over one connection.

    Same arithmetic as ``AuditLog.inclusion_proof`` (``audit.merkle.inclusion_path``), with the
    node lookups memoised: the proofs of one report share most of their upper nodes.
    """
    from sqlalchemy import select as sa_select

    from audit.merkle import inclusion_path
    from audit.store import audit_event, audit_node

    if tree_size > ws.audit.size():
        raise ValueError(f"tree size {tree_size} is larger than the log")
    with ws.engine.connect() as conn:
        @cache
        def get(level: int, idx: int) -> bytes:
            if level == 0:
                stmt = sa_select(audit_event.c.leaf_hash).where(audit_event.c.seq == idx)
            else:
                stmt = sa_select(audit_node.c.hash).where(audit_node.c.level == level, audit_node.c.idx == idx)
            return bytes(conn.execute(stmt).scalar_one())

        return {seq: inclusion_path(get, seq, tree_size) for seq in seqs}


def _receipts(report_findings: list[FindingPublic], live: dict[str, Decision], concurred: set[int],
              events: dict[tuple[str, int], Event], tree_size: int) -> list[list[tuple[str, Event]]]:
    """For each finding, the (role, event) pairs its receipt proves."""
    out = []
    for finding in report_findings:
        decision = live.get(finding.item_id)
        if decision is None or decision.id is None or decision.decision != "validated":
            raise LookupError(f"finding {finding.item_id} has no validated decision in force")
        wanted = ["validated"] + (["concurred"] if decision.id in concurred else [])
        pairs = []
        for role in wanted:
            event = events.get((role, decision.id))
            if event is None or event.subject != finding.item_id:
                raise LookupError(f"no item.{role} audit event for decision {decision.id} of {finding.item_id} "
                                  f"within the checkpoint of size {tree_size}")
            if role == "validated" and event.actor != finding.validated_by:
                raise LookupError(f"the item.validated event {event.seq} names {event.actor}, "
                                  f"the finding {finding.validated_by}")
            pairs.append((role, event))
        out.append(pairs)
    return out


def findings_report(ws: Workspace, case_id: str) -> FindingsReport:
    """Everything the hiring-staff report shows: the gated findings, redacted pictures, receipts.

    The pictures are made (and recorded as ``evidence.redacted`` events) before the checkpoint
    the report cites, so the report's checkpoint covers them.
    """
    data = findings_data(ws, case_id)
    pictures = redacted_pictures(ws, case_id, [f.item_id for f in data.findings])
    checkpoint = current_checkpoint(ws)
    live, concurred = _decisions_in_force(ws, case_id)
    events = _decision_events(ws, case_id, checkpoint.tree_size)
    pairs = _receipts(data.findings, live, concurred, events, checkpoint.tree_size)
    added = _first_event(ws, "candidate.added", data.candidate_id, checkpoint.tree_size)
    approved = _first_event(ws, "procedure.approved", data.fingerprint, checkpoint.tree_size)
    captured = _captured_events(ws, case_id, {u.item_id for u in data.unreached}, checkpoint.tree_size)
    failed = _failed_step_events(ws, case_id, {step for step, _ in data.failed_steps}, checkpoint.tree_size)
    proofs = inclusion_proofs(ws, [e.seq for p in pairs for _, e in p] + [added.seq, approved.seq]
                              + [e.seq for e in captured] + [e.seq for e in failed], checkpoint.tree_size)
    views = []
    for number, (finding, found) in enumerate(zip(data.findings, pairs, strict=True), 1):
        uri, note = picture_uri(pictures[finding.item_id])
        receipts = [Receipt(finding.item_id, role, e.seq, e.document(), e.leaf_hash.hex(),
                            [h.hex() for h in proofs[e.seq]]) for role, e in found]
        views.append(FindingView(finding, number, uri, note, receipts, pictures[finding.item_id]))
    head = [Receipt("", role, e.seq, e.document(), e.leaf_hash.hex(), [h.hex() for h in proofs[e.seq]])
            for role, e in (("candidate", added), ("procedure", approved))]
    head += [Receipt(e.subject or "", "captured", e.seq, e.document(), e.leaf_hash.hex(),
                     [h.hex() for h in proofs[e.seq]]) for e in captured]
    head += [Receipt(e.subject or "", "step", e.seq, e.document(), e.leaf_hash.hex(),
                     [h.hex() for h in proofs[e.seq]]) for e in failed]
    return FindingsReport(data, views, checkpoint, ws.audit.origin, head)


def _captured_events(ws: Workspace, case_id: str, item_ids: set[str], tree_size: int) -> list[Event]:
    """The ``item.captured`` events of the items the report lists as not reached."""
    found: dict[str, Event] = {}
    for event in ws.audit.events(case_id=case_id):
        if event.seq >= tree_size:
            break
        if event.action == "item.captured" and event.subject in item_ids:
            found.setdefault(event.subject, event)
    missing = item_ids - set(found)
    if missing:
        raise LookupError(f"no item.captured audit event for {sorted(missing)[0]} within the checkpoint")
    return sorted(found.values(), key=lambda e: e.seq)


def _failed_step_events(ws: Workspace, case_id: str, steps: set[str], tree_size: int) -> list[Event]:
    """The last ``step.finished`` event of each step the report lists as failed."""
    found: dict[str, Event] = {}
    for event in ws.audit.events(case_id=case_id):
        if event.seq >= tree_size:
            break
        if event.action == "step.finished" and event.subject in steps:
            found[event.subject] = event
    missing = steps - set(found)
    if missing:
        raise LookupError(f"no step.finished audit event for step {sorted(missing)[0]} within the checkpoint")
    return sorted(found.values(), key=lambda e: e.seq)


def _first_event(ws: Workspace, action: str, subject: str, tree_size: int) -> Event:
    """The first ``action`` event about ``subject`` within the checkpoint (the report's candidate's
    ``candidate.added``, binding their name; its procedure's ``procedure.approved``)."""
    from sqlalchemy import select as sa_select

    from audit.log import row_to_event
    from audit.store import audit_event

    with ws.engine.connect() as conn:
        row = conn.execute(sa_select(audit_event).where(
            audit_event.c.action == action, audit_event.c.subject == subject,
            audit_event.c.seq < tree_size).order_by(audit_event.c.seq).limit(1)).first()
    if row is None:
        raise LookupError(f"no {action} audit event for {subject} within the checkpoint")
    return row_to_event(row)


# -- written process (commanders) -----------------------------------------------------------
@dataclass(frozen=True)
class ProcessReport:
    version: ProcedureVersion
    procedure: dict[str, Any]  # the canonical form: defaults filled, exactly what was fingerprinted
    history: list[ProcedureVersion]
    cases: int  # cases run under this fingerprint


def process_report(ws: Workspace, procedure_id: str, fingerprint: str | None = None) -> ProcessReport:
    """The approved procedure (latest version, or the one with ``fingerprint``) and its history."""
    with ws.session() as s:
        history = list(s.exec(select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure_id)
                              .order_by(ProcedureVersion.version)))
        if not history:
            raise LookupError(f"no approved procedure {procedure_id!r}")
        chosen = [v for v in history if v.fingerprint == fingerprint] if fingerprint else history[-1:]
        if not chosen:
            raise LookupError(f"procedure {procedure_id!r} has no approved version {fingerprint}")
        cases = len(list(s.exec(select(Case.id).where(Case.fingerprint == chosen[0].fingerprint))))
    return ProcessReport(chosen[0], json.loads(chosen[0].canonical_json), history, cases)


# -- audit and uniformity (commanders) ------------------------------------------------------
@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    time: str
    actor: str
    action: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Refusal:
    seq: int
    time: str
    url: str
    step: str
    method: str
    reason: str


@dataclass
class CaseAudit:
    case: Case
    timeline: list[TimelineEntry] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    disposed: str = ""  # the candidate's personal data was erased: who, when, which event


@dataclass(frozen=True)
class AuditReport:
    verify: VerifyReport
    checkpoint: CheckpointInfo
    procedure_id: str | None
    uniformity: list[UniformityReport]
    cases: list[CaseAudit]

    @property
    def deviating_cases(self) -> set[str]:
        """Ids of the cases a uniformity deviation names (each deviation cites "candidate (case id)")."""
        ids = {row.case_id for u in self.uniformity for g in u.groups for row in g.cases}
        return {cid for u in self.uniformity for dev in u.deviations for cid in ids if f"({cid})" in dev}


def _detail(event: Event, reveal: Callable[[Any], str]) -> str:
    """One line saying what a timeline event did, from its payload (committed values revealed)."""
    p = event.payload
    a = event.action
    if a == "case.opened":
        return f"procedure {p.get('procedure_id')} v{p.get('version')}, {len(p.get('steps', []))} steps"
    if a == "step.started":
        return f"#{p.get('position', 0) + 1} attempt {p.get('attempt')}, collector {p.get('collector')}, " \
               f"{len(p.get('inputs') or [])} input(s)" + (" (resumed)" if p.get("resumed") else "")
    if a == "step.retried":
        return f"#{p.get('position', 0) + 1} {reveal(p.get('error'))}"
    if a == "step.finished":
        text = f"#{p.get('position', 0) + 1} {p.get('status')}: {p.get('requests_allowed')} request(s) " \
               f"allowed, {p.get('requests_refused')} refused, {p.get('items')} item(s)"
        return text + (f"; {reveal(p['error'])}" if p.get("error") else "")
    if a in ("item.validated", "item.rejected", "item.unverifiable"):
        findings = ", ".join(p.get("findings") or []) or "no finding"
        return f"decision {p.get('decision_id')}: {findings}; {reveal(p.get('reason'))}"
    if a == "item.concurred":
        return f"concurs with decision {p.get('decision_id')}" + (f": {reveal(p['reason'])}" if p.get("reason") else "")
    if a == "item.validation_refused":
        return "; ".join(p.get("problems") or [])
    if a == "evidence.redacted":
        return (f"picture sha256 {p.get('redacted', {}).get('sha256')} of page sha256 "
                f"{p.get('source', {}).get('sha256')}: {len(p.get('boxes') or [])} box(es)")
    if a == "report.rendered":
        return f"{p.get('kind')} {p.get('format')} sha256 {p.get('sha256')}"
    return ""


def case_audit(ws: Workspace, case: Case, tree_size: int) -> CaseAudit:
    """One case's timeline and refusals, read from the audit log up to ``tree_size``."""
    out = CaseAudit(case)
    counts: Counter[str] = Counter()
    with ws.session() as s:
        reveal = Revealer(s, case.candidate_id)
        if reveal.erased:
            from vetting.reports.findings import disposal_note

            out.disposed = disposal_note(ws, case.candidate_id)
        for event in ws.audit.events(case_id=case.id):
            if event.seq >= tree_size:
                break
            counts[event.action] += 1
            if event.action in TIMELINE_ACTIONS:
                out.timeline.append(TimelineEntry(event.seq, event.time, event.actor, event.action,
                                                  event.subject or "", _detail(event, reveal)))
            elif event.action == "request.refused":
                p = event.payload
                out.refused.append(Refusal(event.seq, event.time, reveal(event.subject), str(p.get("step", "")),
                                           str(p.get("method", "")), reveal(str(p.get("reason", "")))))
    out.counts = dict(sorted(counts.items()))
    return out


def audit_report(ws: Workspace, procedure_id: str | None = None) -> AuditReport:
    """The verifier's result, uniformity and each case's trail (all procedures, or one)."""
    checkpoint = current_checkpoint(ws)
    verify = ws.verify()
    with ws.session() as s:
        q = select(Case)
        if procedure_id is not None:
            q = q.where(Case.procedure_id == procedure_id)
        cases = list(s.exec(q.order_by(Case.procedure_id, Case.candidate_id, Case.id)))
        ids = [procedure_id] if procedure_id is not None else sorted(
            set(s.exec(select(ProcedureVersion.procedure_id))))
    uniformity = [check_uniformity(ws, pid) for pid in ids]
    if procedure_id is not None and not uniformity[0].groups:
        raise LookupError(f"no approved procedure {procedure_id!r}")
    return AuditReport(verify, checkpoint, procedure_id, uniformity,
                       [case_audit(ws, c, checkpoint.tree_size) for c in cases])
