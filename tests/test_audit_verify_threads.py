"""audit.verify with the evidence re-hashed in worker threads: the same problems, in the same
order, as inline (``hash_threads=0``), run after run, however the work is batched."""
from __future__ import annotations

import gzip
import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import audit.verify as verify
from audit import AuditLog, verify_log

EVENTS = 240


def build(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A log whose events name artifacts and WARC records (and seal the WARC files), then
    tampered with everywhere: copies changed or deleted (some disposed of by a later event),
    records corrupted or cut short, sealed files changed, event fields edited."""
    db, keys, ev = tmp_path / "audit.db", tmp_path / "keys", tmp_path / "evidence"
    log = AuditLog(create_engine(f"sqlite:///{db}"), keys, "vetting/ws-threads")
    log.create_schema()
    ev.mkdir()
    warc_size: dict[str, int] = {}
    for seq in range(EVENTS):
        case = f"case-{seq % 3}"
        arts = []
        for k in range(seq % 4):
            data = (f"copy {seq}/{k} " * (50 + 400 * k)).encode()
            rel = f"sha256/{seq % 7:02d}/{seq}-{k}.bin"
            (ev / rel).parent.mkdir(parents=True, exist_ok=True)
            (ev / rel).write_bytes(data)
            arts.append({"path": rel, "sha256": hashlib.sha256(data).hexdigest()})
        recs = []
        warc = f"warc/{case}/step-{seq // 40}.warc.gz"
        for k in range(seq % 3):
            body = f"WARC/1.1\r\nevent {seq} record {k}\r\n\r\n".encode() * (1 + 100 * k)
            member = gzip.compress(body)
            (ev / warc).parent.mkdir(parents=True, exist_ok=True)
            with open(ev / warc, "ab") as f:
                f.write(member)
            offset = warc_size.get(warc, 0)
            warc_size[warc] = offset + len(member)
            recs.append({"file": warc, "offset": offset, "length": len(member),
                         "sha256": hashlib.sha256(body).hexdigest(), "type": "response"})
        payload: dict = {"n": seq}
        if arts:
            payload["artifacts"] = arts
        if recs:
            payload["warc_records"] = recs
        if seq % 40 == 39:  # each WARC file of this step sealed
            for rel in sorted(r for r in warc_size if r.endswith(f"step-{seq // 40}.warc.gz")):
                data = (ev / rel).read_bytes()
                log.append("evidence.warc_sealed", actor="collector", case_id=rel.split("/")[1],
                           payload={"sealed_file": {"path": rel, "size": len(data),
                                                    "sha256": hashlib.sha256(data).hexdigest()}})
        if seq == 200:  # disposes of some copies recorded before, deleted below
            payload["disposed_evidence"] = {"paths": ["sha256/03/10-1.bin"], "prefixes": ["sha256/05/"]}
        log.append("item.captured", actor="collector", case_id=case, subject=f"item-{seq}", payload=payload)
        if seq % 50 == 49:
            log.checkpoint()
    log.checkpoint()

    for path in sorted((ev / "sha256").rglob("*.bin"))[::5]:  # every fifth copy changed
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    for path in sorted((ev / "sha256").rglob("*.bin"))[2::9]:  # some deleted (some disposed of)
        path.unlink()
    (ev / "sha256/03/10-1.bin").unlink(missing_ok=True)
    for i, path in enumerate(sorted((ev / "warc").rglob("*.warc.gz"))):
        data = bytearray(path.read_bytes())
        if i % 3 == 0:
            data[len(data) // 3] ^= 0xFF        # a record unreadable, its file changed since sealed
        elif i % 3 == 1:
            del data[len(data) - 100:]          # the last records cut short
        path.write_bytes(bytes(data))
    con = sqlite3.connect(db)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE audit_event SET time = '2020-01-01T00:00:00Z' WHERE seq % 37 = 5")
    con.commit()
    con.close()
    return db, keys, ev


def problems(db: Path, keys: Path, ev: Path, **kw) -> tuple[list[tuple[str, str]], tuple[int, ...]]:  # type: ignore[no-untyped-def]
    report = verify_log(create_engine(f"sqlite:///{db}"), keys, evidence_root=ev, **kw)
    return ([(p.where, p.message) for p in report.problems],
            (report.suppressed, report.files_checked, report.files_disposed, report.records_checked,
             report.events_checked))


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return build(tmp_path_factory.mktemp("threads"))


def test_threads_report_what_inline_reports_in_the_same_order(
        tampered: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    inline = problems(*tampered, hash_threads=0)
    found, counts = inline
    wheres = {w.split(" ")[0] for w, _ in found}
    assert {"event", "file", "checkpoint"} <= wheres          # all kinds, interleaved
    assert len(found) > 100 and counts[2] > 0                 # many problems; some copies disposed
    assert any("contents changed" in m for _, m in found)
    assert any("missing (recorded by event" in m for _, m in found)
    assert any("record unreadable" in m for _, m in found)
    assert any("cut short" in m for _, m in found)
    assert any("sealed it" in m for _, m in found)
    assert any(m.startswith("missing") and "sha256/05/" in w for w, m in found)  # recorded after 200
    assert not any(("sha256/05/" in w or w == "file sha256/03/10-1.bin") and m.startswith("missing")
                   and int(m.rstrip(")").rsplit(" ", 1)[1]) < 200
                   for w, m in found)                         # deleted, but disposed of by event 200
    for small_event in (0, 1 << 10, verify._SMALL_EVENT):  # all, some or few events to the threads
        monkeypatch.setattr(verify, "_SMALL_EVENT", small_event)
        for batch_items in (1, 3, 32):
            monkeypatch.setattr(verify, "_BATCH_ITEMS", batch_items)
            for threads in (1, 2, 4, 2):
                assert problems(*tampered, hash_threads=threads) == inline, (small_event, batch_items, threads)


def test_threads_keep_the_cap_on_listed_problems(tampered: tuple[Path, Path, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "_BATCH_ITEMS", 2)
    monkeypatch.setattr(verify, "_SMALL_EVENT", 1 << 10)
    inline = problems(*tampered, hash_threads=0, max_problems=25)
    assert len(inline[0]) == 25 and inline[1][0] > 0
    for _ in range(3):
        assert problems(*tampered, hash_threads=2, max_problems=25) == inline
