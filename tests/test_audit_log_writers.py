"""Several processes append to one audit log at once (job-queue workers on PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

WRITER = """
import sys
from sqlalchemy import create_engine
from audit import AuditLog
engine = create_engine(sys.argv[1])
log = AuditLog(engine, key_dir=sys.argv[2], origin="vetting/writers-test")
for n in range(int(sys.argv[4])):
    log.append("test.appended", actor="system:writer-" + sys.argv[3], payload={"n": n})
    if n % 10 == 9:
        log.checkpoint()
"""


def test_concurrent_writers_on_postgres_keep_one_verifiable_log(tmp_path: Path, postgres) -> None:
    from sqlalchemy import create_engine

    from audit import AuditLog, verify_log

    url = postgres.new_database()
    keys = tmp_path / "keys"
    engine = create_engine(url)
    AuditLog(engine, key_dir=keys, origin="vetting/writers-test").create_schema()
    writers, each = 4, 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(keys), str(w), str(each)], cwd=REPO,
                              stderr=subprocess.PIPE, text=True) for w in range(writers)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    report = verify_log(engine, keys)
    assert report.ok, report.problems
    log = AuditLog(engine, key_dir=keys, origin="vetting/writers-test")
    events = list(log.events())
    assert len(events) == writers * each
    for w in range(writers):  # each writer's events, in its own order, none lost
        assert [e.payload["n"] for e in events if e.actor == f"system:writer-{w}"] == list(range(each))
    filed = [json.loads(line)["checkpoint"] for line in (keys / "checkpoints.log").read_text().splitlines()]
    assert filed == list(range(len(filed))) and len(filed) == len(log.checkpoints())  # no note filed twice
