"""Retention and disposal: how long a candidate's vetting records are kept, and how they end.

Periods per record kind (days), set per workspace in ``<workspace>/retention.yaml`` (every
value checked, each problem reported as ``file:line: field: message``); the defaults and their
legal basis (docs/records.md):

``not_hired_days: 730``
    29 CFR 1602.31 (state and local governments: two years from the making of the record or
    the personnel action, whichever is later; 1602.14 sets one year for private employers).
``hired_days: null``
    kept: a hired officer's background file belongs to the personnel file, whose state
    records schedule governs (set a number of days to let this toolkit dispose of it).
``evidence_days: 730`` / ``reports_days: 730``
    the captured evidence and the rendered reports: the same federal floor; a state schedule
    may keep them longer (never shorter than a year: shorter values are refused).

A candidate's records are counted from the *later* of the hiring outcome's date (the
personnel action, ``vet candidate outcome``) and the last record made in their cases, and
end together, on the day the longest period that applies to them ends: the erasure of a
candidate is one act (:mod:`vetting.store.erasure`). Without a recorded outcome nothing is due.
A case on legal hold (:mod:`vetting.records.holds`) is never disposed of: each run that finds it due
records the refusal (``records.disposal_refused``).

Disposal of one candidate, resumable at every step (a kill leaves a *started* disposal that
the next ``vet retention dispose --due`` finishes, whatever the date):

1. ``records.disposal_started``: the rule, and every file about to be removed that the erasure
   does not know of (redacted pictures, the candidate's responses and attachments), listed as
   ``disposed_evidence`` so ``vet audit verify`` knows they are gone by design;
2. those files, and every rendered report file that names the candidate (their findings
   reports, and audit reports: re-render one afterwards) while it still has the recorded sha256;
3. :func:`vetting.store.erasure.erase_candidate` (personal values, collected content, evidence);
4. one ``records.disposed`` event per case: the disposal certificate (what was destroyed, when,
   by whom, under which rule), shown in the audit report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from vetting.domain.models import Candidate, Case, Item
from vetting.domain.yamlsource import InputError, Problem
from vetting.people.clock import Clock, system_clock
from vetting.records.models import HIRED, OUTCOMES, CandidateResponse, HiringOutcome, RecordsRefused
from vetting.store.workspace import Workspace

SETTINGS_FILE = "retention.yaml"
MIN_DAYS = 365  # the federal floor (29 CFR 1602.14): no period may be shorter
MAX_DAYS = 36_500  # a hundred years: anything longer is a typo
#: The kinds of record and the default period of each, with the legal basis the docs cite.
DEFAULTS: dict[str, int | None] = {"not_hired_days": 730, "hired_days": None, "evidence_days": 730,
                                   "reports_days": 730}
BASIS = {
    "not_hired_days": "29 CFR 1602.31 (political jurisdictions: 2 years from the record or the personnel action, "
                      "whichever is later; 1602.14: 1 year for private employers)",
    "hired_days": "the personnel file's state records schedule governs",
    "evidence_days": "29 CFR 1602.31 floor; the state records schedule may keep evidence longer",
    "reports_days": "29 CFR 1602.31 floor; the state records schedule may keep reports longer",
}
DEFAULT_RESPONSE_DAYS = 5  # FTC staff: "five business days" is a reasonable period before adverse action

#: Audit actions that are not "the making of a record" about the candidate (they never restart the clock).
_NOT_RECORDS = ("records.", "access.refused")

#: Test seam: called with the name of each disposal step done (a test kills the process there).
after_step: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Settings:
    not_hired_days: int = 730
    hired_days: int | None = None
    evidence_days: int = 730
    reports_days: int = 730
    response_days: int = DEFAULT_RESPONSE_DAYS
    basis: str = ""  # the agency's own citation (its state schedule), shown in the certificate
    source: str = "defaults"

    def period(self, outcome: str) -> tuple[int | None, str]:
        """Days the records of a candidate with ``outcome`` are kept (None: kept), and the rule's name."""
        kind = "hired_days" if outcome == HIRED else "not_hired_days"
        days = getattr(self, kind)
        if days is None:
            return None, kind
        longest = max(days, self.evidence_days, self.reports_days)
        name = kind if longest == days else ("evidence_days" if longest == self.evidence_days else "reports_days")
        return longest, name


def load_settings(ws: Workspace) -> Settings:
    """The workspace's periods (``retention.yaml``), or the defaults; nonsense is refused with its line."""
    from vetting.domain.yamlsource import load_yaml_file

    path = ws.root / SETTINGS_FILE
    if not path.exists():
        return Settings()
    doc = load_yaml_file(path)
    source = str(path)
    problems: list[Problem] = []
    data = doc.data
    if not isinstance(data, dict):
        raise InputError([Problem(source, 1, "", "must be a mapping with 'retention' and 'notice'")])
    values: dict[str, Any] = {}
    for key in data:
        if key not in ("retention", "notice", "basis"):
            problems.append(Problem(source, doc.line_of((key,)), str(key),
                                    "unknown field (one of retention, notice, basis)"))
    if "basis" in data:
        if not isinstance(data["basis"], str) or not data["basis"].strip():
            problems.append(Problem(source, doc.line_of(("basis",)), "basis", "must be text citing the schedule"))
        else:
            values["basis"] = data["basis"].strip()
    retention = data.get("retention", {})
    if not isinstance(retention, dict):
        problems.append(Problem(source, doc.line_of(("retention",)), "retention", "must be a mapping"))
        retention = {}
    for key, value in retention.items():
        where = doc.line_of(("retention", key))
        name = f"retention.{key}"
        if key not in DEFAULTS:
            problems.append(Problem(source, where, name, f"unknown record kind (one of {', '.join(DEFAULTS)})"))
        elif value is None and key == "hired_days":
            values[key] = None
        elif isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(source, where, name, f"must be a whole number of days, not {value!r}"
                                    + (" (only hired_days may be null: kept)" if value is None else "")))
        elif value < MIN_DAYS:
            problems.append(Problem(source, where, name, f"{value} days is shorter than the federal minimum of "
                                                         f"{MIN_DAYS} (29 CFR 1602.14)"))
        elif value > MAX_DAYS:
            problems.append(Problem(source, where, name, f"{value} days is more than {MAX_DAYS} (100 years)"))
        else:
            values[key] = value
    notice = data.get("notice", {})
    if not isinstance(notice, dict):
        problems.append(Problem(source, doc.line_of(("notice",)), "notice", "must be a mapping"))
        notice = {}
    for key, value in notice.items():
        where = doc.line_of(("notice", key))
        if key != "response_days":
            problems.append(Problem(source, where, f"notice.{key}", "unknown field (response_days)"))
        elif isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 90:
            problems.append(Problem(source, where, "notice.response_days",
                                    f"must be a whole number of days from 1 to 90, not {value!r}"))
        else:
            values["response_days"] = value
    if problems:
        raise InputError(problems)
    return Settings(**values, source=source)


# -- the hiring outcome ---------------------------------------------------------------------
def record_outcome(ws: Workspace, candidate_id: str, outcome: str, decided_on: date, actor: str, *,
                   now: Clock = system_clock) -> HiringOutcome:
    """Record that a candidate was hired or not (the personnel action); a later one revises it."""
    from vetting.domain.candidates import candidate_erased
    from vetting.store.lookup import require_candidate

    if outcome not in OUTCOMES:
        raise RecordsRefused(f"the outcome is one of {', '.join(OUTCOMES)}, not {outcome!r}")
    require_candidate(ws, candidate_id)
    if candidate_erased(ws, candidate_id):
        raise RecordsRefused(f"candidate {candidate_id}'s records were disposed of; nothing more is recorded")
    if decided_on > now().date():
        raise RecordsRefused(f"the outcome's date {decided_on} is in the future (today is {now().date()})")
    with ws.transaction() as tx:
        event = tx.record("records.outcome", actor=actor, subject=candidate_id,
                          payload={"outcome": outcome, "decided_on": decided_on.isoformat()})
        row = HiringOutcome(candidate_id=candidate_id, outcome=outcome, decided_on=decided_on, recorded_by=actor,
                            recorded_at=now(), event_seq=event.seq)
        tx.session.add(row)
    ws.audit.checkpoint()
    return row


def outcome_of(ws: Workspace, candidate_id: str) -> HiringOutcome | None:
    with ws.session() as s:
        return s.exec(select(HiringOutcome).where(HiringOutcome.candidate_id == candidate_id)
                      .order_by(HiringOutcome.id.desc())).first()  # type: ignore[union-attr]


# -- what is due ----------------------------------------------------------------------------
@dataclass
class Due:
    """One candidate's records and where they stand."""

    candidate_id: str
    cases: list[str]
    state: str  # due | not due | kept | no outcome | held | incomplete | disposed | erased
    outcome: str = ""
    decided_on: date | None = None
    counted_from: date | None = None
    due_on: date | None = None
    period_days: int | None = None
    rule: str = ""  # e.g. "not_hired_days: 730 days (29 CFR 1602.31 ...)"
    holds: list[int] = field(default_factory=list)
    started: bool = False  # a disposal was started (and not finished: a kill)

    @property
    def to_dispose(self) -> bool:
        """Due (or a started disposal to finish), hold or not."""
        return self.state in ("due", "incomplete") or (self.state == "held" and (self.due_on is not None
                                                                                 or self.started))


def _events_by_candidate(ws: Workspace) -> tuple[dict[str, str], dict[str, list[Any]]]:
    """(case id -> candidate id, candidate id -> their records.* and candidate.erased events) in one pass."""
    with ws.session() as s:
        case_owner = {c.id: c.candidate_id for c in s.exec(select(Case))}
    mine: dict[str, list[Any]] = {}
    for e in ws.audit.events():
        if e.action in ("candidate.erased", "records.disposal_started", "records.disposed",
                        "records.disposal_refused"):
            cid = e.subject if e.action != "records.disposed" else e.payload.get("candidate_id")
            mine.setdefault(str(cid), []).append(e)
    return case_owner, mine


def last_record_date(ws: Workspace, case_ids: list[str]) -> date | None:
    """The day of the latest record made in these cases (not counting records-keeping acts)."""
    last: str | None = None
    for case_id in case_ids:
        for e in ws.audit.events(case_id=case_id):
            if not e.action.startswith(_NOT_RECORDS) and (last is None or e.time > last):
                last = e.time
    return date.fromisoformat(last[:10]) if last else None


def records_status(ws: Workspace, *, now: Clock = system_clock, settings: Settings | None = None) -> list[Due]:
    """Every candidate's records and whether they are due for disposal today (by ``now``)."""
    from vetting.records.holds import active_holds
    from vetting.store.personal import CandidateSecret

    settings = settings or load_settings(ws)
    today = now().date()
    _, events = _events_by_candidate(ws)
    with ws.session() as s:
        candidates = [c.id for c in s.exec(select(Candidate).order_by(Candidate.id))]
        cases: dict[str, list[str]] = {}
        for c in s.exec(select(Case).order_by(Case.id)):
            cases.setdefault(c.candidate_id, []).append(c.id)
        secrets = {row.candidate_id for row in s.exec(select(CandidateSecret))}
    holds: dict[str, list[int]] = {}
    for h in active_holds(ws):
        holds.setdefault(h.case_id, []).append(h.id or 0)
    out = []
    for cid in candidates:
        mine = cases.get(cid, [])
        row = Due(cid, mine, "not due", holds=[h for case in mine for h in holds.get(case, [])])
        acts = {e.action for e in events.get(cid, [])}
        started = row.started = "records.disposal_started" in acts
        if "records.disposed" in acts:
            row.state = "disposed"
        elif started:
            row.state = "held" if row.holds else "incomplete"
            row.rule = next(e.payload.get("rule", "") for e in events[cid] if e.action == "records.disposal_started")
        elif cid not in secrets:
            row.state = "erased"
        if row.state in ("disposed", "erased", "incomplete") or started:
            out.append(row)
            continue
        outcome = outcome_of(ws, cid)
        if outcome is None:
            row.state = "no outcome"
            out.append(row)
            continue
        row.outcome, row.decided_on = outcome.outcome, outcome.decided_on
        days, kind = settings.period(outcome.outcome)
        last = last_record_date(ws, mine)
        row.counted_from = max(d for d in (outcome.decided_on, last) if d is not None)
        if days is None:
            row.state, row.rule = "kept", f"hired_days: kept ({BASIS['hired_days']})"
            out.append(row)
            continue
        row.period_days = days
        row.due_on = row.counted_from + timedelta(days=days)
        row.rule = (f"{kind}: {days} days from {row.counted_from} ({BASIS[kind]})"
                    + (f"; {settings.basis}" if settings.basis else ""))
        if today >= row.due_on:
            row.state = "held" if row.holds else "due"
        out.append(row)
    return out


# -- disposal -------------------------------------------------------------------------------
@dataclass
class Disposed:
    candidate_id: str
    cases: list[str]
    rule: str
    certificates: list[int] = field(default_factory=list)  # the records.disposed events' seqs
    values_erased: int = 0
    files_removed: int = 0
    reports_removed: list[str] = field(default_factory=list)
    resumed: bool = False
    not_reached: list[dict[str, Any]] = field(default_factory=list)  # evidence exports outside the workspace


@dataclass
class DisposalRun:
    disposed: list[Disposed] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (candidate id, why)


def first_event(ws: Workspace, action: str, subject: str) -> Any:
    """The first ``action`` event about ``subject``, or None (one query, read to its end)."""
    from sqlalchemy import select as sa_select

    from audit.log import row_to_event
    from audit.store import audit_event

    with ws.engine.connect() as conn:
        rows = conn.execute(sa_select(audit_event).where(audit_event.c.action == action,
                                                         audit_event.c.subject == subject)
                            .order_by(audit_event.c.seq)).all()
    return row_to_event(rows[0]) if rows else None


def _step(name: str) -> None:
    if after_step is not None:
        after_step(name)


def _extra_evidence(ws: Workspace, candidate_id: str, case_ids: list[str]) -> list[str]:
    """Evidence files of the candidate that the erasure does not know of: the redacted pictures of
    their findings, their responses and attachments; except files another candidate's records hold."""
    mine: set[str] = set()
    others: set[str] = set()
    for e in ws.audit.events():
        if e.action != "evidence.redacted" and e.action != "records.response":
            continue
        paths = {str(a.get("path")) for a in e.payload.get("artifacts") or [] if isinstance(a, dict)}
        (mine if e.case_id in case_ids else others).update(paths)
    with ws.session() as s:
        for r in s.exec(select(CandidateResponse)):
            paths = {r.document_path} | {a["path"] for a in r.attachments()}
            (mine if r.case_id in case_ids else others).update(paths)
        for item in s.exec(select(Item).where(Item.case_id.not_in(case_ids))):  # type: ignore[attr-defined]
            others.update(a["path"] for a in item.artifacts())
        others.update(c.authorization_path for c in s.exec(select(Candidate)) if c.id != candidate_id)
    return sorted(p for p in mine - others if p and p != "None")


def _report_files(ws: Workspace, case_ids: list[str]) -> list[tuple[str, str]]:
    """(path, sha256) of every rendered report naming the candidate: their cases' findings
    reports, and every audit report (it shows every case's trail)."""
    out: dict[str, set[str]] = {}
    for e in ws.audit.events():
        if e.action == "report.rendered" and (e.case_id in case_ids or e.payload.get("kind") == "audit"):
            out.setdefault(str(e.payload.get("path") or e.subject), set()).add(str(e.payload.get("sha256")))
    return [(p, sha) for p, shas in sorted(out.items()) for sha in sorted(shas)]


def _remove_reports(reports: list[tuple[str, str]]) -> list[str]:
    removed = []
    for path_text, sha in reports:
        path = Path(path_text)
        try:
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
                path.unlink()
                removed.append(path_text)
        except OSError:
            continue
    return removed


def _remove_evidence(ws: Workspace, paths: list[str]) -> int:
    removed = 0
    for rel in paths:
        path = ws.evidence_path(rel)
        if path.is_file():
            path.unlink()
            removed += 1
        if ws.evidence_store.remote:
            from vetting.store.erasure import _hex_of

            sha = _hex_of(rel)
            if sha:
                ws.evidence_store.delete(sha)
    return removed


def dispose_candidate(ws: Workspace, due: Due, actor: str, *, now: Clock = system_clock) -> Disposed:
    """Dispose of one candidate's records (all their cases), or finish a disposal a kill interrupted.

    The caller holds the cases' locks and has checked the holds under them.
    """
    from vetting.store import erasure

    cid, cases = due.candidate_id, due.cases
    started = first_event(ws, "records.disposal_started", cid)
    result = Disposed(cid, cases, due.rule, resumed=started is not None)
    extra = _extra_evidence(ws, cid, cases)
    reports = _report_files(ws, cases)
    if started is None:
        payload = {"cases": cases, "rule": due.rule, "as_of": now().date().isoformat(),
                   "due_on": due.due_on.isoformat() if due.due_on else None,
                   "disposed_evidence": {"paths": extra, "prefixes": []},
                   "report_files": [p for p, _ in reports]}
        started = ws.record("records.disposal_started", actor=actor, subject=cid, payload=payload)
        ws.audit.checkpoint()
    else:
        result.rule = str(started.payload.get("rule", due.rule))
        extra = sorted(set(extra) | set(started.payload.get("disposed_evidence", {}).get("paths") or []))
    _step("started")
    result.files_removed = _remove_evidence(ws, extra)
    result.reports_removed = _remove_reports(reports)
    _step("files")
    erased = erasure.erase_candidate(ws, cid, actor, f"retention: {result.rule}")
    result.files_removed += len(erased.files_removed)
    _step("erased")
    erasure_event = first_event(ws, "candidate.erased", cid)
    result.values_erased = int(erasure_event.payload.get("values_erased", 0)) if erasure_event else 0
    exports = [{"file": e.subject, "sha256": e.payload.get("sha256")} for case_id in cases
               for e in ws.audit.events(case_id=case_id) if e.action == "evidence.exported"]
    result.not_reached = exports
    erased_files = (erasure_event.payload.get("disposed_evidence") or {}).get("paths") or [] if erasure_event else []
    with ws.transaction() as tx:
        for case_id in cases or [None]:
            event = tx.record("records.disposed", actor=actor, case_id=case_id, subject=case_id or cid, payload={
                "candidate_id": cid, "rule": result.rule, "as_of": started.payload.get("as_of"),
                "started_event": started.seq, "erasure_event": erasure_event.seq if erasure_event else None,
                "destroyed": {"personal_values": result.values_erased,
                              "evidence_files": len(extra) + len(erased_files),
                              "evidence_folders": [f"warc/{c}" for c in cases],
                              "report_files": result.reports_removed,
                              "report_files_absent": sorted(set(started.payload.get("report_files") or [])
                                                            - set(result.reports_removed)),
                              "method": "deleted from the evidence store and reports folder; database rows "
                                        "overwritten (secure_delete, VACUUM)"},
                "not_reached": exports})
            result.certificates.append(event.seq)
    ws.audit.checkpoint()
    return result


def dispose_due(ws: Workspace, actor: str, *, now: Clock = system_clock) -> DisposalRun:
    """Dispose of every candidate whose records are due (and finish started disposals); held ones
    are refused, each refusal an audit event."""
    from vetting.records.holds import active_holds
    from vetting.store.caselock import case_locks

    settings = load_settings(ws)
    run = DisposalRun()
    for due in records_status(ws, now=now, settings=settings):
        if not due.to_dispose:
            continue
        with case_locks(ws, due.cases, "dispose"):
            held = active_holds(ws, due.cases)  # again under the locks: a hold placed meanwhile wins
            if held:
                why = (f"case {held[0].case_id} is on legal hold (hold {held[0].id}, placed by {held[0].placed_by}): "
                       "not disposed of")
                ws.record("records.disposal_refused", actor=actor, case_id=held[0].case_id, subject=due.candidate_id,
                          payload={"holds": [h.id for h in held], "rule": due.rule,
                                   "due_on": due.due_on.isoformat() if due.due_on else None})
                ws.audit.checkpoint()
                run.refused.append((due.candidate_id, why))
                continue
            run.disposed.append(dispose_candidate(ws, due, actor, now=now))
    return run


# -- the certificates -----------------------------------------------------------------------
@dataclass(frozen=True)
class Certificate:
    seq: int
    time: str
    actor: str
    case_id: str
    candidate_id: str
    rule: str
    as_of: str
    destroyed: dict[str, Any]
    not_reached: list[dict[str, Any]] = field(default_factory=list)  # evidence exports handed out


def certificates(ws: Workspace, tree_size: int | None = None) -> list[Certificate]:
    """Every disposal certificate (``records.disposed``), oldest first, for the audit report."""
    out = []
    for e in ws.audit.events():  # read to the end: a stream left open would keep a stale read snapshot
        if tree_size is not None and e.seq >= tree_size:
            continue
        if e.action == "records.disposed":
            p = e.payload
            out.append(Certificate(e.seq, e.time, e.actor, e.case_id or "", str(p.get("candidate_id", "")),
                                   str(p.get("rule", "")), str(p.get("as_of", "")), dict(p.get("destroyed") or {}),
                                   list(p.get("not_reached") or [])))
    return out

