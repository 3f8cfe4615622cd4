"""One run per case: real concurrent processes, on SQLite and PostgreSQL, and kill -9 frees the lock."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, vet
from test_engine import cli_workspace, local_procedure, shipped_step

from vetting.store.caselock import CaseBusy, case_lock
from vetting.store.workspace import Workspace

PROC = "kcpd-261-1-preemployment"
RUN = ["run", "jane-doe", "--procedure", PROC, "--by", "Inv. Lee"]

HOLDER = """
import sys, time
from pathlib import Path
from vetting.store.caselock import case_lock
from vetting.store.workspace import Workspace
ws = Workspace.open(Path(sys.argv[1]), create=False)
with case_lock(ws, sys.argv[2], "test-holder"):
    print("held", flush=True)
    time.sleep(300)
"""


def vet_popen(ws: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="200", NO_COLOR="1", **(env or {})))


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def lock_holder_pid(ws: Path) -> int | None:
    for path in (ws / "locks").glob("*.lock") if (ws / "locks").is_dir() else ():
        try:
            return int(json.loads(path.read_text() or "{}").get("pid") or 0) or None
        except ValueError:
            return None
    return None


def test_second_run_refused_waiter_takes_over_after_kill_9(tmp_path: Path, demo_web, auth_file: Path) -> None:
    urls = [demo_web.base_url("news") + f"/no-such-article-{n}" for n in range(12)]
    ws = cli_workspace(tmp_path, auth_file, [shipped_step(0, inputs=[], sources=urls)],
                       rate_limit={"delay_seconds": 0.4, "concurrency_per_domain": 1})
    first = vet_popen(ws, *RUN)
    try:
        wait_for(lambda: lock_holder_pid(ws) == first.pid or first.poll() is not None)
        assert first.poll() is None, first.communicate()
        # A second run of the same case, at the same time: refused, naming the holder.
        second = vet("run", *RUN[1:], workspace=ws)
        assert second.returncode == 3, second.stdout + second.stderr
        line = second.stderr.strip()
        assert "\n" not in line and f"pid {first.pid}" in line and "since" in line and "--wait" in line
        # A waiting run starts once the holder is gone, even killed with SIGKILL.
        waiter = vet_popen(ws, *RUN, "--wait")
        wait_for(lambda: "waiting" in _peek(waiter) or waiter.poll() is not None, 30)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        out, errs = waiter.communicate(timeout=600)
        assert waiter.returncode == 0, out + errs
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
    with sqlite3.connect(ws / "vetting.db") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM item")]
        (steps_started,) = db.execute("SELECT count(*) FROM audit_event WHERE action='step.started'").fetchone()
    assert sorted(keys) == sorted(f"page:{u}" for u in urls)  # each URL exactly once
    assert steps_started == 2  # the killed run and the resumed one; the refused run started nothing
    uniform = vet("uniformity", "--procedure", PROC, workspace=ws)
    assert uniform.returncode == 0, uniform.stdout
    assert vet("audit", "verify", workspace=ws).returncode == 0
    # Custody (issue 9.5): the database, the WARCs and every evidence file are the owner's only.
    from test_custody import modes

    assert list((ws / "evidence" / "warc").rglob("*.warc.gz")) and modes(ws) == []


_peeked: dict[int, str] = {}


def _peek(proc: subprocess.Popen) -> str:
    """What a running process printed so far (non-blocking read of its stdout)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while sel.select(timeout=0):
        chunk = os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
        if not chunk:
            break
        _peeked[proc.pid] = _peeked.get(proc.pid, "") + chunk
    sel.close()
    return _peeked.get(proc.pid, "")


def _holder(ws: Path, case_id: str, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws), case_id], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _workspace_with_jane(tmp_path: Path, auth_file: Path, url: str | None, env: dict[str, str]) -> Workspace:
    """A workspace (SQLite, or the PostgreSQL database ``url``) with the procedure approved and
    Jane Doe added, through the CLI."""
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    vet("procedure", "approve", str(local_procedure(tmp_path)), "--by", "Capt. Rao", workspace=ws.root, env=env,
        check=True)
    vet("candidate", "add", "--name", "Jane Doe", "--authorization", str(auth_file), "--signed-on", "2026-10-01",
        "--by", "Inv. Lee", workspace=ws.root, env=env, check=True)
    return ws


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_lock_held_by_a_live_process_and_freed_by_its_death(tmp_path: Path, auth_file: Path, backend: str,
                                                            request) -> None:
    env = {}
    url = None
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
        env = {"VETTING_DATABASE_URL": url}
    ws = _workspace_with_jane(tmp_path, auth_file, url, env)
    from vetting.engine.runs import planned_case_ids

    (case_id,) = planned_case_ids(ws, ["jane-doe"], PROC)
    holder = _holder(ws.root, case_id, env)
    try:
        refused = vet(*RUN, workspace=ws.root, env=env)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert f"pid {holder.pid}" in refused.stderr or f"pid={holder.pid}" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        with pytest.raises(CaseBusy), case_lock(ws, case_id, "test"):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()

    def free() -> bool:
        try:
            with case_lock(ws, case_id, "test"):
                return True
        except CaseBusy:
            return False

    wait_for(free, 20)
    # other cases were never blocked, and the lock is re-entrant across processes once free
    with case_lock(ws, "case-other", "test"):
        pass


def test_validate_takes_the_case_lock_too(tmp_path: Path) -> None:
    """Every command that writes a case takes its lock: a decision while a run holds it is refused."""
    from case_fixtures import add_item, build_case
    from test_cli import invoke, tree_digest

    b = build_case(tmp_path)
    item = add_item(b, "a", "Volunteered at the food bank today.")
    b.ws.engine.dispose()
    holder = _holder(b.ws.root, b.plan.case.id)
    try:
        before = tree_digest(b.ws.root)
        args = ["validate", item.id, "--decision", "validated", "--reason", "her disclosed account", "--by", "Inv. Lee"]
        refused = invoke(b.ws.root, *args)
        assert refused.exit_code == 3 and f"pid {holder.pid}" in refused.output, refused.output
        assert tree_digest(b.ws.root) == before
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    done = invoke(b.ws.root, *args, "--wait")
    assert done.exit_code == 0, done.output


QUEUE_HOLDER = """
import sys, time
from vetting.queue.child import _hold_case_lock
conn = _hold_case_lock(sys.argv[1])
print("held", flush=True)
time.sleep(300)
"""


def test_queue_case_process_and_commands_share_one_lock(tmp_path: Path, auth_file: Path, postgres) -> None:
    """The queue's case process and the commands lock a case under one key (PostgreSQL).

    While the queue holds a case (the very function its case process runs first), a direct
    ``vet run`` or ``vet candidate erase`` of it is refused (exit 3) in one line naming the
    holder; while a command holds it, the queue's case process waits instead of running it.
    """
    from vetting.engine.steps import open_case
    from vetting.store.caselock import advisory_key, advisory_parts

    url = postgres.new_database()
    env = {"VETTING_DATABASE_URL": url}
    ws = _workspace_with_jane(tmp_path, auth_file, url, env)
    case_id = open_case(ws, "jane-doe", PROC, "Inv. Lee").case.id
    ws.engine.dispose()

    queued = subprocess.Popen([sys.executable, "-c", QUEUE_HOLDER, case_id], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, **env))
    try:
        assert queued.stdout is not None and queued.stdout.readline().strip() == "held"
        for args in (RUN, ["candidate", "erase", "jane-doe", "--by", "Inv. Lee", "--reason", "retention ended"]):
            started = time.monotonic()
            refused = vet(*args, workspace=ws.root, env=env)
            assert refused.returncode == 3, (args, refused.stdout + refused.stderr)
            line = refused.stderr.strip()
            assert "\n" not in line and "Traceback" not in line, line
            assert f"case {case_id} is busy" in line and f"vet queue-case pid={queued.pid}" in line, line
            assert time.monotonic() - started < 30
    finally:
        queued.kill()
        queued.wait()

    # The other way round: a command holds the case, the queue's real case process waits for it.
    holder = _holder(ws.root, case_id, env)
    child = subprocess.Popen([sys.executable, "-m", "vetting.queue.child", "--workspace", str(ws.root),
                              "--by", "Inv. Lee", case_id], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env))
    try:
        import psycopg

        from vetting.queue.database import libpq_conninfo

        hi, lo = advisory_parts(advisory_key(case_id))

        def child_waits() -> bool:
            with psycopg.connect(libpq_conninfo(url)) as conn:
                return conn.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                    "AND classid = %s AND objid = %s", (hi, lo)).fetchone() is not None

        wait_for(lambda: child_waits() or child.poll() is not None, 30)
        assert child.poll() is None, child.communicate()
    finally:
        child.kill()
        child.wait()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
