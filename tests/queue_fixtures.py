"""Shared set-up for the job-queue tests and bench: a PostgreSQL workspace with a small
procedure (one ``pages`` step over each candidate's disclosed URLs, all JSON on the demo web,
so no browser is needed), candidates, real ``vet worker`` processes, and waiting on jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
PROCEDURE_ID = "kcpd-261-1-preemployment"
INVESTIGATOR = "Det. Sam Ortiz"


def queue_procedure(path: Path, delay: float, concurrency: int = 1, retries: int = 1) -> Path:
    """The shipped procedure, loopback profile, with one pages step over ``{profile_urls}``
    and a second step (web search) that has no input, so every case has two steps."""
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"].update(network="loopback", retries=retries,
                            rate_limit={"delay_seconds": delay, "concurrency_per_domain": concurrency})
    pages = dict(data["steps"][0], limits={"max_pages": 200, "timeout_seconds": 600})
    search = dict(data["steps"][2], queries=['"{emails}"'])  # no e-mail given: no input, for everyone
    data["steps"] = [pages, search]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def candidate_urls(web: Any, index: int, pages: int) -> list[str]:
    """``pages`` URLs on the social site and one on the search site, unique to the candidate."""
    social = [f"{web.base_url('social')}/api/u/qc{index:02d}-{k:02d}.json" for k in range(pages)]
    return social + [f"{web.base_url('search')}/search?q=qc{index:02d}&format=json"]


def queue_workspace(root: Path, database_url: str, web: Any, candidates: int, pages: int, delay: float,
                    auth_file: Path, concurrency: int = 1) -> Any:
    """Approve the procedure and add ``candidates`` candidates (qc-00, qc-01, ...)."""
    from vetting.domain.approvals import approve
    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.store.workspace import Workspace

    ws = Workspace.open(root, database_url=database_url)
    approve(ws, queue_procedure(root.parent / "queue-procedure.yaml", delay, concurrency), "Capt. Dana Whitfield")
    for i in range(candidates):
        add_candidate(ws, CandidateInput(id=f"qc-{i:02d}", full_name=f"Queue Candidate {i:02d}",
                                         profile_urls=candidate_urls(web, i, pages),
                                         authorization={"file": "a", "signed_on": "2026-10-01"}),
                      auth_file, INVESTIGATOR)
    return ws


def vet_cmd(ws_root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws_root), *args]


def env_for(database_url: str) -> dict[str, str]:
    return dict(os.environ, VETTING_DATABASE_URL=database_url, COLUMNS="200", NO_COLOR="1")


def start_worker(ws_root: Path, database_url: str, name: str, log_dir: Path, heartbeat: float = 1.0,
                 stalled_after: float = 4.0, concurrency: int = 1, *extra: str) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(vet_cmd(ws_root, "worker", "--name", name, "--heartbeat", str(heartbeat),
                                    "--stalled-after", str(stalled_after), "--concurrency", str(concurrency), *extra),
                            cwd=REPO, env=env_for(database_url), stdout=log, stderr=subprocess.STDOUT)


def stop_workers(workers: Iterable[subprocess.Popen], timeout: float = 60) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def job_states(ws: Any) -> dict[str, list[str]]:
    """case id -> the states of its jobs, oldest first."""
    from sqlalchemy import text

    with ws.engine.connect() as conn:
        rows = conn.execute(text("SELECT lock, status::text FROM procrastinate_jobs ORDER BY id")).all()
    out: dict[str, list[str]] = {}
    for lock, status in rows:
        out.setdefault(lock, []).append(status)
    return out


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def all_finished(ws: Any, cases: int) -> bool:
    states = job_states(ws)
    return len(states) == cases and all(s[-1] in ("succeeded", "failed", "cancelled", "aborted")
                                        for s in states.values())
