"""One case in one process: ``python -m vetting.queue.child --workspace DIR --by NAME CASE``.

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

Exit codes: 0 the case is complete (or was cancelled), 1 it could not be completed (the job
is retried), 2 the case does not exist.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vetting.queue.child")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--by", required=True, help="The investigator who queued the case.")
    parser.add_argument("case_id")
    args = parser.parse_args(argv)
    lock = _hold_case_lock(args.case_id)  # noqa: F841 - held until the process ends

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
        plan = open_case(ws, case.candidate_id, case.procedure_id, args.by, fingerprint=case.fingerprint)
        result = run_in_reactor(lambda: run_case(ws, plan, args.by))
    except (ApprovalError, CandidateError, RunError, WorkspaceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result.id}: {result.status}")
    return 0 if result.status in ("complete", "cancelled") else 1


def _hold_case_lock(case_id: str) -> object:
    """Take (waiting if need be) the case's advisory lock; the connection is the lock."""
    import os

    import psycopg

    from vetting.queue.database import libpq_conninfo
    from vetting.store.caselock import advisory_key, session_label

    # The commands' key (vetting.store.caselock): a direct `vet run` of a queued case is refused
    # naming this process, and this process waits for a direct one to finish.
    conn = psycopg.connect(libpq_conninfo(os.environ["VETTING_DATABASE_URL"]), autocommit=True,
                           application_name=session_label("queue-case"))
    conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(case_id),))
    return conn


if __name__ == "__main__":
    sys.exit(main())
