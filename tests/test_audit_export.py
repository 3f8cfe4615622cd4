"""audit.export: what an export contains, and when it signs a final checkpoint."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from audit import AuditLog, export_log
from audit.events import canonical_json
from audit.merkle import CompactRange


def make_log(tmp_path: Path, n: int) -> AuditLog:
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "keys", "v/exp")
    log.create_schema()
    for i in range(n):
        log.append("item.captured", actor="x", case_id="c", payload={"i": i, "ü": "ß"})
    return log


def test_export_contents(tmp_path: Path) -> None:
    log = make_log(tmp_path, 9)
    log.checkpoint()
    log.append("audit.exported", actor="Cmdr. Diaz")          # unsigned tail: export signs it
    res = export_log(log.engine, log.key_dir, tmp_path / "out")
    assert (res.events, res.checkpoints, res.tree_size) == (10, 2, 10)
    assert res.root == log.root()
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["events.jsonl", "checkpoints.log", "public_key.pem", "standalone_verify.py",
         "VERIFY.md", "SHA256SUMS"])
    cr = CompactRange()
    for line, ev in zip((out / "events.jsonl").read_text(encoding="utf-8").splitlines(),
                        log.events()):
        rec = json.loads(line)
        assert line == canonical_json(rec)                  # each line is itself canonical
        assert rec["event"] == ev.document()
        data = canonical_json(rec["event"]).encode()
        assert hashlib.sha256(b"\x00" + data).hexdigest() == rec["leaf_hash"]
        assert rec["chain_hash"] == ev.chain_hash.hex()
        cr.append(bytes.fromhex(rec["leaf_hash"]))
    assert cr.root() == res.root
    assert "ß" in (out / "events.jsonl").read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    assert res.key_fingerprint in (out / "VERIFY.md").read_text()
    for line in (out / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert (out / "checkpoints.log").read_text() == (log.key_dir / "checkpoints.log").read_text()


def test_export_needs_an_origin_for_a_never_signed_log(tmp_path: Path) -> None:
    log = make_log(tmp_path, 3)
    with pytest.raises(ValueError, match="origin"):
        export_log(log.engine, log.key_dir, tmp_path / "out")
    res = export_log(log.engine, log.key_dir, tmp_path / "out2", origin="v/exp")
    assert res.checkpoints == 1 and res.tree_size == 3


def test_export_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    log = make_log(tmp_path, 1)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        export_log(log.engine, log.key_dir, tmp_path / "out", origin="v/exp")
