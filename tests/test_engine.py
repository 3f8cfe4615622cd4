"""The engine: every step to a terminal state, in order; retries; no input; resume after a kill."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from team import Team, make_team

from vetting.collectors.base import Collector, StepFailed
from vetting.domain.approvals import approve
from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.engine.steps import open_case, run_case, step_runs
from vetting.store.workspace import Workspace


def local_procedure(tmp_path: Path, **settings) -> Path:
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"].update(settings)
    (tmp_path / "sites").mkdir(exist_ok=True)
    (tmp_path / "sites" / "whatsmyname.json").write_bytes((REPO / "procedures" / "sites" / "whatsmyname.json").read_bytes())
    path = tmp_path / "procedure.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def ws_with_candidate(tmp_path: Path, auth_file: Path):
    ws = Workspace.open(tmp_path / "ws")
    approve(ws, local_procedure(tmp_path), "Capt. Rao")
    add_candidate(ws, CandidateInput(full_name="Jane Doe", usernames=["janed"],
                                     authorization={"file": "a", "signed_on": "2026-10-01"}), auth_file, "Inv. Lee")
    add_candidate(ws, CandidateInput(full_name="John Roe", authorization={"file": "a", "signed_on": "2026-10-01"}),
                  auth_file, "Inv. Lee")
    return ws


class Flaky(Collector):
    """A collector failing its first ``failures`` attempts: exercises the engine's retry path."""

    kind = "flaky"

    def __init__(self, failures: int):
        self.failures = failures
        self.calls = 0

    def plan(self, step, identifiers):
        from vetting.engine.inputs import expand_all

        return expand_all(step.inputs + step.queries, identifiers)

    async def collect(self, ctx) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise StepFailed(f"site unreachable (attempt {self.calls})")


@pytest.mark.parametrize("failures,status", [(0, "completed"), (2, "completed"), (3, "failed")])
def test_failing_step_retried_then_recorded(ws_with_candidate, monkeypatch, failures: int, status: str) -> None:
    ws = ws_with_candidate
    flaky = Flaky(failures)
    monkeypatch.setattr("vetting.engine.steps.get_collector", lambda kind: flaky if kind == "search" else Flaky(0))
    plan = open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    case = asyncio.run(run_case(ws, plan, "Inv. Lee"))
    runs = {r.step_id: r for r in step_runs(ws, case.id)}
    assert case.status == "complete"
    search = runs["web-search"]
    assert search.status == status and search.attempts == min(failures + 1, 3)
    if status == "failed":
        assert "attempt 3: StepFailed: site unreachable (attempt 3)" in search.error
    actions = [e.action for e in ws.audit.events(case_id=case.id) if e.subject == "web-search"]
    assert actions.count("step.retried") == min(failures, 2)
    assert actions[-1] == "step.finished"


def test_missing_input_is_no_input_for_everyone(ws_with_candidate, monkeypatch) -> None:
    ws = ws_with_candidate
    monkeypatch.setattr("vetting.engine.steps.get_collector", lambda kind: Flaky(0))
    cases = [asyncio.run(run_case(ws, open_case(ws, c, "kcpd-261-1-preemployment", "Inv. Lee"), "Inv. Lee"))
             for c in ("jane-doe", "john-roe")]
    states = [{r.step_id: r.status for r in step_runs(ws, c.id)} for c in cases]
    assert states[0] == {"disclosed-profiles": "no_input", "account-discovery": "completed", "web-search": "completed"}
    assert states[1] == {"disclosed-profiles": "no_input", "account-discovery": "no_input", "web-search": "completed"}
    for case in cases:
        started = [e.subject for e in ws.audit.events(case_id=case.id) if e.action == "step.started"]
        assert started == ["disclosed-profiles", "account-discovery", "web-search"]


def test_case_is_candidate_times_fingerprint(ws_with_candidate) -> None:
    ws = ws_with_candidate
    a = open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    b = open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    assert a.case.id == b.case.id
    assert [r.step_id for r in step_runs(ws, a.case.id)] == ["disclosed-profiles", "account-discovery", "web-search"]


# -- real runs of `vet run` -----------------------------------------------------------------------

def cli_workspace(tmp_path: Path, auth_file: Path, steps: list[dict], **settings) -> Team:
    """A workspace (``tmp_path / "ws"``, with its logged-in team) set up through the real CLI: the
    shipped procedure with ``steps`` and ``settings`` changed, approved by the commander, and one
    candidate (jane-doe) added by the investigator sortiz."""
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"].update(network="loopback", **settings)
    data["steps"] = steps
    proc = tmp_path / "proc.yaml"
    proc.write_text(yaml.safe_dump(data, sort_keys=False))
    team = make_team(Workspace.open(tmp_path / "ws"), tmp_path)
    team.vet("dwhitfield", "procedure", "approve", str(proc), check=True)
    team.vet("sortiz", "candidate", "add", "--name", "Jane Doe", "--authorization", str(auth_file),
             "--signed-on", "2026-10-01", check=True)
    return team


def shipped_step(position: int, **changes) -> dict:
    return dict(yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())["steps"][position], **changes)


def test_resume_after_kill_loses_and_duplicates_nothing(tmp_path: Path, demo_web, auth_file: Path) -> None:
    """Kill -9 `vet run` mid-step, run it again: every URL captured exactly once, log verifies."""
    urls = [demo_web.base_url("news") + f"/no-such-article-{n}" for n in range(24)]
    team = cli_workspace(tmp_path, auth_file, [shipped_step(0, inputs=[], sources=urls)],
                         rate_limit={"delay_seconds": 0.4, "concurrency_per_domain": 1})
    ws = team.ws.root
    cmd = [sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws), "run", "jane-doe",
           "--procedure", "kcpd-261-1-preemployment"]
    proc_run = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, **team.env("sortiz")))

    def items() -> int:
        try:
            with sqlite3.connect(ws / "vetting.db", timeout=5) as db:
                return db.execute("SELECT count(*) FROM item").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 60
    while items() < 4 and time.monotonic() < deadline and proc_run.poll() is None:
        time.sleep(0.1)
    assert proc_run.poll() is None, "the run ended before it could be killed"
    os.kill(proc_run.pid, signal.SIGKILL)
    proc_run.wait()
    before = items()
    assert 4 <= before < len(urls)
    with sqlite3.connect(ws / "vetting.db") as db:
        assert db.execute("SELECT status FROM steprun").fetchone()[0] == "running"

    result = team.vet("sortiz", "run", "jane-doe", "--procedure", "kcpd-261-1-preemployment")
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(ws / "vetting.db") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM item")]
        status, attempts = db.execute("SELECT status, attempts FROM steprun").fetchone()
    assert sorted(keys) == sorted(f"page:{u}" for u in urls)  # each URL exactly once
    assert (status, attempts) == ("completed", 2)
    verify = team.vet("sortiz", "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    warcs = sorted((ws / "evidence" / "warc").rglob("*.warc.gz"))
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", *map(str, warcs)],
                           capture_output=True, text=True)
    assert warcs and check.returncode == 0, check.stdout + check.stderr
    uniform = team.vet("sortiz", "uniformity", "--procedure", "kcpd-261-1-preemployment")
    assert uniform.returncode == 0, uniform.stdout
    # the resumed run fetched only what was missing
    from vetting.store.personal import Revealer

    opened = __import__("vetting.store.workspace", fromlist=["Workspace"]).Workspace.open(ws)
    with opened.session() as s:  # request URLs are committed in the log; the values live apart
        reveal = Revealer(s, "jane-doe")
        fetched = [e for e in opened.audit.events() if e.action == "request.allowed"
                   and "no-such-article" in reveal(e.subject)]
    assert len({e.subject for e in fetched}) == len(urls)
    assert all(e.subject.startswith("hmac-sha256:") for e in fetched)
    assert len(fetched) <= len(urls) + 2  # at most the in-flight requests at the kill are fetched again


def test_search_backend_down_fails_the_step_after_retries(tmp_path: Path, auth_file: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    team = cli_workspace(tmp_path, auth_file, [shipped_step(2)], retries=1,
                         search={"backend": "searxng", "url": f"http://127.0.0.1:{port}"},
                         rate_limit={"delay_seconds": 0, "concurrency_per_domain": 2})
    ws = team.ws.root
    result = team.vet("sortiz", "run", "jane-doe", "--procedure", "kcpd-261-1-preemployment")
    # The case completes (the step is terminal), but a failed step is not a full search (issue 9.4).
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 step(s) failed" in result.stderr and "web-search" in result.stderr
    with sqlite3.connect(ws / "vetting.db") as db:
        status, attempts, error = db.execute("SELECT status, attempts, error FROM steprun").fetchone()
    assert (status, attempts) == ("failed", 2)
    assert f"the search backend http://127.0.0.1:{port} answered no query: connection refused" in error


DURABILITY_PROBE = r'''
"""`vet run` with two probes, real code otherwise: every fsync of a WARC file records how much
of it is durable; every database commit checks that the items it commits name only WARC bytes
inside that durable part. Prints one JSON line at the end."""
import json, os, sys
from pathlib import Path
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

durable, pending, report = {}, [], {"checked": 0, "records": 0, "violations": [], "warc_fsyncs": 0}
real_fsync = os.fsync

def fsync(fd):
    size = os.fstat(fd).st_size
    real_fsync(fd)
    path = os.readlink(f"/proc/self/fd/{fd}")
    if path.endswith(".warc.gz"):
        durable[path] = max(durable.get(path, 0), size)
        report["warc_fsyncs"] += 1

os.fsync = fsync

@event.listens_for(Session, "after_flush")
def collect(session, _context):
    pending.extend(obj for obj in session.new if type(obj).__name__ == "Item")

@event.listens_for(Engine, "commit")
def check(_conn):
    root = Path(sys.argv[2]) / "evidence"
    for item in pending:
        report["checked"] += 1
        for artifact in json.loads(item.artifacts_json):
            if artifact.get("warc"):
                report["records"] += 1
                path = str((root / artifact["warc"]).resolve())
                end = artifact["offset"] + artifact["length"]
                if durable.get(path, 0) < end:
                    report["violations"].append([item.key, artifact["kind"], end, durable.get(path, 0)])
    pending.clear()

from vetting.cli.main import main
try:
    code = main(sys.argv[1:])
finally:
    print("PROBE " + json.dumps(report), flush=True)
sys.exit(code)
'''


def test_no_item_commits_before_its_warc_records_are_durable(tmp_path: Path, demo_web, auth_file: Path) -> None:
    """The writer fsyncs a batch's WARC records once, then commits the items naming them: in a
    real run no commit may name a byte that was not fsynced before it (a crash after the commit
    would leave an event pointing at nothing), and batching must actually save fsyncs."""
    urls = [demo_web.base_url("news") + f"/no-such-article-{n}" for n in range(30)]
    team = cli_workspace(tmp_path, auth_file, [shipped_step(0, inputs=[], sources=urls)],
                         rate_limit={"delay_seconds": 0, "concurrency_per_domain": 8})
    ws = team.ws.root
    probe = tmp_path / "probe.py"
    probe.write_text(DURABILITY_PROBE)
    result = subprocess.run([sys.executable, str(probe), "--workspace", str(ws), "run", "jane-doe", "--procedure",
                             "kcpd-261-1-preemployment"], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=str(REPO), **team.env("sortiz")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    import json

    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE "))
    report = json.loads(line.removeprefix("PROBE "))
    assert report["checked"] >= len(urls) and report["records"] >= 20  # the pages answered (404s)
    assert report["violations"] == []
    # one fsync per record (and per request record pair) was the old cost; batches need fewer
    assert report["warc_fsyncs"] < report["records"]


def test_importing_the_engine_loads_no_crawler() -> None:
    """Commands that read a workspace import the engine (step runs, the queue's control, the
    uniformity check): Scrapy, Twisted, BeautifulSoup and Playwright are loaded only by a step
    that crawls (they were 0.25 s and 34 MiB of every such process)."""
    code = ("import sys, vetting.engine.steps, vetting.collectors, vetting.queue.control; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'scrapy', 'twisted', 'bs4', 'playwright'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
