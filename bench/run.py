"""`make bench`: run every bench/bench_*.py in turn, then print one summary table of their results.

    .venv/bin/python bench/run.py [--only accounts,audit] [--timeout 3600] [--no-run]

Each benchmark runs as a subprocess with its own defaults, so one that crashes or hangs
cannot take the others down, and each measures peak memory of its own processes only. A
benchmark writes its figures to bench/results/<name>.json; this script reads them back
(whatever keys each one chose) and prints a few headline figures per benchmark. A missing
script is skipped; a failing one is reported and the next one still runs. Exit status 1 if
any benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
#: The benchmarks make bench is expected to run; any other bench_*.py found is run too.
EXPECTED = ("accounts", "audit", "audit_verify", "inputs", "queue", "redaction", "render", "reports", "web")


def headline(name: str, data: dict[str, Any]) -> str:
    """A one-line summary of a results file; known benchmarks get chosen figures, others a few scalars."""
    if name == "accounts":
        parts = []
        for tool in ("ours", "sherlock", "maigret"):
            r = data.get(tool) or {}
            if "wall_s" in r:
                # The sampled peak of the tree's largest process: ru_maxrss of a forked child starts
                # at the benchmark's own RSS (Linux keeps it across exec), so it is never below it.
                largest = r.get("largest_process") or {}
                parts.append(f"{tool} {r['wall_s']} s / largest process {largest.get('name', '?')} "
                             f"{largest.get('peak_rss_mib', '?')} MiB")
            elif r:
                parts.append(f"{tool}: {r.get('skipped', 'not run')}")
        ours = data.get("ours") or {}
        if "vs_limit" in ours:
            parts.append(f"ours {ours['vs_limit']}x limit {ours['limit']['limit_s']} s")
        # The three figures of issue 15, from this one run.
        if "cold_vs_sherlock" in ours:
            parts.append(f"cold/Sherlock {ours['cold_vs_sherlock']}x (target <= 2)")
        warm = ours.get("warm") or {}
        if "vs_sherlock" in warm:
            parts.append(f"warm {warm['wall_s']} s, warm/Sherlock {warm['vs_sherlock']}x (target < 1)")
        replay = data.get("replay") or {}
        if "vs_limit" in replay:
            parts.append(f"replay {replay['wall_s']} s = {replay['vs_limit']}x its limit (target <= 3), "
                         f"precision {replay['precision']}, recall {replay['recall']}")
        floor = data.get("floor") or {}
        for binary, c in (floor.get("chromium") or {}).items():
            parts.append(f"floor: {binary} alone renders the {c['pages']} found profiles in {c['wall_s']} s")
        if "case_fixed_s" in floor:
            parts.append(f"floor: a one-site case {floor['case_fixed_s']} s")
        rc = floor.get("replay_chromium") or {}
        if rc:
            parts.append(f"floor of the replay: {rc['pages']} renders alone {rc['wall_s']} s")
        pages = data.get("pages") or {}
        if "render_s_per_page" in pages:
            parts.append(f"render {pages['render_s_per_page']} s/page")
        return f"{data.get('sites')} sites: " + "; ".join(parts)
    if name == "render":
        return (f"{data.get('pages')} demo pages: {data.get('render_s_per_page')} s per rendered page, "
                f"{data.get('browser_requests_per_page')} browser requests/page (load {data.get('loadavg_1min')})")
    if name == "reports":
        keys = ("findings", "data_s", "html_render_s", "pdf_s", "verify_receipts_s", "meets_targets")
        return ", ".join(f"{k}={data[k]}" for k in keys if k in data)
    if name == "redaction":
        keys = ("findings", "per_finding_s", "picture_s", "reuse_s", "meets_target")
        return ", ".join(f"{k}={data[k]}" for k in keys if k in data)
    if name == "audit":
        full = data.get("verify_full") or {}
        single = (data.get("append_single") or {}).get("end") or {}
        mix = data.get("append_3_process_mix") or {}
        return (f"events={data.get('events')}, append {single.get('per_s')}/s (single), "
                f"bulk {(data.get('append_bulk_per_s') or {}).get('rest')}/s, verify "
                f"{full.get('events_per_second')} ev/s, peak {full.get('peak_rss_mib')} MiB, "
                f"3-process mix {mix.get('aggregate_per_s')}/s ({mix.get('errors')} errors)")
    if name == "audit_verify":
        cli, split = data.get("cli") or {}, data.get("split") or {}
        return (f"{split.get('events')} events, {(data.get('evidence') or {}).get('mb')} MB evidence: "
                f"vet audit verify {cli.get('best_s')} s, peak {cli.get('peak_rss_mib')} MiB; "
                f"{split.get('events_per_s')} ev/s, evidence {split.get('evidence_mb_per_s')} MB/s "
                f"(targets met: {data.get('meets_targets')})")
    if name == "queue":
        runs = ", ".join(f"{r['workers']}w {r['cases_per_min']}/min (x{r.get('speedup_vs_1')})"
                         for r in data.get("workers") or [])
        return (f"{data.get('cases')} cases: {runs}; queue overhead {data.get('queue_overhead_s_per_job')} s/job; "
                f"direct {(data.get('direct') or {}).get('s_per_case')} s/case")
    if name == "web":
        loaded = {page: (data.get("concurrent") or {}).get(page) or {} for page in ("case", "item")}
        pages = ", ".join(f"{page} p50 {f.get('p50_ms')} / p95 {f.get('p95_ms')} ms" for page, f in loaded.items())
        return (f"{data.get('candidates')} candidates, {data.get('items')} items, {data.get('clients')} sessions: "
                f"{pages}; {data.get('requests_per_s')} req/s (target met: {data.get('meets_target')})")
    scalars = [f"{k}={v}" for k, v in data.items() if isinstance(v, (int, float, str, bool))][:6]
    return ", ".join(scalars)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help="comma-separated benchmark names (e.g. accounts,audit)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark")
    p.add_argument("--no-run", action="store_true", help="only summarize the results already in bench/results")
    args = p.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    scripts = sorted(set(BENCH.glob("bench_*.py")) | {BENCH / f"bench_{n}.py" for n in EXPECTED})
    rows: list[tuple[str, str, str, str]] = []
    failed = False
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        if not script.exists():
            rows.append((name, "missing", "-", "-"))
            continue
        result_file = RESULTS / f"{name}.json"
        before = result_file.stat().st_mtime if result_file.exists() else None
        if args.no_run:
            summary = headline(name, json.loads(result_file.read_text(encoding="utf-8"))) \
                if result_file.exists() else "no results"
            rows.append((name, "not run", "-", summary))
            continue
        print(f"== {script.name}", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run([sys.executable, str(script)], cwd=BENCH.parent, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        took = f"{time.monotonic() - t0:.0f} s"
        status = "ok" if rc == 0 else f"failed ({rc})"
        failed = failed or rc != 0
        fresh = result_file.exists() and result_file.stat().st_mtime != before
        if not fresh:
            summary = "no new results" + (" (an old file is left)" if result_file.exists() else "")
        else:
            try:
                summary = headline(name, json.loads(result_file.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                summary = f"unreadable results: {exc}"
        rows.append((name, status, took, summary))
    print("\nbenchmark summary")
    header = ("benchmark", "status", "took", "headline figures (bench/results/<name>.json)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
