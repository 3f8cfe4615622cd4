"""Where the time of account discovery goes: `vet run` on the loopback farm under cProfile.

    .venv/bin/python bench/profile_accounts.py [--sites 500] [--top 30] [--out DIR] [--py-spy PATH]

Not a benchmark (profiling slows the client down): it says which functions cost the CPU of
the one reactor thread. It sets up the same workspace as ``bench_accounts.py`` (the shipped
procedure's account step on the loopback farm), runs the cold case (nothing reused) and then
a second candidate (health and robots.txt reused within the day), each under
``python -m cProfile``, and prints the top functions by own time and by cumulative time, with
the CPU milliseconds per request (process CPU / requests the farm answered). With
``--py-spy``, the same two runs are also recorded by py-spy (wall-clock samples, idle
included) as collapsed stacks (flame-graph input) in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_accounts import (  # noqa: E402
    COMMANDER,
    INVESTIGATOR,
    USERNAME,
    FarmProcess,
    logged_in,
    our_manifest,
    procedure_for,
    vet,
    write_authorization,
)


def profiled(cmd: list[str], prof: Path, py_spy: str | None, spy_out: Path | None,
             env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``vet`` under cProfile (or py-spy); return (wall s, CPU s of the process)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if py_spy:
        full = [py_spy, "record", "--idle", "--rate", "200", "--format", "raw", "-o", str(spy_out), "--",
                sys.executable, "-m", "vetting.cli.main", *cmd]
    else:
        full = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "vetting.cli.main", *cmd]
    subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def top(prof: Path, n: int) -> dict[str, list[str]]:
    stats = pstats.Stats(str(prof))
    out: dict[str, list[str]] = {}
    for key in ("tottime", "cumulative"):
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3], reverse=True)[:n]
        out[key] = [f"{v[2]:7.2f} s own {v[3]:7.2f} s cum {v[1]:8d} calls  {Path(k[0]).name}:{k[1]} {k[2]}"
                    for k, v in rows]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sites", type=int, default=500)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--total", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--py-spy", default=None, help="path of a py-spy executable (optional)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--replay", action="store_true",
                   help="profile the 100-site WhatsMyName replay (28 usernames) instead of the farm")
    args = p.parse_args(argv)
    if args.replay:
        return profile_replay(args)
    work = args.out or Path(tempfile.mkdtemp(prefix="profile-accounts-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    with FarmProcess(args.sites, args.latency, lifetime=1800) as farm:
        (work / "sites.json").write_text(json.dumps(our_manifest(farm, args.sites)), encoding="utf-8")
        proc = procedure_for(["account-discovery"], args, "bench-accounts")
        proc["steps"][0]["sites"] = "sites.json"
        (work / "procedure.yaml").write_text(yaml.safe_dump(proc, sort_keys=False), encoding="utf-8")
        write_authorization(work)
        vet(work, "procedure", "approve", "procedure.yaml", login=COMMANDER)
        for run, name in (("cold", "Bench Candidate"), ("warm", "Bench Candidate Two")):
            vet(work, "candidate", "add", "--name", name, "--username", USERNAME, "--authorization",
                "authorization.pdf", "--signed-on", "2026-11-01")
            farm.stats(reset=True)
            cmd = ["--workspace", str(work / "workspace"), "run", name.lower().replace(" ", "-"),
                   "--procedure", "bench-accounts"]
            prof = work / f"{run}.prof"
            wall, cpu = profiled(cmd, prof, args.py_spy, work / f"{run}.collapsed.txt", logged_in(work, INVESTIGATOR))
            counts = farm.stats()["counts"]
            requests = counts.get("robots", 0) + counts.get("account", 0)
            report[run] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "requests": requests,
                           "cpu_ms_per_request": round(1000 * cpu / requests, 2) if requests else None}
            print(f"== {run}: wall {wall:.1f} s, CPU {cpu:.1f} s, {requests} requests, "
                  f"{report[run]['cpu_ms_per_request']} ms CPU/request (profiler overhead included)")
            if not args.py_spy:
                report[run]["top"] = top(prof, args.top)
                for key, rows in report[run]["top"].items():
                    print(f"-- by {key}")
                    print("\n".join(rows))
    (work / "profile.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"profiles in {work}")
    return 0


def profile_replay(args: argparse.Namespace) -> int:
    """The replay workload (bench/replay_farm.py) under cProfile: one candidate, 28 usernames."""
    work = args.out or Path(tempfile.mkdtemp(prefix="profile-replay-"))
    work.mkdir(parents=True, exist_ok=True)
    manifest = work / "replay-sites.json"
    farm = subprocess.Popen([sys.executable, str(ROOT / "bench" / "replay_farm.py"), "--manifest", str(manifest),
                             "--latency", str(args.latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert farm.stdout is not None
        port = int(farm.stdout.readline().decode().split()[1])
        truth = json.loads(manifest.with_suffix(".truth.json").read_text(encoding="utf-8"))
        proc = procedure_for(["account-discovery"], args, "bench-replay")
        proc["steps"][0]["sites"] = manifest.name
        proc["steps"][0]["limits"] = {"max_pages": 10_000, "timeout_seconds": 1800}
        (work / "procedure.yaml").write_text(yaml.safe_dump(proc, sort_keys=False), encoding="utf-8")
        write_authorization(work)
        vet(work, "procedure", "approve", "procedure.yaml", login=COMMANDER)
        vet(work, "candidate", "add", "--name", "Replay Candidate",
            *[a for n in truth["usernames"] for a in ("--username", n)],
            "--authorization", "authorization.pdf", "--signed-on", "2026-11-01")
        cmd = ["--workspace", str(work / "workspace"), "run", "replay-candidate", "--procedure", "bench-replay"]
        wall, cpu = profiled(cmd, work / "replay.prof", args.py_spy, work / "replay.collapsed.txt",
                             logged_in(work, INVESTIGATOR))
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/__farm/stats", timeout=10) as resp:
            counts = json.loads(resp.read())["counts"]
    finally:
        if farm.stdin is not None:
            farm.stdin.close()
        farm.wait(10)
    requests = counts.get("robots", 0) + counts.get("account", 0)
    print(f"== replay: wall {wall:.1f} s, CPU {cpu:.1f} s (Chromium included), {requests} requests")
    if not args.py_spy:
        for key, rows in top(work / "replay.prof", args.top).items():
            print(f"-- by {key}")
            print("\n".join(rows))
    print(f"profiles in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
