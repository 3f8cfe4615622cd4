"""What one queue job does: run its case in a child process, and end it on cancel.

The child is started in a session of its own (so cancel ends it and what it started) and
with ``PR_SET_PDEATHSIG``: if the worker is killed (``kill -9``, a crash, the machine's OOM
killer), the kernel kills the child too, so a case is never left running without its job and
the retried job never races an orphan. Audit events: ``job.started``, ``job.finished`` (with
the outcome), ``job.retried`` (a failed attempt that will run again), and on a cancel the
steps left recorded ``cancelled`` (:func:`vetting.engine.cancellation.cancel_remaining_steps`).
A job whose queuing account may no longer run the case (disabled, or taken off the case)
ends ``refused`` before any process starts, and is not retried.

The child's environment is the worker's: ``VETTING_DATABASE_URL`` and any other ``VETTING_*``
setting of the worker (an evidence store's location, when there is one) reach the case
process unchanged, so every case a worker runs is configured alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from typing import Any

from procrastinate import JobContext
from procrastinate.exceptions import JobAborted
from procrastinate.job_context import AbortReason

#: The task's name and queue, and its retry policy (the app registers the task with them).
TASK_NAME = "vetting.run_case"
QUEUE = "cases"
RETRIES = 2  # after the first attempt: three attempts in all
RETRY_WAIT = 5  # seconds
#: Seconds a cancelled case process gets to end after SIGTERM before SIGKILL.
TERMINATE_GRACE = 5.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGKILL when the worker dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the reaper's retry still resumes the case
        pass


class CaseJobFailed(Exception):
    """The case process ended without completing the case (retried, then recorded failed)."""


async def start_case_process(ws: Any, case_id: str, by: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vetting.queue.child", "--workspace", str(ws.root), "--actor", by, case_id,
        env=dict(os.environ, VETTING_DATABASE_URL=ws.database_url),
        start_new_session=True, preexec_fn=_die_with_parent)


async def end_case_process(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the case's process group, then SIGKILL what is left after the grace period."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), TERMINATE_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def queuer_refusal(ws: Any, by: str, case_id: str) -> str | None:
    """Why the account that queued the case may not run it now (None: it may). Checked when the
    job starts, not only when it was queued: an account disabled in between acts no more."""
    from vetting.people.models import Account
    from vetting.people.permissions import refusal

    if not by.startswith("user:"):
        return None  # a job queued before accounts existed names no account
    with ws.session() as s:
        account = s.get(Account, by.removeprefix("user:"))
    if account is None:
        return f"the account {by} that queued the case does not exist"
    return refusal(ws, account, "case.run", case_id)


async def run_case_job(context: JobContext, case_id: str, by: str) -> str:
    """The task: run (or resume) the case in a child process; raise so a failure is retried."""
    ws = context.additional_context["workspace"]
    worker = context.additional_context["worker"]
    job = context.job
    actor = f"system:worker/{worker}"
    subject = f"job-{job.id}"
    attempt = job.attempts + 1
    refused = await asyncio.to_thread(queuer_refusal, ws, by, case_id)
    if refused is not None:  # disabled, or no longer on the case, since it queued it: never run as them
        ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": attempt, "outcome": "refused", "reason": refused[:300]})
        ws.audit.checkpoint()
        raise JobAborted(f"case {case_id}: {refused}")
    began = time.monotonic()
    # The process is started even if a cancel arrives meanwhile, so that it is never left behind.
    spawn = asyncio.ensure_future(start_case_process(ws, case_id, by))
    try:
        proc = await asyncio.shield(spawn)
        cancelled = False
    except asyncio.CancelledError:
        proc = await spawn
        cancelled = True
    ws.record("job.started", actor=actor, case_id=case_id, subject=subject,
              payload={"job_id": job.id, "attempt": attempt, "worker": worker, "host": socket.gethostname(),
                       "pid": proc.pid})
    try:
        if cancelled:
            raise asyncio.CancelledError
        code = await proc.wait()
    except asyncio.CancelledError:
        await end_case_process(proc)
        await _after_cancel(context, ws, case_id, actor, subject, attempt)
        raise
    seconds = round(time.monotonic() - began, 3)  # the case process's run time
    if code == 0:
        ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": attempt, "outcome": "succeeded", "seconds": seconds})
        ws.audit.checkpoint()
        return "complete"
    will_retry = job.attempts < RETRIES
    ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
              payload={"job_id": job.id, "attempt": attempt, "outcome": "failed", "exit_code": code,
                       "will_retry": will_retry, "seconds": seconds})
    if will_retry:
        ws.record("job.retried", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": attempt + 1, "reason": f"case process exit code {code}"})
    ws.audit.checkpoint()
    raise CaseJobFailed(f"case {case_id}: the case process ended with exit code {code}")


async def _after_cancel(context: JobContext, ws: Any, case_id: str, actor: str, subject: str, attempt: int) -> None:
    """The case's process has ended: record why. A person's cancel ends the job ``aborted``
    (raises :class:`JobAborted`); a worker shutdown lets Procrastinate put the job back."""
    job = context.job
    if context.abort_reason() == AbortReason.USER_REQUEST:
        from vetting.engine.cancellation import cancel_remaining_steps, committed_reason
        from vetting.queue.database import cancel_request

        who, why = cancel_request(ws.engine, case_id) or ("unknown", "job aborted")
        steps = cancel_remaining_steps(ws, case_id, who, why)
        ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": attempt, "outcome": "cancelled",
                           "cancelled_by": who, "reason": committed_reason(ws, case_id, why),
                           "steps_cancelled": steps})
        ws.audit.checkpoint()
        # JobAborted, not the CancelledError: the job ends ``aborted`` and is never retried
        raise JobAborted(f"case {case_id} cancelled by {who}: {why}") from None
    will_retry = job.attempts < RETRIES
    ws.record("job.finished", actor=actor, case_id=case_id, subject=subject,
              payload={"job_id": job.id, "attempt": attempt, "outcome": "interrupted",
                       "reason": "the worker was stopped", "will_retry": will_retry})
    if will_retry:
        ws.record("job.retried", actor=actor, case_id=case_id, subject=subject,
                  payload={"job_id": job.id, "attempt": attempt + 1, "reason": "worker stopped"})
    ws.audit.checkpoint()
