"""Benchmark of the job queue: cases per minute with 1, 2 and 4 workers against the demo web,
and the queue's own overhead per job. Not a test: run it by hand or with `make bench`.

    .venv/bin/python bench/bench_queue.py [--cases 8] [--workers 1,2,4] [--pages 3]

A private PostgreSQL server (Unix socket, as the tests start it) and the demo web on loopback.
Each case is one step over the candidate's disclosed URLs (JSON pages on two demo hosts, so no
browser) plus one step without input; the per-host delay is 0.05 s. For each worker count a
fresh database gets the same cases, `vet run --queue` defers them, and the workers run until
every job is done: cases per minute = cases / (first worker started -> last job finished).

Overhead: with one worker, the worker's wall time not spent inside a case process (each
job's process run time is in its ``job.finished`` event), plus the time `vet run --queue`
takes per case to defer it, is what the queue adds per job: deferring, fetching, locks,
starting the process, job events. For comparison, the same cases also run one after another
without the queue, each in its own `python -m vetting.queue.child` process ("direct"); on a
busy machine that figure moves with the load, which is why the overhead is not taken from it.
Results go to bench/results/queue.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pg import PrivatePostgres  # noqa: I001 - tests/ on the path above
from queue_fixtures import (
    INVESTIGATOR,
    PROCEDURE_ID,
    all_finished,
    env_for,
    job_states,
    queue_workspace,
    start_worker,
    stop_workers,
    vet_cmd,
    wait_for,
)

from vetting.demoweb import DemoWeb

DELAY = 0.05


def setup(tmp: Path, pg: PrivatePostgres, web: DemoWeb, cases: int, pages: int, tag: str) -> tuple:
    root = tmp / tag
    root.mkdir()
    auth = root / "authorization.pdf"  # a document by its first bytes, as vet candidate add requires
    auth.write_bytes(b"%PDF-1.4\n% I authorize the background investigation. Signed.\n")
    url = pg.new_database()
    ws = queue_workspace(root / "ws", url, web, cases, pages, DELAY, auth)
    return root, url, ws


def run_with_workers(tmp: Path, pg: PrivatePostgres, web: DemoWeb, cases: int, pages: int, workers: int) -> dict:
    root, url, ws = setup(tmp, pg, web, cases, pages, f"w{workers}")
    candidates = [f"qc-{i:02d}" for i in range(cases)]
    t0 = time.perf_counter()
    subprocess.run(vet_cmd(root / "ws", "run", *candidates, "--procedure", PROCEDURE_ID, "--by", INVESTIGATOR,
                           "--queue"), env=env_for(url), check=True, capture_output=True, cwd=ROOT)
    defer_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    procs = [start_worker(root / "ws", url, f"b{n}", root, heartbeat=2.0, stalled_after=10.0)
             for n in range(workers)]
    try:
        wait_for(lambda: all_finished(ws, cases), 3600, "every job", interval=0.2)
        wall = time.perf_counter() - t0
    finally:
        stop_workers(procs)
    states = job_states(ws)
    ok = all(s == ["succeeded"] for s in states.values())
    # The queue's own time: the worker's wall time not spent inside a case process (fetching,
    # locking, starting the process, job events), per job. Only meaningful with one worker.
    in_cases = sum(e.payload.get("seconds", 0) for e in ws.audit.events() if e.action == "job.finished")
    return {"workers": workers, "cases": cases, "wall_s": round(wall, 1),
            "cases_per_min": round(cases / wall * 60, 2), "all_succeeded": ok,
            "case_process_s_per_case": round(in_cases / cases, 2),
            "outside_case_process_s_per_job": round((wall * workers - in_cases) / cases, 2),
            "defer_s_per_case": round(defer_s / cases, 3)}


def run_direct(tmp: Path, pg: PrivatePostgres, web: DemoWeb, cases: int, pages: int) -> dict:
    """The same cases, one child process after another, no queue."""
    root, url, ws = setup(tmp, pg, web, cases, pages, "direct")
    from vetting.engine.steps import open_case

    case_ids = [open_case(ws, f"qc-{i:02d}", PROCEDURE_ID, INVESTIGATOR).case.id for i in range(cases)]
    t0 = time.perf_counter()
    for case_id in case_ids:
        subprocess.run([sys.executable, "-m", "vetting.queue.child", "--workspace", str(root / "ws"),
                        "--by", INVESTIGATOR, case_id], env=env_for(url), check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    return {"cases": cases, "wall_s": round(wall, 1), "s_per_case": round(wall / cases, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=8)
    p.add_argument("--pages", type=int, default=3, help="disclosed URLs per case on the social host (+1 search)")
    p.add_argument("--workers", default="1,2,4")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    pg = PrivatePostgres()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_1min_at_start": round(os.getloadavg()[0], 1)},
                     "cases": args.cases, "requests_per_case": args.pages + 1 + 2, "delay_s": DELAY}
    try:
        with DemoWeb() as web, tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
            direct = run_direct(Path(tmp), pg, web, args.cases, args.pages)
            print(f"without the queue: {direct['s_per_case']} s per case", flush=True)
            runs = []
            for n in counts:
                r = run_with_workers(Path(tmp), pg, web, args.cases, args.pages, n)
                print(f"{n} worker(s): {r['cases_per_min']} cases/min ({r['wall_s']} s)", flush=True)
                runs.append(r)
    finally:
        pg.stop()
    base = runs[0]["cases_per_min"] if runs and runs[0]["workers"] == 1 else None
    for r in runs:
        r["speedup_vs_1"] = round(r["cases_per_min"] / base, 2) if base else None
    results["direct"] = direct
    results["workers"] = runs
    one = next((r for r in runs if r["workers"] == 1), None)
    if one:
        results["queue_overhead_s_per_job"] = round(one["outside_case_process_s_per_job"] + one["defer_s_per_case"], 2)
    results["load_1min_at_end"] = round(os.getloadavg()[0], 1)
    out = ROOT / "bench" / "results" / "queue.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if all(r["all_succeeded"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
