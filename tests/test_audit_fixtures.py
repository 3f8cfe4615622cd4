"""Committed exports must keep verifying: the canonical form and formats are a contract."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from audit.checkpoints import parse_note, public_key_fingerprint, signature_problem
from audit.events import Event
from audit.merkle import CompactRange

FX = Path(__file__).parent / "fixtures" / "audit"
SCRIPT = Path(__file__).resolve().parents[1] / "audit" / "standalone_verify.py"


def test_current_standalone_verifier_accepts_the_v1_export(tmp_path: Path) -> None:
    fingerprint = (FX / "export-v1.fingerprint").read_text().strip()
    res = subprocess.run([sys.executable, "-I", str(SCRIPT), str(FX / "export-v1"),
                          "--fingerprint", fingerprint, "--evidence", str(FX / "evidence-v1")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("OK: 9 events, 2 checkpoints, origin vetting/fixture-v1, ")


def test_library_recomputes_the_v1_leaves_roots_and_signatures() -> None:
    key = serialization.load_pem_public_key((FX / "export-v1" / "public_key.pem").read_bytes())
    assert public_key_fingerprint(key) == (FX / "export-v1.fingerprint").read_text().strip()  # type: ignore[arg-type]
    cr = CompactRange()
    for line in (FX / "export-v1" / "events.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        fields = {k: v for k, v in rec["event"].items() if k != "v"}
        ev = Event(**fields)
        assert ev.computed_leaf_hash().hex() == rec["leaf_hash"]
        cr.append(bytes.fromhex(rec["leaf_hash"]))
    notes = [parse_note(json.loads(x)["note"]) for x in
             (FX / "export-v1" / "checkpoints.log").read_text().splitlines()]
    assert [n.size for n in notes] == [4, 9]
    assert notes[-1].root == cr.root()
    assert all(signature_problem(n, key) is None for n in notes)  # type: ignore[arg-type]
