"""Cases: running (or queueing) the search, cancelling it, listing cases, assigning them.

Who may run what: an investigator opens a new case by running it, and the case is then
assigned to them (``case.assigned``, recorded as opened by them); afterwards only an
investigator the case is assigned to resumes it. An automation account (the demo, scripts)
may open and run any case but decides nothing: its cases wait for a supervisor or commander
to assign them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vetting.people.permissions import authorize
from vetting.services.registry import service

if TYPE_CHECKING:
    from rich.console import Console

    from vetting.domain.models import Case
    from vetting.people.models import Account, CaseAssignment
    from vetting.store.workspace import Workspace


def _authorize_cases(ws: Workspace, account: Account, case_ids: list[str]) -> list[str]:
    """Check the account may run each case (opening the new ones); return the ids of the new ones."""
    from vetting.domain.models import Case

    with ws.session() as s:
        new = [cid for cid in case_ids if s.get(Case, cid) is None]
    for cid in dict.fromkeys(case_ids):
        if cid in new:
            authorize(ws, account, "case.open", subject=cid)
        else:
            authorize(ws, account, "case.run", cid)
    return new


def _is_new(ws: Workspace, case_id: str) -> bool:
    from vetting.domain.models import Case

    with ws.session() as s:
        return s.get(Case, case_id) is None


def _open_cases(ws: Workspace, account: Account, candidate_ids: list[str], procedure_id: str,
                new: list[str]) -> list[Any]:
    from vetting.engine.runs import plan_cases
    from vetting.people.assignments import assign_opener

    plans = plan_cases(ws, candidate_ids, procedure_id, account.actor)
    if account.has_role("investigator"):
        for plan in plans:
            if plan.case.id in new:
                assign_opener(ws, plan.case.id, account)
    return plans


@service("case.run", "case.open")
def run_cases(ws: Workspace, account: Account, candidate_ids: list[str], procedure_id: str, *,
              console: Console | None = None, wait: bool = False) -> list[Case]:
    """Run (or resume) every step of the approved procedure for each candidate's case.

    Everything is checked before the first request: the candidates, the procedure, the
    account's right to each case; then each case's lock is held until its run ends.
    """
    from rich.console import Console

    from vetting.engine.runs import planned_case_ids, run_plans
    from vetting.store.caselock import case_locks

    console = console or Console()
    case_ids = planned_case_ids(ws, candidate_ids, procedure_id)
    _authorize_cases(ws, account, case_ids)
    with case_locks(ws, case_ids, "run", wait=wait, on_wait=lambda m: console.print(m, markup=False)):
        new = _authorize_cases(ws, account, case_ids)  # again under the locks: another may have opened one
        plans = _open_cases(ws, account, candidate_ids, procedure_id, new)
        return run_plans(ws, plans, account.actor, console)


@dataclass(frozen=True)
class Started:
    """A run started from the web application: its case, and how it runs."""

    case_id: str
    how: str  # "process" (a detached case process, SQLite) or the queue's note ("queued", "already running"...)
    pid: int | None = None
    log: str | None = None  # the case process's log, relative to the workspace
    process: Any = None  # the subprocess.Popen of the case process (the caller may reap it)


#: How long a browser's start waits for a case another process briefly holds (an opening, a decision).
START_LOCK_WAIT = 2.0


@service("case.run", "case.open")
def start_case(ws: Workspace, account: Account, candidate_id: str, procedure_id: str) -> Started:
    """Start the run of one candidate's case and return at once: what the web application does.

    The same checks as :func:`run_cases` (everything validated, the account's right to open or
    resume the case, the opening investigator assigned), under the case's lock. Then, on
    PostgreSQL, the case is deferred to the queue's workers (:func:`queue_cases`); on SQLite it
    runs in a process of its own (:func:`vetting.queue.child.start_detached`) that outlives the
    request and the web server, holding the case's lock to the end, so a second start is
    refused (:class:`~vetting.store.caselock.CaseBusy`) while it runs.
    """
    from vetting.engine.runs import planned_case_ids
    from vetting.people.permissions import authorize_role
    from vetting.store.caselock import case_lock

    (case_id,) = planned_case_ids(ws, [candidate_id], procedure_id)
    # Before the lock only the role: the whole check (assignment included) is made under the
    # lock, since another start may be between opening the case and assigning its opener.
    authorize_role(ws, account, "case.open" if _is_new(ws, case_id) else "case.run", subject=case_id)
    if ws.engine.dialect.name == "postgresql":  # the queue's own checks, and its jobs' case lock
        (deferred,) = queue_cases(ws, account, [candidate_id], procedure_id)
        return Started(deferred.case_id, deferred.note)
    with case_lock(ws, case_id, "run (starting)", wait=START_LOCK_WAIT):
        new = _authorize_cases(ws, account, [case_id])  # again under the lock: another may have opened it
        (plan,) = _open_cases(ws, account, [candidate_id], procedure_id, new)
    if plan.case.status != "open":  # complete or cancelled: nothing is left to run
        return Started(case_id, f"already {plan.case.status}")
    from vetting.queue.child import start_detached

    log = f"runs/{case_id}.log"
    proc = start_detached(ws, case_id, account.actor, ws.root / log, lock_wait=START_LOCK_WAIT)
    ws.record("case.run_started", actor=account.actor, case_id=case_id, subject=candidate_id,
              payload={"pid": proc.pid, "log": log, "how": "case process"})
    return Started(case_id, "process", proc.pid, log, proc)


@service("case.run", "case.open")
def queue_cases(ws: Workspace, account: Account, candidate_ids: list[str], procedure_id: str) -> list[Any]:
    """``vet run --queue``: one job per case for the workers (PostgreSQL); the job runs as this account."""
    from vetting.engine.runs import planned_case_ids
    from vetting.queue.control import defer_cases

    new = _authorize_cases(ws, account, planned_case_ids(ws, candidate_ids, procedure_id))
    deferred = defer_cases(ws, candidate_ids, procedure_id, account.actor)
    if account.has_role("investigator"):
        from vetting.people.assignments import assign_opener, is_assigned

        for d in deferred:
            if d.case_id in new and not is_assigned(ws, d.case_id, account.login):
                assign_opener(ws, d.case_id, account)
    return deferred


@service("case.cancel")
def cancel_case(ws: Workspace, account: Account, case_id: str, reason: str, *, wait_seconds: float = 60.0) -> Any:
    from vetting.queue.control import cancel_case as cancel

    authorize(ws, account, "case.cancel", case_id)
    return cancel(ws, case_id, account.actor, reason, wait_seconds=wait_seconds)


@service("queue.status")
def queue_status(ws: Workspace, account: Account) -> Any:
    from vetting.queue.control import queue_status as status

    authorize(ws, account, "queue.status")
    return status(ws)


@service("queue.work")
def start_worker(ws: Workspace, account: Account, **options: Any) -> None:
    """Run queued cases until stopped; each job runs as the account that queued it."""
    from vetting.queue.worker import run_worker

    authorize(ws, account, "queue.work")
    run_worker(ws, account.login, **options)


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list: what an investigator needs to find the CASE ids."""

    case: Case
    procedure: str  # "id vN"
    steps: list[str]  # each step's status, in order
    awaiting: int  # reviewable items without a decision in force
    assigned: list[str]  # logins of the investigators assigned


@service("case.list")
def list_cases(ws: Workspace, account: Account, candidate_id: str | None = None) -> list[CaseRow]:
    """Every case (or one candidate's), read in a few queries whatever their number: the case
    list and the candidates page show all of them at once."""
    from sqlmodel import select

    from vetting.domain.models import Case, ProcedureVersion, StepRun
    from vetting.people.models import CaseAssignment
    from vetting.review.validation import awaiting_counts
    from vetting.store.lookup import require_candidate

    authorize(ws, account, "case.list")
    if candidate_id is not None:
        require_candidate(ws, candidate_id)
    with ws.session() as s:
        query = select(Case).order_by(Case.candidate_id, Case.opened_at)
        if candidate_id:
            query = query.where(Case.candidate_id == candidate_id)
        cases = list(s.exec(query))
        ids = [c.id for c in cases]
        versions = {v.fingerprint: v for v in s.exec(select(ProcedureVersion))}
        steps: dict[str, list[str]] = {}
        for run in s.exec(select(StepRun).where(StepRun.case_id.in_(ids)).order_by(StepRun.position)):  # type: ignore[attr-defined]
            steps.setdefault(run.case_id, []).append(run.status)
        assigned: dict[str, list[str]] = {}
        for a in s.exec(select(CaseAssignment).where(CaseAssignment.case_id.in_(ids),  # type: ignore[attr-defined]
                                                     CaseAssignment.ended_at == None)):  # noqa: E711
            assigned.setdefault(a.case_id, []).append(a.login)
    awaiting = awaiting_counts(ws, ids)
    rows = []
    for case in cases:
        version = versions[case.fingerprint]
        rows.append(CaseRow(case, f"{version.procedure_id} v{version.version}", steps.get(case.id, []),
                            awaiting[case.id], sorted(assigned.get(case.id, []))))
    return rows


@service("case.assign")
def assign_case(ws: Workspace, account: Account, case_id: str, login: str) -> CaseAssignment:
    from vetting.people.assignments import assign_case as assign

    return assign(ws, case_id, login, actor=account)


@service("case.unassign")
def unassign_case(ws: Workspace, account: Account, case_id: str, login: str) -> CaseAssignment:
    from vetting.people.assignments import end_assignment

    return end_assignment(ws, case_id, login, actor=account)


@service("case.timeline")
def case_timeline(ws: Workspace, account: Account, case_id: str) -> list[Any]:
    """The case's audit events, oldest first.

    The act is checked before the case is looked up: an investigator naming a case that is not
    theirs, or that does not exist, is refused alike (whether a case exists is not told to
    someone who may not read it); a supervisor naming an unknown case is told so (exit 2).
    """
    from vetting.store.lookup import require_case

    authorize(ws, account, "case.timeline", case_id)
    require_case(ws, case_id)
    return list(ws.audit.events(case_id=case_id))


@dataclass(frozen=True)
class CaseOverview:
    """One case as its page shows it: the case, its candidate's name, its steps, and every
    reviewable item with its decision in force (None: it awaits one)."""

    case: Case
    candidate_name: str
    procedure: str  # "id vN"
    steps: list[Any]  # StepRun rows, in order
    items: list[tuple[Any, Any]]  # (an item's id, kind, url, final_url, outcome, title; its Decision | None)
    assigned: list[str]


@service("case.review")
def case_overview(ws: Workspace, account: Account, case_id: str) -> CaseOverview:
    """What the case page shows; the evidence is re-hashed on each item's page, not here."""
    from vetting.domain.models import Candidate, ProcedureVersion
    from vetting.engine.steps import step_runs
    from vetting.people.assignments import assigned_investigators
    from vetting.review.validation import item_lines_and_decisions
    from vetting.store.lookup import require_case
    from vetting.store.personal import Revealer

    authorize(ws, account, "case.review", case_id)
    case = require_case(ws, case_id)
    with ws.session() as s:
        candidate = s.get(Candidate, case.candidate_id)
        version = s.get(ProcedureVersion, case.fingerprint)
        name = Revealer(s, case.candidate_id)(candidate.full_name) if candidate else case.candidate_id
    return CaseOverview(case, name,
                        f"{version.procedure_id} v{version.version}" if version else case.procedure_id,
                        step_runs(ws, case_id), item_lines_and_decisions(ws, case_id),
                        assigned_investigators(ws, case_id))
