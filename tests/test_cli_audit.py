"""`vet audit verify / show / export` over a real workspace."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import vet
from test_cli import invoke


def make_ws(tmp_path: Path, auth_file: Path) -> Path:
    ws = tmp_path / "ws"
    repo = Path(__file__).resolve().parent.parent
    assert invoke(ws, "procedure", "approve", str(repo / "procedures" / "kcpd-261-1.yaml"), "--by", "Capt. Rao").exit_code == 0
    assert invoke(ws, "candidate", "add", "--name", "Jane Doe", "--authorization", str(auth_file),
                  "--signed-on", "2026-10-01", "--by", "Inv. Lee").exit_code == 0
    return ws


def test_verify_clean_then_tampered(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    result = invoke(ws, "audit", "verify")
    assert result.exit_code == 0 and result.output.startswith("OK:"), result.output
    # an attacker edits an event (dropping the trigger first, as they would)
    with sqlite3.connect(ws / "vetting.db") as db:
        triggers = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for name in triggers:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE audit_event SET actor = 'Someone Else' WHERE action = 'procedure.approved'")
    result = invoke(ws, "audit", "verify")
    assert result.exit_code == 1
    assert "PROBLEM event 1: leaf hash does not match" in result.output, result.output


def test_verify_detects_changed_authorization_file(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    stored = next((ws / "evidence" / "sha256").rglob("*.pdf"))
    stored.write_text("a different authorization")
    result = invoke(ws, "audit", "verify")
    assert result.exit_code == 1 and str(stored.name) in result.output, result.output


def test_export_and_standalone_verify(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    out = tmp_path / "export"
    result = invoke(ws, "audit", "export", "--out", str(out), "--by", "Capt. Rao")
    assert result.exit_code == 0, result.output
    check = subprocess.run([sys.executable, "-I", str(out / "standalone_verify.py"), str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    again = invoke(ws, "audit", "export", "--out", str(out))
    assert again.exit_code == 1 and "error:" in again.output
    assert invoke(ws, "audit", "verify").exit_code == 0


def test_show_unknown_case(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    result = vet("audit", "show", "case-nope", workspace=ws)
    assert result.returncode == 2 and "no case 'case-nope'" in result.stderr and "vet case list" in result.stderr
