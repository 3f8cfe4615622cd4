"""Custody: a private workspace (0700/0600), keys elsewhere, and a pinned audit key."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path

from conftest import vet

from vetting.store.workspace import Workspace


def modes(root: Path) -> list[str]:
    """Every file or folder under root that someone other than its owner could read."""
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{oct(mode)} {path.relative_to(root.parent)}")
    return loose


def make_ws(tmp_path: Path, auth_file: Path, env: dict | None = None) -> Path:
    ws = tmp_path / "ws"
    vet("procedure", "approve", str(Path(__file__).resolve().parent.parent / "procedures" / "kcpd-261-1.yaml"),
        "--by", "Capt. Rao", workspace=ws, env=env, check=True)
    vet("candidate", "add", "--name", "Jane Doe", "--authorization", str(auth_file), "--signed-on", "2026-10-01",
        "--by", "Inv. Lee", workspace=ws, env=env, check=True)
    return ws


def test_workspace_private_to_its_owner(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    assert modes(ws) == []
    assert stat.S_IMODE((ws / "vetting.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((ws / "keys").stat().st_mode) == 0o700


def test_older_loose_workspace_tightened_on_open(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    for path in (ws.root, ws.key_dir, ws.evidence_root):
        path.chmod(0o755)
    (ws.root / "vetting.db").chmod(0o644)
    Workspace.open(ws.root)
    assert modes(ws.root) == []


def test_keys_may_live_elsewhere(tmp_path: Path, auth_file: Path) -> None:
    keys = tmp_path / "agency-keys"
    env = {"VETTING_KEYS_DIR": str(keys)}
    ws = make_ws(tmp_path, auth_file, env)
    assert (keys / "audit-ed25519.key").is_file() and not (ws / "keys").exists()
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert vet("audit", "verify", workspace=ws, env=env).returncode == 0
    # Without the setting a fresh key would be made in ws/keys: the pinned fingerprint refuses it.
    result = vet("audit", "verify", workspace=ws)
    assert result.returncode == 1 and "PROBLEM key" in result.stdout


def test_expect_key_and_pin_fail_a_log_resigned_with_another_key(tmp_path: Path, auth_file: Path) -> None:
    ws = make_ws(tmp_path, auth_file)
    pinned = json.loads((ws / "workspace.json").read_text())["audit_key_sha256"]
    ok = vet("audit", "verify", "--expect-key", pinned, workspace=ws)
    assert ok.returncode == 0 and f"signing key fingerprint: {pinned}" in ok.stdout
    assert vet("audit", "verify", "--expect-key", "sha256:" + pinned.upper(), workspace=ws).returncode == 0
    bad = vet("audit", "verify", "--expect-key", "0" * 64, workspace=ws)
    assert bad.returncode == 1 and "not " + "0" * 64 in bad.stdout
    garbled = vet("audit", "verify", "--expect-key", "xyz", workspace=ws)
    assert garbled.returncode == 2 and "64 hexadecimal digits" in garbled.stderr

    # The attacker replaces keys/ and rebuilds a fresh, internally consistent log.
    shutil.rmtree(ws / "keys")
    with sqlite3.connect(ws / "vetting.db") as db:
        db.execute("DROP TABLE audit_event")
        db.execute("DROP TABLE audit_checkpoint")
    fresh = Workspace.open(ws)
    fresh.record("candidate.added", actor="Inv. Lee", subject="jane-doe", payload={})
    fresh.audit.checkpoint()
    from vetting.store.custody import current_fingerprint

    assert current_fingerprint(ws / "keys") != pinned
    # The new key signs the new log (only the decision tables' index notices the rows without events)...
    loose = vet("audit", "verify", "--expect-key", current_fingerprint(ws / "keys"), workspace=ws)
    assert "PROBLEM key" not in loose.stdout, loose.stdout
    # ...but not against the pinned fingerprint, from workspace.json or from --expect-key.
    for args in ((), ("--expect-key", pinned)):
        result = vet("audit", "verify", *args, workspace=ws)
        assert result.returncode == 1, result.stdout
        assert "the key folder" in result.stdout and "was replaced or the log was re-signed" in result.stdout
    env_pin = vet("audit", "verify", workspace=ws, env={"VETTING_EXPECT_KEY": pinned})
    assert env_pin.returncode == 1
    receipts = tmp_path / "r.html"
    receipts.write_text("<html></html>")
    checked = vet("report", "verify-receipts", str(receipts), workspace=ws)
    assert checked.returncode == 1 and "PROBLEM key:" in checked.stdout
