"""Deferring cases, the queue's status, and cancelling a case: what ``vet run --queue``,
``vet queue status`` and ``vet queue cancel`` (and the web application) call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import text
from sqlmodel import select

from vetting.domain.models import STEP_TERMINAL, Case, StepRun
from vetting.engine.steps import RunError
from vetting.queue.app import QUEUE, TASK_NAME, ensure_schema, make_app
from vetting.queue.database import record_cancel_request

#: Procrastinate's job states, as the queue commands name them.
STATE_NAMES = {"todo": "queued", "doing": "running", "succeeded": "done", "failed": "failed",
               "cancelled": "cancelled", "aborted": "cancelled", "aborting": "running"}


@dataclass
class Deferred:
    case_id: str
    candidate_id: str
    job_id: int | None
    note: str  # "queued" | "already queued" | "already running" | "already complete" ...


def defer_cases(ws: Any, candidate_ids: list[str], procedure_id: str, by: str) -> list[Deferred]:
    """Open (or find) each candidate's case and queue one job per case not yet done.

    Everything is validated first, as for ``vet run``: an unknown candidate, a missing
    authorization or an unapproved procedure refuses the whole command and queues nothing.
    """
    from vetting.engine.runs import plan_cases

    app = make_app(ws)  # refuses SQLite before any case is opened
    plans = plan_cases(ws, candidate_ids, procedure_id, by)
    return asyncio.run(_defer(app, ws, [(p.case, p.candidate.id) for p in plans], by))


async def _defer(app: Any, ws: Any, cases: list[tuple[Case, str]], by: str) -> list[Deferred]:
    out: list[Deferred] = []
    async with app.open_async():
        await ensure_schema(app, ws)
        for case, candidate_id in cases:
            with ws.session() as s:
                status = s.get(Case, case.id).status  # type: ignore[union-attr]
            if status != "open":
                out.append(Deferred(case.id, candidate_id, None, f"already {status}"))
                continue
            running = list(await app.job_manager.list_jobs_async(task=TASK_NAME, lock=case.id, status="doing"))
            if running:
                out.append(Deferred(case.id, candidate_id, running[0].id, "already running"))
                continue
            try:
                job_id = await app.configure_task(TASK_NAME, lock=case.id, queueing_lock=case.id).defer_async(
                    case_id=case.id, by=by)
            except AlreadyEnqueued:
                queued = list(await app.job_manager.list_jobs_async(task=TASK_NAME, lock=case.id, status="todo"))
                out.append(Deferred(case.id, candidate_id, queued[0].id if queued else None, "already queued"))
                continue
            ws.record("job.deferred", actor=by, case_id=case.id, subject=f"job-{job_id}",
                      payload={"job_id": job_id, "queue": QUEUE, "candidate": candidate_id})
            out.append(Deferred(case.id, candidate_id, job_id, "queued"))
    ws.audit.checkpoint()
    return out


@dataclass
class JobRow:
    job_id: int
    case_id: str
    candidate_id: str
    state: str  # queued | running | failed | done | cancelled
    attempts: int  # attempts started
    steps_done: int
    steps_total: int
    since: Any  # time of the job's last state change


@dataclass
class QueueStatus:
    jobs: list[JobRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {name: 0 for name in ("queued", "running", "failed", "done", "cancelled")}
        for j in self.jobs:
            out[j.state] = out.get(j.state, 0) + 1
        return out


_JOBS_SQL = text("""
SELECT DISTINCT ON (j.lock) j.id, j.lock, j.status::text AS status, j.attempts,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS since
  FROM procrastinate_jobs j
 WHERE j.task_name = :task
 ORDER BY j.lock, j.id DESC
""")


def queue_status(ws: Any) -> QueueStatus:
    """The latest job of every case ever queued, with its case's step progress."""
    app = make_app(ws)
    asyncio.run(_ensure(app, ws))
    status = QueueStatus()
    with ws.engine.connect() as conn:
        rows = conn.execute(_JOBS_SQL, {"task": TASK_NAME}).all()
    with ws.session() as s:
        for row in rows:
            case = s.get(Case, row.lock)
            runs = list(s.exec(select(StepRun).where(StepRun.case_id == row.lock)))
            # Procrastinate counts the attempts that ended; a running job is one more.
            tries = row.attempts + (1 if row.status == "doing" else 0)
            status.jobs.append(JobRow(row.id, row.lock, case.candidate_id if case else "?",
                                      STATE_NAMES.get(row.status, row.status), tries,
                                      sum(r.status in STEP_TERMINAL for r in runs), len(runs), row.since))
    status.jobs.sort(key=lambda j: (j.state, j.case_id))
    return status


async def _ensure(app: Any, ws: Any) -> None:
    async with app.open_async():
        await ensure_schema(app, ws)


@dataclass
class CancelResult:
    case_id: str
    jobs: list[int]
    confirmed: bool  # the case's process has ended and its steps left are recorded cancelled
    steps: list[str]  # the steps recorded cancelled


def cancel_case(ws: Any, case_id: str, by: str, reason: str, wait_seconds: float = 60.0) -> CancelResult:
    """Cancel the case's queued or running job; record the steps left as ``cancelled``.

    A queued job is cancelled at once. A running one is asked to abort: its worker ends the
    case's process, then records the steps left (:mod:`vetting.queue.job`). This waits up to
    ``wait_seconds`` for that; if the worker is dead, the reaper records them when it notices.
    """
    from vetting.engine.cancellation import cancel_remaining_steps

    by, reason = by.strip(), reason.strip()
    if not by:
        raise RunError("--by must name the person cancelling")
    app = make_app(ws)
    with ws.session() as s:
        if s.get(Case, case_id) is None:
            raise RunError(f"no case {case_id!r}; list the cases with: vet case list")
    jobs = asyncio.run(_request_cancel(app, ws, case_id, by, reason))
    if not jobs:
        raise RunError(f"case {case_id} has no queued or running job (see: vet queue status)")
    deadline = time.monotonic() + wait_seconds
    while True:
        states = asyncio.run(_job_states(app, case_id))
        if "doing" not in states.values():
            break
        if time.monotonic() > deadline:
            return CancelResult(case_id, jobs, False, _cancelled_steps(ws, case_id))
        time.sleep(0.5)
    # The process has ended (or never started): record the steps left, if the worker did not.
    cancel_remaining_steps(ws, case_id, by, reason)
    return CancelResult(case_id, jobs, True, _cancelled_steps(ws, case_id))


async def _request_cancel(app: Any, ws: Any, case_id: str, by: str, reason: str) -> list[int]:
    from vetting.engine.cancellation import committed_reason

    async with app.open_async():
        await ensure_schema(app, ws)
        live = [j for status in ("todo", "doing")
                for j in await app.job_manager.list_jobs_async(task=TASK_NAME, lock=case_id, status=status)]
        if not live:
            return []
        record_cancel_request(ws.engine, case_id, by, reason)
        ws.record("job.cancelled", actor=by, case_id=case_id, subject=f"job-{live[0].id}",
                  payload={"job_ids": [j.id for j in live], "reason": committed_reason(ws, case_id, reason),
                           "states": {str(j.id): STATE_NAMES.get(str(j.status), str(j.status)) for j in live}})
        for job in live:
            await app.job_manager.cancel_job_by_id_async(job.id, abort=True)  # queued: cancelled; running: aborted
        return [j.id for j in live if j.id is not None]


async def _job_states(app: Any, case_id: str) -> dict[int, str]:
    async with app.open_async():
        return {j.id: str(j.status) for j in await app.job_manager.list_jobs_async(task=TASK_NAME, lock=case_id)}


def _cancelled_steps(ws: Any, case_id: str) -> list[str]:
    with ws.session() as s:
        return [r.step_id for r in s.exec(select(StepRun).where(StepRun.case_id == case_id)
                                          .where(StepRun.status == "cancelled").order_by(StepRun.position))]
