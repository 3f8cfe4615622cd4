"""Concurrent writers of one audit log: real processes, on SQLite and on PostgreSQL.

Three processes append 1,000 events each at the same moment (single-event transactions, with
a checkpoint every 100): no error, no gap, no duplicate, and the log verifies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from audit import verify_log
from audit.store import audit_checkpoint, audit_event
from vetting.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
WRITERS = 3
EVENTS = 1000

pytestmark = pytest.mark.timeout(600)

WRITER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from vetting.store.workspace import Workspace
    root, url, name, n, go = sys.argv[1], sys.argv[2] or None, sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
    ws = Workspace.open(Path(root), create=False, database_url=url)
    while not go.exists():
        time.sleep(0.005)
    for i in range(n):
        ws.record("bench.append", actor=name, payload={"i": i})
        if i % 100 == 99:
            ws.audit.checkpoint()
    print("done", name)
""")


def run_writers(root: Path, url: str | None) -> list[subprocess.CompletedProcess]:
    go = root.parent / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), url or "", f"writer-{k}", str(EVENTS),
                               str(go)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for k in range(WRITERS)]
    time.sleep(1.5)  # every process opened the workspace and waits at the barrier
    go.touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=560)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def check_log(ws: Workspace, before: int) -> None:
    with ws.engine.connect() as conn:
        seqs = [s for (s,) in conn.execute(select(audit_event.c.seq).order_by(audit_event.c.seq))]
        actors = [a for (a,) in conn.execute(select(audit_event.c.actor).where(audit_event.c.action == "bench.append"))]
        idx = [i for (i,) in conn.execute(select(audit_checkpoint.c.idx).order_by(audit_checkpoint.c.idx))]
    assert seqs == list(range(before + WRITERS * EVENTS))  # dense: no gap, no duplicate
    assert sorted(set(actors)) == [f"writer-{k}" for k in range(WRITERS)]
    assert all(actors.count(f"writer-{k}") == EVENTS for k in range(WRITERS))
    assert idx == list(range(len(idx)))
    ws.audit.checkpoint()
    report = verify_log(ws.engine, ws.key_dir, evidence_root=ws.evidence_root)
    assert report.ok, report.problems[:5]
    filed = [int(line.split('"checkpoint": ')[1].split(",")[0])
             for line in (ws.key_dir / "checkpoints.log").read_text().splitlines()]
    assert filed == list(range(len(ws.audit.checkpoints())))  # every checkpoint filed once, in order


def test_three_processes_append_at_once_on_sqlite(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    before = ws.audit.size()
    results = run_writers(ws.root, None)
    for r in results:
        assert r.returncode == 0 and "done" in r.stdout, r.stderr[-2000:]
        assert "Error" not in r.stderr, r.stderr[-2000:]
    check_log(ws, before)


def test_three_processes_append_at_once_on_postgres(tmp_path: Path, postgres) -> None:
    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    before = ws.audit.size()
    results = run_writers(ws.root, url)
    for r in results:
        assert r.returncode == 0 and "done" in r.stdout, r.stderr[-2000:]
        assert "Error" not in r.stderr, r.stderr[-2000:]
    check_log(ws, before)
