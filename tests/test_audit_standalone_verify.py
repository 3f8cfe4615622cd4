"""audit/standalone_verify.py: copied out of the repository, run in isolation, on exports that
an attacker has altered in each of the ways the database verifier is tested against."""
from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

import audit.standalone_verify as sv
from audit import AuditLog, export_log, verify_log
from audit.checkpoints import public_key_pem, sign_checkpoint

SCRIPT = Path(sv.__file__)
ORIGIN = "vetting/ws-export"


@dataclass
class Exported:
    out: Path
    script: Path
    evidence: Path
    fingerprint: str
    log: AuditLog
    tmp: Path

    def run(self, *args: str, out: Path | None = None) -> subprocess.CompletedProcess[str]:
        # -I: isolated mode, and cwd far from the repository: nothing of `audit` is importable.
        return subprocess.run([sys.executable, "-I", str(self.script), str(out or self.out),
                               *args], cwd=self.script.parent, capture_output=True, text=True,
                              timeout=60, check=False)

    def problems(self, *args: str) -> list[str]:
        res = self.run(*args)
        assert res.returncode == 1, res.stdout + res.stderr
        return [line[len("PROBLEM "):] for line in res.stdout.splitlines()
                if line.startswith("PROBLEM ")]

    def lines(self) -> list[dict]:
        return [json.loads(x) for x in (self.out / "events.jsonl").read_text().splitlines()]

    def write_lines(self, recs: list[dict]) -> None:
        (self.out / "events.jsonl").write_text(
            "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                    + "\n" for r in recs), encoding="utf-8")
        (self.out / "SHA256SUMS").unlink(missing_ok=True)  # the attacker would redo it anyway


@pytest.fixture()
def exported(tmp_path: Path) -> Exported:
    ev = tmp_path / "evidence"
    ev.mkdir()
    (ev / "cap.warc").write_bytes(b"WARC/1.1 body")
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "keys", ORIGIN)
    log.create_schema()
    for i in range(20):
        payload: dict = {"i": i, "text": "naïve café"}
        if i == 3:
            payload["artifacts"] = [{"path": "cap.warc",
                                     "sha256": hashlib.sha256(b"WARC/1.1 body").hexdigest()}]
        log.append("item.captured", actor="collector:pages/0.1.0", case_id="case-1",
                   subject=f"item-{i}", payload=payload)
        if i + 1 in (8, 15):
            log.checkpoint()
    result = export_log(log.engine, tmp_path / "keys", tmp_path / "export")   # signs size 20
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = elsewhere / "standalone_verify.py"
    shutil.copyfile(result.out_dir / "standalone_verify.py", script)
    return Exported(result.out_dir, script, ev, result.key_fingerprint, log, tmp_path)


def test_imports_only_stdlib_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            roots.add((node.module or "").split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


def test_good_export_verifies_in_isolation(exported: Exported) -> None:
    res = exported.run("--fingerprint", exported.fingerprint, "--evidence", str(exported.evidence))
    assert res.returncode == 0, res.stdout + res.stderr
    root = exported.log.root().hex()
    assert res.stdout.strip() == (
        f"OK: 20 events, 3 checkpoints, origin {ORIGIN}, root {root}, "
        f"key fingerprint {exported.fingerprint}")
    # and both verifiers agree on the root
    assert verify_log(exported.log.engine, exported.log.key_dir).root.hex() == root


def test_edit_one_event(exported: Exported) -> None:
    recs = exported.lines()
    recs[9]["event"]["actor"] = "Lt. Forger"
    exported.write_lines(recs)
    assert exported.problems() == [
        "event 9: leaf hash does not match its contents",
        "checkpoint 1: signed root for size 15 does not match the tree of events 0..14",
        "checkpoint 2: signed root for size 20 does not match the tree of events 0..19",
    ]


def test_delete_one_event(exported: Exported) -> None:
    recs = exported.lines()
    del recs[9]
    exported.write_lines(recs)
    assert exported.problems() == [
        "event 10: out of sequence (expected event 9)",
        "event 10: chain hash does not follow from the previous event",
        "checkpoint 1: signed root for size 15 does not match the tree of events 0..14",
        "checkpoint 2: covers 20 events, the export has 19",
    ]


def test_swap_two_events(exported: Exported) -> None:
    recs = exported.lines()
    recs[4], recs[5] = recs[5], recs[4]
    exported.write_lines(recs)
    assert exported.problems() == [
        "event 5: out of sequence (expected event 4)",
        "event 5: chain hash does not follow from the previous event",
        "event 4: out of sequence (expected event 6)",
        "event 4: chain hash does not follow from the previous event",
        "event 6: out of sequence (expected event 5)",
        "event 6: chain hash does not follow from the previous event",
        "checkpoint 0: signed root for size 8 does not match the tree of events 0..7",
        "checkpoint 1: signed root for size 15 does not match the tree of events 0..14",
        "checkpoint 2: signed root for size 20 does not match the tree of events 0..19",
    ]


def test_truncate_the_tail(exported: Exported) -> None:
    exported.write_lines(exported.lines()[:12])
    assert exported.problems() == [
        "checkpoint 1: covers 15 events, the export has 12",
        "checkpoint 2: covers 20 events, the export has 12",
    ]


def test_unsigned_tail(exported: Exported) -> None:
    recs = exported.lines()
    extra = json.loads(json.dumps(recs[-1]))
    extra["event"]["seq"] = 20
    data = json.dumps(extra["event"], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
    leaf = hashlib.sha256(b"\x00" + data).digest()
    extra["leaf_hash"] = leaf.hex()
    extra["chain_hash"] = hashlib.sha256(bytes.fromhex(recs[-1]["chain_hash"]) + leaf).hexdigest()
    exported.write_lines(recs + [extra])
    assert exported.problems() == [
        "event 20..end: not covered by any signed checkpoint (1 events)"]
    assert exported.run("--allow-unsigned-tail").returncode == 0


def test_replaced_signature(exported: Exported) -> None:
    path = exported.out / "checkpoints.log"
    entries = [json.loads(x) for x in path.read_text().splitlines()]
    note = entries[1]["note"]
    sig = note.rstrip("\n").rsplit(" ", 1)[1]
    import base64
    blob = bytearray(base64.b64decode(sig))
    blob[20] ^= 0x40
    entries[1]["note"] = note.replace(sig, base64.b64encode(bytes(blob)).decode())
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert exported.problems() == [
        "file checkpoints.log: does not match SHA256SUMS",
        "checkpoint 1: signature does not verify with the log's public key",
    ]


def test_rekeyed_export_fails_against_the_published_fingerprint(exported: Exported) -> None:
    """A forger rewrites an event, re-signs everything with their own key and ships that key."""
    recs = exported.lines()
    recs[2]["event"]["payload"]["text"] = "rewritten"
    from audit.merkle import CompactRange
    chain, cr, checkpoints = bytes(32), CompactRange(), []
    fresh = Ed25519PrivateKey.generate()
    for r in recs:
        data = json.dumps(r["event"], sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()
        leaf = hashlib.sha256(b"\x00" + data).digest()
        chain = hashlib.sha256(chain + leaf).digest()
        r["leaf_hash"], r["chain_hash"] = leaf.hex(), chain.hex()
        cr.append(leaf)
        if cr.size in (8, 15, 20):
            checkpoints.append({"checkpoint": len(checkpoints), "time": "t",
                                "note": sign_checkpoint(fresh, ORIGIN, cr.size, cr.root())})
    exported.write_lines(recs)
    (exported.out / "checkpoints.log").write_text(
        "".join(json.dumps(c) + "\n" for c in checkpoints))
    genuine_pem = (exported.out / "public_key.pem").read_bytes()
    (exported.out / "public_key.pem").write_bytes(public_key_pem(fresh.public_key()))
    assert exported.run().returncode == 0      # self-consistent on its own terms...
    probs = exported.problems("--fingerprint", exported.fingerprint)
    assert len(probs) == 1 and probs[0].startswith("key: fingerprint ")
    genuine = exported.tmp / "genuine.pem"
    genuine.write_bytes(genuine_pem)
    assert exported.problems("--public-key", str(genuine)) == [
        f"checkpoint {i}: no signature by the log's public key" for i in range(3)
    ] + ["checkpoints.log: no validly signed checkpoint: no event is covered"]


def test_history_rewritten_by_the_key_holder_fails_against_earlier_checkpoints(
        exported: Exported) -> None:
    """Even the key holder cannot rewrite what a third party already received."""
    earlier = exported.tmp / "earlier-checkpoints.log"
    shutil.copyfile(exported.out / "checkpoints.log", earlier)
    # The key holder builds a different history with the same key and origin.
    keys2 = exported.tmp / "keys2"
    keys2.mkdir()
    for name in ("audit-ed25519.key", "audit-ed25519.pub"):
        shutil.copy2(exported.log.key_dir / name, keys2 / name)
    log2 = AuditLog(create_engine(f"sqlite:///{exported.tmp / 'b.db'}"), keys2, ORIGIN)
    log2.create_schema()
    for i in range(25):
        log2.append("item.captured", actor="collector:pages/0.1.0", case_id="case-1",
                    subject=f"item-{i}", payload={"i": i, "text": "different"})
    second = export_log(log2.engine, keys2, exported.tmp / "export2", origin=ORIGIN)
    assert second.key_fingerprint == exported.fingerprint
    assert exported.run(out=second.out_dir).returncode == 0
    res = exported.run("--previous", str(earlier), out=second.out_dir)
    assert res.returncode == 1
    label = "previous checkpoint (earlier-checkpoints.log)"
    assert [x for x in res.stdout.splitlines() if x.startswith("PROBLEM")] == [
        f"PROBLEM {label} 0: signed root for size 8 does not match the tree of events 0..7",
        f"PROBLEM {label} 1: signed root for size 15 does not match the tree of events 0..14",
        f"PROBLEM {label} 2: signed root for size 20 does not match the tree of events 0..19",
    ]


def test_evidence_changed(exported: Exported) -> None:
    (exported.evidence / "cap.warc").write_bytes(b"WARC/1.1 bodY")
    assert exported.problems("--evidence", str(exported.evidence)) == [
        "file cap.warc: contents changed since event 3 recorded them"]
    (exported.evidence / "cap.warc").unlink()
    assert exported.problems("--evidence", str(exported.evidence)) == [
        "file cap.warc: missing (recorded by event 3)"]


def test_damaged_in_transit(exported: Exported) -> None:
    with open(exported.out / "VERIFY.md", "a") as f:
        f.write("tampered\n")
    assert exported.problems() == ["file VERIFY.md: does not match SHA256SUMS"]


def test_unreadable_export_exits_2(exported: Exported, tmp_path: Path) -> None:
    res = exported.run(out=tmp_path / "nowhere")
    assert res.returncode == 2 and "ERROR" in res.stderr
    (exported.out / "events.jsonl").unlink()
    assert exported.run().returncode == 2


def test_malformed_lines_are_problems(exported: Exported) -> None:
    text = (exported.out / "events.jsonl").read_text().splitlines(keepends=True)
    text[3] = "{not json\n"
    (exported.out / "events.jsonl").write_text("".join(text))
    (exported.out / "SHA256SUMS").unlink()
    probs = exported.problems()
    assert probs[0].startswith("events.jsonl line 4: malformed")
    assert "event 4: out of sequence (expected event 3)" in probs
