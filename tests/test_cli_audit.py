"""`vet audit verify / show / export` over a real workspace."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from team import Team
from test_cli import invoke_as


def make_ws(team: Team, auth_file: Path) -> Path:
    """The team's workspace: the procedure approved by the commander, Jane added by the investigator."""
    repo = Path(__file__).resolve().parent.parent
    approved = invoke_as(team, "dwhitfield", "procedure", "approve", str(repo / "procedures" / "kcpd-261-1.yaml"))
    assert approved.exit_code == 0, approved.output
    added = invoke_as(team, "sortiz", "candidate", "add", "--name", "Jane Doe", "--authorization", str(auth_file),
                      "--signed-on", "2026-10-01")
    assert added.exit_code == 0, added.output
    return team.ws.root


def test_verify_clean_then_tampered(team: Team, auth_file: Path) -> None:
    ws = make_ws(team, auth_file)
    result = invoke_as(team, "sortiz", "audit", "verify")
    assert result.exit_code == 0 and result.output.startswith("OK:"), result.output
    # an attacker edits an event (dropping the trigger first, as they would)
    with sqlite3.connect(ws / "vetting.db") as db:
        triggers = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
        for name in triggers:
            db.execute(f"DROP TRIGGER {name}")
        (event,) = db.execute("SELECT seq FROM audit_event WHERE action = 'procedure.approved'").fetchone()
        db.execute("UPDATE audit_event SET actor = 'Someone Else' WHERE action = 'procedure.approved'")
    result = invoke_as(team, "sortiz", "audit", "verify")
    assert result.exit_code == 1
    assert f"PROBLEM event {event}: leaf hash does not match" in result.output, result.output


def test_verify_detects_changed_authorization_file(team: Team, auth_file: Path) -> None:
    ws = make_ws(team, auth_file)
    stored = next((ws / "evidence" / "sha256").rglob("*.pdf"))
    stored.write_text("a different authorization")
    result = invoke_as(team, "sortiz", "audit", "verify")
    assert result.exit_code == 1 and str(stored.name) in result.output, result.output


def test_export_and_standalone_verify(tmp_path: Path, team: Team, auth_file: Path) -> None:
    make_ws(team, auth_file)
    out = tmp_path / "export"
    result = invoke_as(team, "dwhitfield", "audit", "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    check = subprocess.run([sys.executable, "-I", str(out / "standalone_verify.py"), str(out)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    (exported,) = [e for e in team.ws.audit.events() if e.action == "audit.exported"]
    assert exported.actor == "user:dwhitfield"
    again = invoke_as(team, "dwhitfield", "audit", "export", "--out", str(out))
    assert again.exit_code == 1 and "error:" in again.output
    assert invoke_as(team, "sortiz", "audit", "verify").exit_code == 0


def test_show_unknown_case(team: Team, auth_file: Path) -> None:
    make_ws(team, auth_file)
    result = team.vet("amoreno", "audit", "show", "case-nope")
    assert result.returncode == 2 and "no case 'case-nope'" in result.stderr and "vet case list" in result.stderr
