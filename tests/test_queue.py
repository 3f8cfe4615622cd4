"""The job queue (vetting/queue): real PostgreSQL, real `vet worker` processes, the demo web.

Several workers on one machine stand in for several machines: each is its own process with its
own connections, and every case runs in a process of its own under its worker.
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest
from queue_fixtures import (
    INVESTIGATOR,
    PROCEDURE_ID,
    REPO,
    SUPERVISOR,
    all_finished,
    env_for,
    job_states,
    queue_workspace,
    start_worker,
    stop_workers,
    vet_cmd,
    wait_for,
)
from sqlalchemy import text


@pytest.fixture(scope="module")
def logged_web():
    """The demo web, logging (site, path, arrival time) of every request it receives."""
    from vetting.demoweb import DemoWeb

    log: list[tuple[str, str, float]] = []
    with DemoWeb(on_request=lambda site, method, path: log.append((site, path, time.monotonic()))) as web:
        web.request_log = log
        yield web


#: The audit actor of the supervisor who cancels (tests/team.py).
CANCELLER = f"user:{SUPERVISOR}"


def run_queue(ws_root: Path, url: str, *candidates: str) -> subprocess.CompletedProcess:
    """``vet run --queue`` as the investigator."""
    return subprocess.run(vet_cmd(ws_root, "run", *candidates, "--procedure", PROCEDURE_ID, "--queue"), cwd=REPO,
                          env=env_for(url, ws_root, INVESTIGATOR), capture_output=True, text=True, timeout=300)


def cli(ws_root: Path, url: str, *args: str, login: str = INVESTIGATOR) -> subprocess.CompletedProcess:
    return subprocess.run(vet_cmd(ws_root, *args), cwd=REPO, env=env_for(url, ws_root, login), capture_output=True,
                          text=True, timeout=300)


def events(ws, action: str, case_id: str | None = None) -> list:
    return [e for e in ws.audit.events(case_id=case_id) if e.action == action]


def items_by_case(ws) -> dict[str, list[str]]:
    with ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, url FROM item ORDER BY case_id, url")).all()
    out: dict[str, list[str]] = {}
    for case_id, item_url in rows:
        out.setdefault(case_id, []).append(item_url)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (its parent, the killed worker, cannot reap it)
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# -- many workers, many cases -------------------------------------------------------------------

CASES = 10
PAGES = 3  # per case on the social host, plus one search URL
DELAY = 0.3


@pytest.mark.slow
def test_three_workers_run_each_case_once_and_keep_the_host_interval(tmp_path, postgres, logged_web,
                                                                     auth_file) -> None:
    url = postgres.new_database()
    ws = queue_workspace(tmp_path / "ws", url, logged_web, CASES, PAGES, DELAY, auth_file).ws
    candidates = [f"qc-{i:02d}" for i in range(CASES)]
    queued = run_queue(tmp_path / "ws", url, *candidates)
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert queued.stdout.count(": queued (job ") == CASES
    again = run_queue(tmp_path / "ws", url, *candidates)  # the queueing lock: a case waits once
    assert again.returncode == 0 and again.stdout.count("already queued") == CASES, again.stdout
    start = time.monotonic()
    workers = [start_worker(tmp_path / "ws", url, f"w{n}", tmp_path) for n in range(3)]
    try:
        wait_for(lambda: all_finished(ws, CASES), 900, f"{CASES} cases on 3 workers")
    finally:
        stop_workers(workers)
    elapsed = time.monotonic() - start
    states = job_states(ws)
    assert all(s == ["succeeded"] for s in states.values()), states
    # each case ran exactly once: one job start, every URL captured once, steps ran once
    started = events(ws, "job.started")
    assert sorted(e.case_id for e in started) == sorted(states)
    captured = items_by_case(ws)
    assert len(captured) == CASES
    for case_id, urls in captured.items():
        assert len(urls) == len(set(urls)) == PAGES + 1, (case_id, urls)
        steps = [e.subject for e in events(ws, "step.started", case_id)]
        assert steps == ["disclosed-profiles", "web-search"], steps
    # the workers really ran cases side by side
    by_worker = {e.payload["worker"] for e in started}
    assert len(by_worker) >= 2, by_worker
    spans = {e.case_id: [e.time] for e in started}
    for e in events(ws, "job.finished"):
        spans[e.case_id].append(e.time)
    assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans.values(), 2))
    # the per-host interval held across all workers together, as the site saw it: every gap
    # between two arrivals at least the delay (less 20 ms for the logging threads of this busy
    # process), and over windows of requests the rate of one worker, not of three.
    log = [r for r in logged_web.request_log if r[2] >= start]
    for site in ("social", "search"):
        times = sorted(t for s, _, t in log if s == site)
        assert len(times) >= CASES, (site, len(times))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        window = 6
        spans = [times[i + window - 1] - times[i] for i in range(len(times) - window + 1)]
        print(f"{site}: {len(times)} requests, interval min {min(gaps):.3f} s, median "
              f"{statistics.median(gaps):.3f} s, shortest {window - 1} intervals {min(spans):.3f} s (delay {DELAY} s)")
        assert min(gaps) >= DELAY - 0.02, (site, sorted(gaps)[:5])
        assert min(spans) >= (window - 1) * DELAY, (site, min(spans))
        assert statistics.median(gaps) >= DELAY, (site, sorted(gaps))
    print(f"{CASES} cases on 3 workers in {elapsed:.1f} s")
    verify = cli(tmp_path / "ws", url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    uniform = cli(tmp_path / "ws", url, "uniformity", "--procedure", PROCEDURE_ID)
    assert uniform.returncode == 0, uniform.stdout
    status = cli(tmp_path / "ws", url, "queue", "status")
    assert status.returncode == 0 and f"done: {CASES}" in status.stdout, status.stdout


# -- a worker killed mid-case ---------------------------------------------------------------------

@pytest.mark.slow
def test_killed_worker_job_is_retried_and_nothing_is_lost_or_duplicated(tmp_path, postgres, logged_web,
                                                                         auth_file) -> None:
    url = postgres.new_database()
    pages = 16
    ws = queue_workspace(tmp_path / "ws", url, logged_web, 1, pages, 0.4, auth_file).ws
    assert run_queue(tmp_path / "ws", url, "qc-00").returncode == 0
    first = start_worker(tmp_path / "ws", url, "doomed", tmp_path)
    try:
        wait_for(lambda: sum(map(len, items_by_case(ws).values())) >= 3, 300, "the first items")
        child = events(ws, "job.started")[0].payload["pid"]
        assert alive(child)
        first.send_signal(signal.SIGKILL)
        first.wait()
        wait_for(lambda: not alive(child), 20, "the case process to die with its worker")
        before = sum(map(len, items_by_case(ws).values()))
        assert 3 <= before < pages + 1
        second = start_worker(tmp_path / "ws", url, "rescuer", tmp_path)
        try:
            wait_for(lambda: all_finished(ws, 1), 600, "the retried job")
        finally:
            stop_workers([second])
    finally:
        stop_workers([first])
    assert list(job_states(ws).values()) == [["succeeded"]]
    retried = events(ws, "job.retried")
    assert len(retried) == 1 and "no heartbeat" in retried[0].payload["reason"]
    assert [e.payload["worker"] for e in events(ws, "job.started")] == ["doomed", "rescuer"]
    urls = next(iter(items_by_case(ws).values()))
    assert len(urls) == len(set(urls)) == pages + 1  # nothing lost, nothing twice
    with ws.engine.connect() as conn:
        status, attempts = conn.execute(text("SELECT status, attempts FROM steprun WHERE position = 0")).one()
    assert (status, attempts) == ("completed", 2)  # resumed, not restarted
    verify = cli(tmp_path / "ws", url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    uniform = cli(tmp_path / "ws", url, "uniformity", "--procedure", PROCEDURE_ID)
    assert uniform.returncode == 0, uniform.stdout
    again = run_queue(tmp_path / "ws", url, "qc-00")  # a complete case is not queued again
    assert again.returncode == 0 and "already complete" in again.stdout, again.stdout


# -- cancel ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cancel_ends_the_case_process_and_records_cancelled_steps(tmp_path, postgres, logged_web,
                                                                  auth_file) -> None:
    url = postgres.new_database()
    ws = queue_workspace(tmp_path / "ws", url, logged_web, 2, 40, 0.5, auth_file).ws
    assert run_queue(tmp_path / "ws", url, "qc-00", "qc-01").returncode == 0
    worker = start_worker(tmp_path / "ws", url, "w0", tmp_path)
    try:
        wait_for(lambda: sum(map(len, items_by_case(ws).values())) >= 1, 300, "the first item")
        running = events(ws, "job.started")[0]
        child = running.payload["pid"]
        waiting = next(c for c in job_states(ws) if c != running.case_id)
        # the queued case first: cancelled before it ever starts
        result = cli(tmp_path / "ws", url, "queue", "cancel", waiting, "--reason", "candidate withdrew",
                     login=SUPERVISOR)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "disclosed-profiles, web-search" in result.stdout
        # then the running one: its process is ended
        result = cli(tmp_path / "ws", url, "queue", "cancel", running.case_id, "--reason", "wrong candidate file",
                     login=SUPERVISOR)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not alive(child)
        assert "cancelled" in result.stdout
    finally:
        stop_workers([worker])
    assert job_states(ws) == {running.case_id: ["aborted"], waiting: ["cancelled"]}
    with ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT case_id, step_id, status, error FROM steprun ORDER BY case_id, position")).all()
        cases = dict(conn.execute(text("SELECT id, status FROM \"case\"")).all())
    assert {r.status for r in rows} == {"cancelled"}
    assert all(r.error.startswith(f"cancelled by {CANCELLER}: ") for r in rows)
    assert cases == {running.case_id: "cancelled", waiting: "cancelled"}
    assert len(items_by_case(ws).get(running.case_id, [])) < 41  # stopped mid-step: not everything fetched
    finished = events(ws, "step.finished", running.case_id)
    assert [(e.subject, e.payload["status"], e.actor) for e in finished] == [
        ("disclosed-profiles", "cancelled", CANCELLER), ("web-search", "cancelled", CANCELLER)]
    assert len(events(ws, "job.cancelled")) == 2
    uniform = cli(tmp_path / "ws", url, "uniformity", "--procedure", PROCEDURE_ID)
    assert uniform.returncode == 1
    assert uniform.stdout.count(f"was cancelled (cancelled by {CANCELLER}") == 4, uniform.stdout
    verify = cli(tmp_path / "ws", url, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = cli(tmp_path / "ws", url, "queue", "status")
    assert "cancelled: 2" in status.stdout, status.stdout
    # nothing left to cancel
    again = cli(tmp_path / "ws", url, "queue", "cancel", waiting, "--reason", "again", login=SUPERVISOR)
    assert again.returncode == 1 and "no queued or running job" in again.stderr


# -- SQLite -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("login,args", [
    (INVESTIGATOR, ("run", "jane-doe", "--procedure", PROCEDURE_ID, "--queue")),
    ("bot", ("worker",)),
    (INVESTIGATOR, ("queue", "status")),
    (SUPERVISOR, ("queue", "cancel", "case-x", "--reason", "r")),
])
def test_queue_commands_refuse_sqlite(team, shipped_procedure, auth_file, login, args) -> None:
    team.vet("dwhitfield", "procedure", "approve", str(shipped_procedure), check=True)
    team.vet(INVESTIGATOR, "candidate", "add", "--name", "Jane Doe", "--username", "janed",
             "--authorization", str(auth_file), "--signed-on", "2026-10-01", check=True)
    for someone in (INVESTIGATOR, login):  # each session's first use (an auth event) is behind us
        team.account(someone)
    before = team.vet(INVESTIGATOR, "audit", "verify").stdout
    result = team.vet(login, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a PostgreSQL workspace" in lines[0] and "SQLite" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert team.vet(INVESTIGATOR, "audit", "verify").stdout == before  # nothing was written
    assert team.vet(INVESTIGATOR, "case", "list").stdout.count("case-") == 0


# -- host slots (the guard's limits across processes) ------------------------------------------------

def test_host_slots_space_reservations_and_cap_concurrency(tmp_path, postgres) -> None:
    from vetting.queue.hostslots import PostgresHostSlots
    from vetting.store.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", database_url=postgres.new_database())
    slots = [PostgresHostSlots(ws.engine) for _ in range(4)]  # as four processes would

    def take(pacer) -> None:
        for _ in range(4):
            pacer.reserve("a.example", 0.3, 100, 60)  # leases kept: each row holds its start + 60 s

    threads = [threading.Thread(target=take, args=(p,)) for p in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ws.engine.connect() as conn:  # the slots' start times, on the database's clock
        starts = [r[0] for r in conn.execute(text("SELECT expires_at FROM queue_host_lease "
                                                  "WHERE host = 'a.example' ORDER BY expires_at"))]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    # reserved atomically: no two slots closer than the delay (a race would give two equal starts)
    assert len(starts) == 16 and min(gaps) >= 0.3 - 1e-6, gaps
    # concurrency: two leases in use on a host with concurrency 2 -> the third must wait
    first = slots[0].reserve("b.example", 0, 2, 60)
    second = slots[1].reserve("b.example", 0, 2, 60)
    assert first and second and slots[2].reserve("b.example", 0, 2, 60) is None
    slots[0].release(first[0])
    assert slots[2].reserve("b.example", 0, 2, 60) is not None
    # a request that ends holds the host's next start to the delay after its end
    lease, _ = slots[0].reserve("e.example", 0.5, 1, 60)
    time.sleep(0.3)
    slots[0].release(lease)
    assert slots[1].reserve("e.example", 0.5, 1, 60)[1] >= 0.5 - 0.05
    # a lease whose holder died lapses after its time
    assert slots[3].reserve("c.example", 0, 1, 0.2) is not None
    assert slots[3].reserve("c.example", 0, 1, 0.2) is None
    time.sleep(0.3)
    assert slots[3].reserve("c.example", 0, 1, 0.2) is not None
    # another host is independent
    assert slots[0].reserve("d.example", 5, 1, 60)[1] == pytest.approx(0, abs=0.05)


@pytest.mark.slow
def test_cancel_while_the_worker_is_dead_is_finished_by_the_next_worker(tmp_path, postgres, logged_web,
                                                                        auth_file) -> None:
    url = postgres.new_database()
    ws = queue_workspace(tmp_path / "ws", url, logged_web, 1, 30, 0.5, auth_file).ws
    assert run_queue(tmp_path / "ws", url, "qc-00").returncode == 0
    doomed = start_worker(tmp_path / "ws", url, "doomed", tmp_path)
    try:
        wait_for(lambda: sum(map(len, items_by_case(ws).values())) >= 1, 300, "the first item")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        result = cli(tmp_path / "ws", url, "queue", "cancel", next(iter(job_states(ws))),
                     "--reason", "duplicate", "--wait", "2", login=SUPERVISOR)
        assert result.returncode == 1 and "has not confirmed" in result.stderr, result.stdout + result.stderr
        heir = start_worker(tmp_path / "ws", url, "heir", tmp_path)
        try:
            wait_for(lambda: next(iter(job_states(ws).values()))[-1] != "doing", 120, "the reaper")
        finally:
            stop_workers([heir])
    finally:
        stop_workers([doomed])
    assert list(job_states(ws).values()) == [["aborted"]]  # not retried: it was cancelled
    with ws.engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("SELECT status FROM steprun"))} == {"cancelled"}
    assert not events(ws, "job.retried")
    finished = events(ws, "job.finished")
    assert finished[-1].payload["outcome"] == "cancelled" and finished[-1].payload["cancelled_by"] == CANCELLER
    assert cli(tmp_path / "ws", url, "audit", "verify").returncode == 0


@pytest.mark.slow
def test_stopped_worker_puts_its_case_back_for_another(tmp_path, postgres, logged_web, auth_file) -> None:
    url = postgres.new_database()
    pages = 20
    ws = queue_workspace(tmp_path / "ws", url, logged_web, 1, pages, 0.4, auth_file).ws
    assert run_queue(tmp_path / "ws", url, "qc-00").returncode == 0
    leaving = start_worker(tmp_path / "ws", url, "leaving", tmp_path, 1.0, 4.0, 1, "--shutdown-grace", "1")
    try:
        wait_for(lambda: sum(map(len, items_by_case(ws).values())) >= 2, 300, "the first items")
        child = events(ws, "job.started")[0].payload["pid"]
        leaving.send_signal(signal.SIGTERM)
        assert leaving.wait(timeout=60) == 0
        assert not alive(child)
        assert job_states(ws) and list(job_states(ws).values()) == [["todo"]]  # back in the queue
        staying = start_worker(tmp_path / "ws", url, "staying", tmp_path)
        try:
            wait_for(lambda: all_finished(ws, 1), 600, "the job, on the other worker")
        finally:
            stop_workers([staying])
    finally:
        stop_workers([leaving])
    assert list(job_states(ws).values()) == [["succeeded"]]
    outcomes = [e.payload["outcome"] for e in events(ws, "job.finished")]
    assert outcomes == ["interrupted", "succeeded"]
    assert [e.payload["reason"] for e in events(ws, "job.retried")] == ["worker stopped"]
    urls = next(iter(items_by_case(ws).values()))
    assert len(urls) == len(set(urls)) == pages + 1
    assert cli(tmp_path / "ws", url, "audit", "verify").returncode == 0


# -- accounts that may no longer act ------------------------------------------------------------
def test_a_disabled_worker_account_stops_its_worker(tmp_path, postgres, logged_web, auth_file) -> None:
    """The automation account is disabled while its worker runs a case: the worker stops within
    a heartbeat or two (worker.stopped), its case process ends, and the job is back in the queue."""
    from vetting.people.accounts import disable_account
    from vetting.queue.worker import run_worker  # noqa: F401 - the module under test

    url = postgres.new_database()
    team = queue_workspace(tmp_path / "ws", url, logged_web, 1, 20, 0.4, auth_file)
    ws = team.ws
    assert run_queue(tmp_path / "ws", url, "qc-00").returncode == 0
    worker = start_worker(tmp_path / "ws", url, "disabled", tmp_path, 1.0, 4.0, 1, "--shutdown-grace", "1")
    try:
        wait_for(lambda: sum(map(len, items_by_case(ws).values())) >= 2, 300, "the first items")
        child = events(ws, "job.started")[0].payload["pid"]
        disable_account(ws, "bot", actor=team.account("root-admin"), reason="key leaked")
        assert worker.wait(timeout=60) == 0
        assert not alive(child)
    finally:
        stop_workers([worker])
    stopped = events(ws, "worker.stopped")
    assert len(stopped) == 1 and stopped[0].actor == "user:bot" and "disabled" in stopped[0].payload["reason"]
    assert list(job_states(ws).values()) == [["todo"]]  # back in the queue for a worker that may run it


def test_a_job_queued_by_an_account_disabled_since_is_never_run(tmp_path, postgres, logged_web,
                                                                 auth_file) -> None:
    from vetting.people.accounts import disable_account

    url = postgres.new_database()
    team = queue_workspace(tmp_path / "ws", url, logged_web, 1, 2, 0.0, auth_file)
    ws = team.ws
    assert run_queue(tmp_path / "ws", url, "qc-00").returncode == 0
    disable_account(ws, INVESTIGATOR, actor=team.account("root-admin"), reason="left the agency")
    worker = start_worker(tmp_path / "ws", url, "w", tmp_path, 1.0, 4.0, 1, "--burst")
    try:
        assert worker.wait(timeout=120) == 0
    finally:
        stop_workers([worker])
    finished = events(ws, "job.finished")
    assert [e.payload["outcome"] for e in finished] == ["refused"]
    assert "disabled" in finished[0].payload["reason"]
    assert not events(ws, "job.started") and items_by_case(ws) == {}
    assert list(job_states(ws).values()) == [["aborted"]]
