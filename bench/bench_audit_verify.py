"""Benchmark of `vet audit verify` as a user runs it: a workspace with real WARC evidence,
the whole command timed (log, checkpoints, every WARC record and sealed file and every
content-addressed copy re-hashed, the decision tables' index check). Not a test: run it by
hand or with `make bench`.

    .venv/bin/python bench/bench_audit_verify.py [--cases N] [--sites N] [--demo DIR] [--keep DIR]
                                                [--runs N] [--profile]

The workspace:

1. ``vet demo --out WORK/demo`` once (the real chain on the loopback demo web: 4 candidates,
   decisions, concurrences, reports, about 470 events and 5 MB of evidence). ``--demo DIR``
   reuses the workspace of a demo run before (it is copied, never changed).
2. ``--cases`` synthetic cases (default 24) added through the project's own writers: each
   step's ``.warc.gz`` by :class:`spiders.warc.WarcEvidenceWriter`, the content-addressed
   copies by ``Workspace.store_bytes``, the events by the audit log's ``append_many``, in the
   payload shapes the collectors write (``vetting/collectors/base.py``: ``item.captured`` with
   ``artifacts`` and ``warc_records`` file/offset/length/sha256/type, ``evidence.warc_sealed``
   with ``sealed_file``, ``request.allowed``, ``item.screened``, step and case events;
   personal values as ``hmac-sha256:`` commitments). Per case: a disclosed-profiles step of 6
   rendered pages and a web-search step of 3 (each page: an HTML response of ~150 KB, its
   rendered DOM ~180 KB, a ~700 KB screenshot that does not compress, as a PNG does not, its
   text ~12 KB, and 30 subresource requests), and an account-discovery step over ``--sites``
   sites (default 1,000: one request and one "missing" capture with a ~3 KB 404 page each).
   Page text is cut from a corpus of random words so it compresses about as HTML does.
   fsync is switched off while building (durability is not what is measured; the bytes are
   the writers' own). A checkpoint is signed after each case.

Then, with the page cache warm (the files were just written; a cold cache reads at the
disk's speed instead):

* ``vet audit verify`` in a child process, ``--runs`` times (default 3): wall time, exit
  code, the peak RSS of that process (``wait4``). Events/s and evidence MB/s are the whole
  command's: all events, resp. all evidence bytes, over its wall time.
* the split, in a fresh child process (best of ``--runs``): ``verify_log`` without the
  evidence root (leaves, chain, tree, checkpoints: events/s), with it (the difference is the
  evidence re-hash: MB/s), and ``check_index``. ``--profile`` adds a cProfile of the full
  ``verify_log`` (top functions by own time).

MB is 10^6 bytes: the bytes of every file under the workspace's ``evidence/`` (WARC files
and content-addressed copies). Results go to bench/results/audit_verify.json.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_EVENTS_PER_S = 100_000
TARGET_MB_PER_S = 200
PAGE_SIZES = {"body": 150_000, "dom": 180_000, "screenshot": 700_000, "text": 12_000}
PAGES = (("00", "disclosed-profiles", "pages", 6), ("02", "web-search", "search", 3))
SUBRESOURCES = 30
NOT_FOUND_SIZE = 3_000
WORDS = ("profile", "post", "photo", "comment", "share", "like", "follow", "city", "department",
         "officer", "training", "public", "account", "user", "name", "friend", "group", "event",
         "page", "message", "video", "link", "about", "contact", "home", "news", "search",
         "result", "review", "community", "member", "joined", "since", "update", "status",
         "timeline", "story")


def vet_command() -> list[str]:
    script = Path(sys.executable).with_name("vet")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from vetting.cli.main import main; main()"]


def commitment(rng: random.Random) -> str:
    return "hmac-sha256:" + rng.randbytes(32).hex()


class Content:
    """Unique page bytes of realistic compressibility, cheaply: slices of one random-word corpus."""

    def __init__(self, seed: int = 9) -> None:
        rng = random.Random(seed)
        words = rng.choices(WORDS, k=900_000)
        self.corpus = ("<html><body>" + " ".join(f"<p>{w}</p>" if i % 12 == 0 else w
                                                 for i, w in enumerate(words))).encode()
        self.rng = rng

    def text(self, n: int, tag: str) -> bytes:
        start = self.rng.randrange(0, len(self.corpus) - n)
        head = f"<!-- {tag} -->".encode()
        return head + self.corpus[start:start + n - len(head)]

    def picture(self, n: int) -> bytes:
        return b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(n - 8)


def add(ws: Any, rel: str, records: list[dict[str, Any]], artifacts: list[dict[str, Any]], ref: Any,
        kind: str, data: bytes, suffix: str) -> None:
    """What a collector records of one written WARC ref (``_warc_fields``) and its stored copy."""
    for span in ref.records:
        records.append({"file": rel, "offset": span.offset, "length": span.length,
                        "sha256": span.sha256, "type": span.record_type})
    a_rel, digest = ws.store_bytes(data, suffix)
    artifacts.append({"kind": kind, "path": a_rel, "sha256": digest})


def synthesize(ws: Any, cases: int, sites: int, log: Any = print) -> dict[str, Any]:
    """Add ``cases`` synthetic cases to the workspace; returns what was written."""
    from spiders.warc import WarcEvidenceWriter, sha256_prefix

    content = Content()
    rng = content.rng
    counts = {"cases": cases, "events": 0, "records": 0, "warc_files": 0, "pages": 0, "site_captures": 0}
    t0 = time.perf_counter()
    with mock.patch("os.fsync", lambda fd: None):
        for c in range(cases):
            case_id = f"case-bench-{c:04d}"
            investigator = "Det. Bench (synthetic)"
            events: list[tuple[str, str, str | None, str | None, dict[str, Any]]] = [
                ("case.opened", investigator, case_id, case_id, {"candidate": f"cand-bench-{c:04d}"})]
            steps = [PAGES[0], ("01", "account-discovery", "accounts", sites), PAGES[1]]
            for position, step, collector, n in steps:
                actor = f"collector:{collector}/0.1.0"
                rel = f"warc/{case_id}/{position}-{step}.warc.gz"
                path = ws.evidence_root / rel
                events.append(("step.started", investigator, case_id, step,
                               {"attempt": 1, "collector": collector, "inputs": [commitment(rng)],
                                "position": int(position), "resumed": False}))
                writer = WarcEvidenceWriter(path, {"software": "vetting/bench", "operator": investigator,
                                                   "case": case_id, "step": step})
                counts["warc_files"] += 1
                for i in range(n):
                    tag = f"{case_id} {step} {i}"
                    records: list[dict[str, Any]] = []
                    artifacts: list[dict[str, Any]] = []
                    keep = functools.partial(add, ws, rel, records, artifacts)

                    url = f"https://social.example/{case_id}/{step}/{i}"
                    headers = [("Content-Type", "text/html; charset=utf-8")]
                    if collector == "accounts":
                        body = content.text(NOT_FOUND_SIZE, tag)
                        events.append(("request.allowed", actor, case_id, commitment(rng),
                                       {"method": "GET", "reason": commitment(rng), "status": 404, "step": step}))
                        keep(writer.write_exchange(url, {"User-Agent": "bench"}, 404, headers, body),
                            "response", body, ".body")
                        outcome, kind, reached = "missing", "account", {"site": f"Site {i}", "via": "site_check"}
                        counts["site_captures"] += 1
                    else:
                        for _ in range(SUBRESOURCES):
                            events.append(("request.allowed", actor, case_id, commitment(rng),
                                           {"method": "GET", "reason": commitment(rng), "status": 200,
                                            "step": step}))
                        body = content.text(PAGE_SIZES["body"], tag)
                        keep(writer.write_exchange(url, {"User-Agent": "bench"}, 200, headers, body),
                            "response", body, ".body")
                        dom = content.text(PAGE_SIZES["dom"], tag + " dom")
                        keep(writer.write_resource(f"urn:dom:{url}", "text/html; charset=utf-8", dom, kind="dom"),
                            "dom", dom, ".html")
                        shot = content.picture(PAGE_SIZES["screenshot"])
                        keep(writer.write_resource(f"urn:screenshot:{url}", "image/png", shot), "screenshot",
                            shot, ".png")
                        text = content.text(PAGE_SIZES["text"], tag + " text")
                        keep(writer.write_resource(f"urn:text:{url}", "text/plain; charset=utf-8", text,
                                                  kind="text"), "text", text, ".txt")
                        outcome, kind, reached = "captured", "page", {"depth": 0, "via": "disclosed"}
                        counts["pages"] += 1
                    item = "item-" + hashlib.sha256(tag.encode()).hexdigest()[:16]
                    counts["records"] += len(records)
                    events.append(("item.captured", actor, case_id, item,
                                   {"artifacts": artifacts, "found_by": commitment(rng), "kind": kind,
                                    "outcome": outcome, "reached": reached, "reason": commitment(rng),
                                    "status": 404 if outcome == "missing" else 200, "step": step,
                                    "url": commitment(rng), "warc_records": records}))
                    if outcome == "captured":
                        events.append(("item.screened", "system:screening", case_id, item,
                                       {"contradictions": 0, "flags": [], "identifiers_matched": ["username"],
                                        "identity_level": "possible", "outside_lookback": False,
                                        "truncated": False, "undated": False}))
                writer.close()
                size = path.stat().st_size
                events.append(("evidence.warc_sealed", actor, case_id, rel,
                               {"sealed_file": {"path": rel, "sha256": sha256_prefix(path, size), "size": size},
                                "step": step}))
                events.append(("step.finished", "system:engine", case_id, step,
                               {"attempts": 1, "error": None, "items": n, "position": int(position),
                                "requests_allowed": n * (1 if collector == "accounts" else SUBRESOURCES),
                                "requests_refused": 0, "status": "completed"}))
            events.append(("case.completed", "system:engine", case_id, case_id, {"steps": 3}))
            for k in range(0, len(events), 20_000):
                ws.audit.append_many(events[k:k + 20_000])
            ws.audit.checkpoint()
            counts["events"] += len(events)
            if (c + 1) % max(1, cases // 4) == 0:
                log(f"  {c + 1}/{cases} cases, {counts['events']:,} events, {time.perf_counter() - t0:.0f} s")
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    return counts


def evidence_bytes(root: Path) -> dict[str, int]:
    out = {"warc": 0, "copies": 0, "other": 0, "files": 0}
    for p in root.rglob("*"):
        if p.is_file():
            size = p.stat().st_size
            out["files"] += 1
            part = p.relative_to(root).parts[0]
            out["warc" if part == "warc" else "copies" if part == "sha256" else "other"] += size
    out["total"] = out["warc"] + out["copies"] + out["other"]
    return out


def run_cli(ws_dir: Path) -> dict[str, Any]:
    """`vet audit verify` in a child; wall time, exit code and that child's peak RSS."""
    env = dict(os.environ, VETTING_HOME=str(ws_dir))
    t0 = time.perf_counter()
    proc = subprocess.Popen([*vet_command(), "audit", "verify"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": round(wall, 3), "exit": proc.returncode, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "output_tail": output.strip().splitlines()[-4:]}


def split_child(ws_dir: Path, runs: int, profile: bool) -> None:
    """In a fresh interpreter: verify_log bare / with evidence, check_index; best of ``runs``."""
    from audit import verify_log
    from vetting.store.log_index import check_index
    from vetting.store.workspace import Workspace

    ws = Workspace.open(ws_dir, create=False)
    times: dict[str, list[float]] = {"bare": [], "full": [], "index": []}
    report = None
    for _ in range(runs):
        t0 = time.perf_counter()
        bare = verify_log(ws.engine, ws.key_dir)
        times["bare"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = verify_log(ws.engine, ws.key_dir, evidence_root=ws.evidence_root)
        times["full"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        index = check_index(ws)
        times["index"].append(time.perf_counter() - t0)
    assert report is not None
    out: dict[str, Any] = {k: round(min(v), 3) for k, v in times.items()}
    out.update(ok=report.ok and bare.ok and not index, events=report.events_checked,
               records=report.records_checked, files=report.files_checked,
               problems=[str(p) for p in report.problems[:5]] + [str(p) for p in index[:5]])
    if profile:
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        verify_log(ws.engine, ws.key_dir, evidence_root=ws.evidence_root)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        out["profile"] = buf.getvalue()
    print(json.dumps(out))


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=24, help="synthetic cases added to the demo workspace")
    ap.add_argument("--sites", type=int, default=1000, help="account-discovery sites per synthetic case")
    ap.add_argument("--demo", type=Path, help="reuse this `vet demo --out` folder (its workspace is copied)")
    ap.add_argument("--keep", type=Path, help="build in this (empty) directory and keep it")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each measure (best is reported)")
    ap.add_argument("--profile", action="store_true", help="also cProfile one full verify_log")
    ap.add_argument("--verify-only", type=Path, metavar="WORKSPACE",
                    help="only time an existing workspace (no demo, no synthesis)")
    ap.add_argument("--split-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.split_child:
        ws_dir, runs, profile = args.split_child
        split_child(Path(ws_dir), int(runs), profile == "1")
        return

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-audit-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "load_start": loadavg(),
        "targets": {"events_per_s": TARGET_EVENTS_PER_S, "mb_per_s": TARGET_MB_PER_S},
    }
    try:
        if args.verify_only:
            ws_dir = args.verify_only
        else:
            ws_dir = work / "workspace"
            if ws_dir.exists():
                raise SystemExit(f"{ws_dir} exists; use an empty --keep directory")
            if args.demo:
                shutil.copytree(args.demo / "workspace", ws_dir)
                results["demo"] = {"reused": str(args.demo)}
            else:
                print("running `vet demo` once ...", flush=True)
                t0 = time.perf_counter()
                demo = subprocess.run([*vet_command(), "demo", "--out", str(work / "demo")],
                                      capture_output=True, text=True)
                if demo.returncode != 0:
                    raise SystemExit(f"vet demo failed ({demo.returncode}):\n"
                                     f"{demo.stdout[-2000:]}{demo.stderr[-2000:]}")
                results["demo"] = {"seconds": round(time.perf_counter() - t0, 1)}
                shutil.move(str(work / "demo" / "workspace"), ws_dir)
            from vetting.store.workspace import Workspace

            ws = Workspace.open(ws_dir, create=False)
            results["demo"]["events"] = ws.audit.size()
            print(f"synthesizing {args.cases} cases x ({sum(p[3] for p in PAGES)} pages + {args.sites} sites) ...",
                  flush=True)
            results["synthetic"] = synthesize(ws, args.cases, args.sites)
            ws.engine.dispose()
        ev = evidence_bytes(ws_dir / "evidence")
        results["evidence"] = {"files": ev["files"], "mb": round(ev["total"] / 1e6, 1),
                               "warc_mb": round(ev["warc"] / 1e6, 1), "copies_mb": round(ev["copies"] / 1e6, 1)}
        mb = ev["total"] / 1e6
        print(f"verifying: {results['evidence']['mb']} MB of evidence in {ev['files']:,} files", flush=True)

        cli_runs = [run_cli(ws_dir) for _ in range(args.runs)]
        best = min(cli_runs, key=lambda r: r["seconds"])
        split = json.loads(subprocess.run(
            [sys.executable, __file__, "--split-child", str(ws_dir), str(args.runs), "1" if args.profile else "0"],
            capture_output=True, text=True, check=True).stdout)
        events = split["events"]
        evidence_s = max(split["full"] - split["bare"], 1e-9)
        results["cli"] = {
            "runs_s": [r["seconds"] for r in cli_runs], "exit": [r["exit"] for r in cli_runs],
            "best_s": best["seconds"], "peak_rss_mib": max(r["peak_rss_mib"] for r in cli_runs),
            "events_per_s": round(events / best["seconds"]), "mb_per_s": round(mb / best["seconds"], 1),
            "output_tail": best["output_tail"]}
        results["split"] = {
            "events": events, "records": split["records"], "files": split["files"], "ok": split["ok"],
            "verify_log_bare_s": split["bare"], "verify_log_full_s": split["full"], "check_index_s": split["index"],
            "events_per_s": round(events / split["bare"]), "evidence_s": round(evidence_s, 3),
            "evidence_mb_per_s": round(mb / evidence_s, 1), "problems": split["problems"]}
        results["load_end"] = loadavg()
        results["meets_targets"] = {
            "events_per_s": results["split"]["events_per_s"] >= TARGET_EVENTS_PER_S,
            "mb_per_s": results["split"]["evidence_mb_per_s"] >= TARGET_MB_PER_S,
            "whole_command_events_per_s": results["cli"]["events_per_s"] >= TARGET_EVENTS_PER_S,
            "whole_command_mb_per_s": results["cli"]["mb_per_s"] >= TARGET_MB_PER_S}
        c, s = results["cli"], results["split"]
        rows = [
            ("workspace", f"{events:,} events, {s['records']:,} WARC records, {s['files']:,} copies, "
                          f"{results['evidence']['mb']} MB evidence ({results['evidence']['warc_mb']} MB WARC)"),
            ("vet audit verify", f"best {c['best_s']} s of {c['runs_s']}, exit {c['exit']}, "
                                 f"peak RSS {c['peak_rss_mib']} MiB"),
            ("  whole command", f"{c['events_per_s']:,} ev/s, {c['mb_per_s']} MB/s"),
            ("verify_log, no evidence", f"{s['verify_log_bare_s']} s: {s['events_per_s']:,} ev/s "
                                        f"(target {TARGET_EVENTS_PER_S:,})"),
            ("verify_log, with evidence", f"{s['verify_log_full_s']} s: evidence re-hash {s['evidence_s']} s, "
                                          f"{s['evidence_mb_per_s']} MB/s (target {TARGET_MB_PER_S})"),
            ("check_index", f"{s['check_index_s']} s"),
            ("result", "OK" if s["ok"] and set(c["exit"]) == {0} else f"PROBLEMS {s['problems']} {c['output_tail']}"),
            ("load average", f"{results['load_start']} -> {results['load_end']}"),
        ]
        width = max(len(a) for a, _ in rows)
        for a, b in rows:
            print(f"{a:<{width}}  {b}")
        if args.profile:
            print(split["profile"])
            results["profile"] = split["profile"]
        out = ROOT / "bench" / "results" / "audit_verify.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written {out.relative_to(ROOT)}")
    finally:
        if not args.keep:  # with --verify-only, work is an empty folder of its own
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
