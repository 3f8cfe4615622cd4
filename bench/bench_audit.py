"""Benchmark of the audit log: append throughput at the start and the end of a large log, and
verify_log throughput and peak memory over it. Not a test: run it by hand or with `make bench`.

    .venv/bin/python bench/bench_audit.py [--events N] [--keep DIR]

Builds the log in a temporary SQLite file (bulk appends in large transactions, the same code
path as single appends), checkpointing every 10% of the way, then verifies it in a fresh
child process so the reported peak RSS is the verifier's alone. Verification runs twice, at a
tenth of the log and at all of it: memory that stays flat while the log grows tenfold is the
evidence that verify streams. Results go to bench/results/audit.json.

Concurrent writers: three child processes append single events (one transaction each, under
the log's write lock) to one log with the workspace's SQLite settings (WAL, synchronous=FULL,
busy timeout), all starting at once; the aggregate events/s, each writer's, and the check that
the log came out dense and verifying are reported. Single appends are also measured with
those settings, as the toolkit runs them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event

from audit import AuditLog, verify_log

ORIGIN = "vetting/bench"
BATCH = 20_000
SINGLE = 300   # single appends measured at each end (3 rounds of 100)
MIX_WRITERS = 3
MIX_EVENTS = 1000  # single appends per writer in the 3-process mix


def workspace_engine(db: Path):  # type: ignore[no-untyped-def]
    """An engine with the workspace's SQLite settings (vetting.store.db.make_engine)."""
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


def append_child(db: Path, keys: Path, n: int, name: str, go: Path) -> None:
    """One writer of the mix: wait for the start signal, append ``n`` single events, print its rate."""
    log = AuditLog(workspace_engine(db), keys, ORIGIN)
    while not go.exists():
        time.sleep(0.001)
    t0 = time.perf_counter()
    for k in range(n):
        log.append("request.allowed", actor=name, case_id=f"case-{name}", subject=f"r-{k}", payload=payload(k))
    print(json.dumps({"writer": name, "events": n, "per_s": round(n / (time.perf_counter() - t0))}))


def mix(work: Path) -> dict:
    """Three processes appending single events to one log at once (workspace settings)."""
    db, keys, go = work / "mix.db", work / "mix-keys", work / "mix-go"
    log = AuditLog(workspace_engine(db), keys, ORIGIN)
    log.create_schema()
    single = single_appends(log, SINGLE)
    before = log.size()
    procs = [subprocess.Popen([sys.executable, __file__, "--append-child", str(db), str(keys), str(MIX_EVENTS),
                               f"writer-{k}", str(go)], stdout=subprocess.PIPE, text=True)
             for k in range(MIX_WRITERS)]
    time.sleep(1.0)
    t0 = time.perf_counter()
    go.touch()
    writers = [json.loads(p.communicate()[0]) for p in procs]
    wall = time.perf_counter() - t0
    errors = sum(p.returncode != 0 for p in procs)
    total = MIX_WRITERS * MIX_EVENTS
    log.checkpoint()
    report = verify_log(log.engine, keys)
    from sqlalchemy import text

    with log.engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM audit_event ORDER BY seq"))]
    return {"single_wal_per_s": single["per_s"], "writers": MIX_WRITERS, "events": total, "errors": errors,
            "aggregate_per_s": round(total / wall), "per_writer_per_s": [w["per_s"] for w in writers],
            "dense": seqs == list(range(before + total)), "verify_ok": report.ok}


def payload(i: int) -> dict:
    """Representative events: ~300 bytes of JSON, every 20th with an artifact reference."""
    p: dict = {"url": f"https://social.example/u/user{i % 977}/post/{i}", "status": 200,
               "step": "disclosed-profiles", "matched": ["username", "city"],
               "note": "captured as it appears to the public, logged out", "n": i}
    return p


def build(log: AuditLog, start: int, stop: int, checkpoint_every: int) -> float:
    """Append events [start, stop) in bulk; returns events per second."""
    t0 = time.perf_counter()
    i = start
    while i < stop:
        j = min(stop, i + BATCH, (i // checkpoint_every + 1) * checkpoint_every)
        log.append_many([("request.allowed", "collector:pages/0.1.0", f"case-{k % 50}",
                          f"item-{k}", payload(k)) for k in range(i, j)])
        i = j
        if i % checkpoint_every == 0:
            log.checkpoint()
    return (stop - start) / (time.perf_counter() - t0)


def single_appends(log: AuditLog, n: int) -> dict:
    """``n`` single appends, one transaction (and one commit to disk) each.

    Returns events per second (best of three rounds: the machine is shared, and a commit's
    fsync is at the mercy of the disk) and the statements and rows per append, which do not
    depend on the machine at all.
    """
    counts = {"statements": 0, "rows": 0}

    def on_execute(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        counts["statements"] += 1
        if statement.startswith("INSERT"):
            counts["rows"] += len(params) if executemany else 1

    event.listen(log.engine, "before_cursor_execute", on_execute)
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        for k in range(n // 3):
            log.append("item.screened", actor="system:screening", case_id="case-x",
                       subject=f"s-{k}", payload={"flags": [], "k": k})
        rates.append((n // 3) / (time.perf_counter() - t0))
    event.remove(log.engine, "before_cursor_execute", on_execute)
    done = 3 * (n // 3)
    return {"per_s": round(max(rates)), "statements_per_append": counts["statements"] / done,
            "rows_per_append": counts["rows"] / done}


def verify_in_child(db: Path, keys: Path) -> dict:
    """Run verify_log in a fresh interpreter; returns its figures including peak RSS."""
    out = subprocess.run([sys.executable, __file__, "--verify-only", str(db), str(keys)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def peak_rss_kib() -> int:
    """This process's peak RSS. VmHWM (Linux) is per address space, so unlike ru_maxrss it
    does not inherit the parent's high-water mark across fork/exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def verify_only(db: Path, keys: Path) -> None:
    engine = create_engine(f"sqlite:///{db}")
    base = peak_rss_kib()
    t0 = time.perf_counter()
    report = verify_log(engine, keys)
    dt = time.perf_counter() - t0
    peak = peak_rss_kib()
    print(json.dumps({"ok": report.ok, "events": report.events_checked,
                      "checkpoints": report.checkpoints_checked, "seconds": round(dt, 3),
                      "events_per_second": round(report.events_checked / dt),
                      "peak_rss_mib": round(peak / 1024, 1),
                      "rss_before_verify_mib": round(base / 1024, 1),
                      "problems": [str(p) for p in report.problems[:5]]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="build in this directory and keep it")
    ap.add_argument("--verify-only", nargs=2, type=Path, metavar=("DB", "KEYS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--mix-only", action="store_true", help="only the single-append and 3-process mix figures")
    ap.add_argument("--append-child", nargs=5, metavar=("DB", "KEYS", "N", "NAME", "GO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.verify_only:
        verify_only(*args.verify_only)
        return
    if args.append_child:
        db_, keys_, n_, name_, go_ = args.append_child
        append_child(Path(db_), Path(keys_), int(n_), name_, Path(go_))
        return
    if args.mix_only:
        print(json.dumps(mix(Path(tempfile.mkdtemp(prefix="bench-audit-mix-")))))
        return
    n = args.events
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    db, keys = work / "audit.db", work / "keys"
    if db.exists():
        raise SystemExit(f"{db} exists; use an empty --keep directory")
    log = AuditLog(create_engine(f"sqlite:///{db}"), keys, ORIGIN)
    log.create_schema()
    every = max(1, n // 10)

    single_start = single_appends(log, SINGLE)
    tenth = max(n // 10, SINGLE)
    bulk_start = build(log, log.size(), tenth, every)
    log.checkpoint()
    v_tenth = verify_in_child(db, keys)
    bulk_end = build(log, log.size(), n, every)
    single_end = single_appends(log, SINGLE)
    log.checkpoint()
    v_full = verify_in_child(db, keys)
    concurrent = mix(work)

    results = {
        "events": log.size(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "db_size_mib": round(db.stat().st_size / 2**20, 1),
        "append_single": {"start": single_start, "end": single_end},
        "append_bulk_per_s": {"first_tenth": round(bulk_start), "rest": round(bulk_end)},
        "verify_at_tenth": v_tenth,
        "verify_full": v_full,
        "append_3_process_mix": concurrent,
    }
    rows = [
        ("events in log", f"{results['events']:,}"),
        ("database size", f"{results['db_size_mib']} MiB"),
        ("single append, empty log", (f"{single_start['per_s']:,} ev/s (one commit each), "
                                     f"{single_start['statements_per_append']:.2f} statements, "
                                     f"{single_start['rows_per_append']:.2f} rows per append")),
        ("single append, full log", (f"{single_end['per_s']:,} ev/s (one commit each), "
                                    f"{single_end['statements_per_append']:.2f} statements, "
                                    f"{single_end['rows_per_append']:.2f} rows per append")),
        ("bulk append, first 10%", f"{bulk_start:,.0f} ev/s"),
        ("bulk append, last 90%", f"{bulk_end:,.0f} ev/s"),
        (f"verify {v_tenth['events']:,} events", (f"{v_tenth['events_per_second']:,} ev/s, "
                                                 f"peak RSS {v_tenth['peak_rss_mib']} MiB")),
        (f"verify {v_full['events']:,} events", (f"{v_full['events_per_second']:,} ev/s, "
                                                f"peak RSS {v_full['peak_rss_mib']} MiB")),
        ("verify result", "OK" if v_full["ok"] else f"PROBLEMS {v_full['problems']}"),
        ("single append, WAL (workspace)", f"{concurrent['single_wal_per_s']:,} ev/s (one commit each)"),
        (f"{MIX_WRITERS}-process mix, WAL", (f"{concurrent['aggregate_per_s']:,} ev/s in all, per writer "
                                             f"{concurrent['per_writer_per_s']}; {concurrent['errors']} errors, "
                                             f"dense {concurrent['dense']}, verify "
                                             f"{'OK' if concurrent['verify_ok'] else 'FAILED'}")),
    ]
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    out = ROOT / "bench" / "results" / "audit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")
    if not args.keep:
        for p in sorted(work.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        work.rmdir()


if __name__ == "__main__":
    main()
