"""``vet worker``: run queued cases, and put back the cases of workers that died.

Procrastinate's worker fetches jobs (LISTEN/NOTIFY, with polling as a fallback), sends a
heartbeat every ``heartbeat`` seconds and runs :func:`vetting.queue.job.run_case_job`. Beside
it runs the reaper: a job still ``doing`` whose worker has sent no heartbeat for
``stalled_after`` seconds belongs to a dead worker (its case process died with it, see
:mod:`vetting.queue.job`), unless its case's lock is still held (then the worker is only late
with its heartbeats on a busy machine and its case is running: :mod:`vetting.queue.child`).
Such a job is put back in the queue (``job.retried``), or recorded failed after
:data:`~vetting.queue.job.RETRIES` retries, or, when someone had asked to cancel it, its steps
left are recorded cancelled. One reaper acts at a time across all workers (an advisory lock),
so a job is never put back twice.

A worker acts for its automation account only while that account may act: a watch reads the
account every heartbeat, and once an administrator disables it (or it loses the automation
role) the worker stops as on SIGTERM (its running case is put back for another worker) and
records ``worker.stopped``. A job whose queuing account is disabled is not run at all
(:func:`vetting.queue.job.run_case_job`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import psycopg
from procrastinate import App
from procrastinate.jobs import Status

from vetting.queue.app import QUEUE, RETRIES, TASK_NAME, ensure_schema, make_app
from vetting.queue.database import REAPER_LOCK, cancel_request, libpq_conninfo
from vetting.store.caselock import HOLDER_SQL, advisory_key, advisory_parts

log = logging.getLogger("vetting.queue.worker")


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def run_worker(ws: Any, login: str, name: str | None = None, concurrency: int = 1, heartbeat: float = 10.0,
               stalled_after: float = 30.0, burst: bool = False, shutdown_grace: float = 30.0) -> None:
    """Run as the automation account ``login`` until stopped (SIGINT/SIGTERM, or the account
    disabled), or with ``burst`` until the queue is empty."""
    # Job starts, outcomes and retries on stderr, for the service manager's journal.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_serve(ws, login, name or default_name(), concurrency, heartbeat, stalled_after, burst,
                       shutdown_grace))


async def _serve(ws: Any, login: str, name: str, concurrency: int, heartbeat: float, stalled_after: float,
                 burst: bool, shutdown_grace: float) -> None:
    app = make_app(ws)
    async with app.open_async():
        await ensure_schema(app, ws)
        interval = max(1.0, heartbeat)
        reaper = asyncio.create_task(_reap_forever(app, ws, name, stalled_after, interval=interval))
        worker = asyncio.create_task(app.run_worker_async(
            queues=[QUEUE], name=name, concurrency=concurrency, wait=not burst,
            update_heartbeat_interval=heartbeat, stalled_worker_timeout=stalled_after,
            shutdown_graceful_timeout=shutdown_grace, abort_job_polling_interval=min(5.0, heartbeat),
            additional_context={"workspace": ws, "worker": name, "login": login}))
        watch = asyncio.create_task(_watch_account(ws, login, name, worker, interval))
        try:
            await worker
        except asyncio.CancelledError:
            if not watch.done() or watch.result() is None:
                raise  # stopped from outside; a stop by the watch is an orderly end
        finally:
            for task in (reaper, watch):
                task.cancel()
            await asyncio.gather(reaper, watch, return_exceptions=True)


async def _watch_account(ws: Any, login: str, name: str, worker: asyncio.Task, interval: float) -> str | None:
    """Stop ``worker`` once ``login`` may no longer run a worker; return why (None: never stopped)."""
    from vetting.people.permissions import refusal

    while True:
        await asyncio.sleep(interval)
        try:
            why = await asyncio.to_thread(_account_refusal, ws, login, refusal)
        except Exception:  # noqa: BLE001 - a failed read is tried again at the next beat
            log.exception("reading the worker's account failed")
            continue
        if why is not None:
            log.warning("worker %s stops: %s", name, why)
            ws.record("worker.stopped", actor=f"user:{login}", subject=name, payload={"reason": why[:300]})
            ws.audit.checkpoint()
            worker.cancel()  # Procrastinate stops as on SIGTERM: the running case is put back
            return why


def _account_refusal(ws: Any, login: str, refusal: Any) -> str | None:
    from vetting.people.models import Account

    with ws.session() as s:
        account = s.get(Account, login)
    if account is None:
        return f"account {login} no longer exists"
    return refusal(ws, account, "queue.work")


async def _reap_forever(app: App, ws: Any, worker: str, stalled_after: float, interval: float) -> None:
    while True:
        try:
            await reap_stalled(app, ws, worker, stalled_after)
        except Exception:  # noqa: BLE001 - a failed round is logged; the next one tries again
            log.exception("reaping stalled jobs failed")
        await asyncio.sleep(interval)


async def reap_stalled(app: App, ws: Any, worker: str, stalled_after: float) -> list[int]:
    """Put back (or close) the jobs of dead workers; return their ids. One reaper at a time."""
    async with await psycopg.AsyncConnection.connect(libpq_conninfo(ws.database_url), autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (REAPER_LOCK,))
        row = await cur.fetchone()
        if not (row and row[0]):
            return []
        try:
            stalled = list(await app.job_manager.get_stalled_jobs(task_name=TASK_NAME,
                                                                  seconds_since_heartbeat=stalled_after))
            reaped = []
            for job in stalled:
                if await _case_running(conn, job.lock):
                    # its case process holds the case lock: the worker is late, not dead
                    log.warning("job %s: worker %s is late with its heartbeat, but its case is running",
                                job.id, job.worker_id)
                    continue
                await _reap_one(app, ws, worker, job, stalled_after)
                reaped.append(job.id)
            return reaped
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (REAPER_LOCK,))


async def _case_running(conn: psycopg.AsyncConnection, case_id: str) -> bool:
    """Whether a process holds the case's lock (vetting.queue.child, or a direct ``vet run``).

    Read from ``pg_locks`` rather than by trying the lock: a try would hold the case for an
    instant, and a ``vet run`` of it at that instant would be refused as busy.
    """
    hi, lo = advisory_parts(advisory_key(case_id))
    row = await (await conn.execute(HOLDER_SQL.format(hi="%s", lo="%s"), (hi, lo))).fetchone()
    return row is not None


async def _reap_one(app: App, ws: Any, worker: str, job: Any, stalled_after: float) -> None:
    case_id = job.lock
    actor = f"system:worker/{worker}"
    subject = f"job-{job.id}"
    cancel = cancel_request(ws.engine, case_id)
    if cancel is not None:
        from vetting.engine.cancellation import cancel_remaining_steps, committed_reason

        await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
        who, why = cancel
        steps = cancel_remaining_steps(ws, case_id, who, why)
        ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": job.attempts + 1, "outcome": "cancelled",
                           "cancelled_by": who, "reason": committed_reason(ws, case_id, why),
                           "steps_cancelled": steps,
                           "note": "its worker had died"})
    elif job.attempts >= RETRIES:
        await app.job_manager.finish_job(job, status=Status.FAILED, delete_job=False)
        ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": job.attempts + 1, "outcome": "failed",
                           "reason": f"its worker stopped sending heartbeats (attempt {job.attempts + 1}, "
                                     "no retry left)", "will_retry": False})
    else:
        await app.job_manager.retry_job(job)
        ws.record("job.retried", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": job.attempts + 2,
                           "reason": f"its worker (id {job.worker_id}) sent no heartbeat for over "
                                     f"{stalled_after:g} s"})
    ws.audit.checkpoint()
