"""One case in one process: ``python -m vetting.queue.child --workspace DIR --actor user:LOGIN CASE``.

What a queue job starts (:mod:`vetting.queue.job`). A fresh process per case gets its own
Twisted reactor (which cannot restart) and its own browser, and a crash, a leak or a hung
browser ends with the process, not with the worker. The case resumes where it stopped, like
``vet run``: steps already terminal are kept, items already captured are not fetched again.

Before anything else the process takes the case's advisory lock in PostgreSQL (a session
lock: the server frees it when the process dies) and holds it to the end. It is the same lock
as the commands' (:func:`vetting.store.caselock.advisory_key`): a ``vet run``, ``validate``,
``concur`` or ``candidate erase`` of the case is refused while it runs (exit 3, naming this
process), and it waits for one of them to finish. It is the proof that
the case is running: the reaper never puts back a job whose case lock is held (a worker late
with its heartbeats, not dead), and a second process for one case waits for the first.

On a SQLite workspace (no queue, one machine: a run started from the web application,
:func:`vetting.services.cases.start_case`) the lock is the commands' ``flock`` on the case's
lock file instead, taken within ``--lock-wait`` seconds or refused (exit 3). With
``--ready-fd N`` the process writes ``locked`` to that descriptor once it holds the lock and
closes it: the starter learns whether this process, and no other, runs the case.

Exit codes: 0 the case is complete (or was cancelled), 1 it could not be completed (the job
is retried), 2 the case does not exist, 3 another process holds the case.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vetting.queue.child")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--actor", required=True,
                        help="The audit actor of the account that queued the case (from the job, set by the worker).")
    parser.add_argument("--lock-wait", type=float, default=None,
                        help="SQLite: seconds to wait for the case's lock before refusing (default: for ever).")
    parser.add_argument("--ready-fd", type=int, default=None,
                        help="A descriptor to write 'locked' to once the case's lock is held.")
    parser.add_argument("case_id")
    args = parser.parse_args(argv)
    from vetting.store.caselock import CaseBusy
    from vetting.store.workspace import WorkspaceError

    try:
        lock = _hold_case_lock(args.case_id, args.workspace, args.lock_wait)  # noqa: F841 - held to the end
    except CaseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except WorkspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.ready_fd is not None:
        _say_ready(args.ready_fd)

    from vetting.domain.approvals import ApprovalError
    from vetting.domain.candidates import CandidateError
    from vetting.domain.models import Case
    from vetting.engine.reactor import run_in_reactor
    from vetting.engine.steps import RunError, open_case, run_case
    from vetting.store.workspace import Workspace, WorkspaceError

    try:
        ws = Workspace.open(args.workspace, create=False)
        with ws.session() as s:
            case = s.get(Case, args.case_id)
        if case is None:
            print(f"error: no case {args.case_id!r} in {args.workspace}", file=sys.stderr)
            return 2
        if case.status != "open":
            print(f"{case.id}: {case.status}")
            return 0
        plan = open_case(ws, case.candidate_id, case.procedure_id, args.actor, fingerprint=case.fingerprint)
        result = run_in_reactor(lambda: run_case(ws, plan, args.actor))
    except (ApprovalError, CandidateError, RunError, WorkspaceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result.id}: {result.status}")
    return 0 if result.status in ("complete", "cancelled") else 1


def _say_ready(fd: int) -> None:
    import os

    try:
        os.write(fd, b"locked\n")
    finally:
        os.close(fd)


def _hold_case_lock(case_id: str, workspace: Path | None = None, wait: float | None = None) -> object:
    """Take (waiting if need be) the case's lock; what is returned holds it while it lives.

    PostgreSQL: the advisory lock of a connection of its own (the connection is the lock).
    SQLite: the case's lock file, as ``vet run`` takes it (:mod:`vetting.store.caselock`).
    """
    import os

    if workspace is not None and not os.environ.get("VETTING_DATABASE_URL", "").startswith("postgresql"):
        import contextlib

        from vetting.store.caselock import case_lock
        from vetting.store.workspace import Workspace

        held = contextlib.ExitStack()
        held.enter_context(case_lock(Workspace.open(workspace, create=False), case_id, "run (case process)",
                                     wait=True if wait is None else wait))
        return held

    import psycopg

    from vetting.queue.database import libpq_conninfo
    from vetting.store.caselock import advisory_key, session_label

    # The commands' key (vetting.store.caselock): a direct `vet run` of a queued case is refused
    # naming this process, and this process waits for a direct one to finish.
    conn = psycopg.connect(libpq_conninfo(os.environ["VETTING_DATABASE_URL"]), autocommit=True,
                           application_name=session_label("queue-case"))
    conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(case_id),))
    return conn


class CaseProcessRefused(Exception):
    """The detached case process did not take the case (busy: :class:`CaseBusy` instead)."""


#: Seconds a detached case process may take to start and lock its case before it is given up.
START_TIMEOUT = 60.0


def start_detached(ws: object, case_id: str, actor: str, log_path: Path, *, lock_wait: float = 2.0) -> object:
    """Start this module for one case in a process of its own that outlives its starter.

    What the web application does on a SQLite workspace (no queue, no workers): the process is
    in a session of its own (a signal to the web server's process group never reaches it),
    writes to ``log_path``, and is returned (a ``subprocess.Popen``) only once it holds the
    case's lock. When another process holds the case, :class:`CaseBusy` is raised naming it;
    when the process ends before locking for any other reason, :class:`CaseProcessRefused`
    with the end of its log.
    """
    import os
    import select
    import subprocess

    from vetting.store.caselock import CaseBusy

    root = Path(ws.root)  # type: ignore[attr-defined]
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vetting.queue.child", "--workspace", str(root), "--actor", actor,
                 "--lock-wait", str(lock_wait), "--ready-fd", str(write_end), case_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_end,),
                start_new_session=True, close_fds=True)
        os.close(write_end)
        write_end = -1
        ready, _, _ = select.select([read_end], [], [], START_TIMEOUT)
        said = os.read(read_end, 64) if ready else b""
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)
    if said.startswith(b"locked"):
        return proc
    if not ready:
        proc.kill()
    code = proc.wait()
    tail = log_path.read_text(encoding="utf-8", errors="replace")[-600:].strip()
    if code == 3:
        raise CaseBusy(tail.splitlines()[-1].removeprefix("error: ") if tail else f"case {case_id} is busy")
    raise CaseProcessRefused(f"the case process for {case_id} ended before it took the case "
                             f"(exit code {code}): {tail[-300:]}")


if __name__ == "__main__":
    sys.exit(main())
