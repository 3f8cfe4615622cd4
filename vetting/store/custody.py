"""Custody of a workspace: private to its owner, keys where the agency keeps them, key pinned.

A workspace holds candidates' personal data (the database, WARC files, screenshots) and the
audit log's signing key. So:

* **private files**: every command that opens a workspace first sets the process umask to
  ``077`` (:func:`make_private`, the one place), so everything the toolkit writes afterwards
  (database, WAL, evidence, WARCs, keys, reports) is created 0600 inside 0700 folders; the
  top-level folders and the database of an older workspace are tightened on open;
* **keys elsewhere**: ``VETTING_KEYS_DIR`` puts the signing key and ``checkpoints.log`` in a
  folder of the agency's choice (another disk, a mount only the service account reads);
* **a pinned key**: the fingerprint (sha256 of the raw Ed25519 public key) of the key that
  signs the log is recorded in ``workspace.json`` when the workspace is created, and
  ``vet audit verify`` fails when the log is signed by any other key, or by a key other than
  ``--expect-key FINGERPRINT`` (or ``VETTING_EXPECT_KEY``). A log rebuilt and re-signed after
  ``keys/`` was replaced therefore fails verification. The agency should also keep the
  fingerprint outside the machine (docs/audit.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
PIN_FIELD = "audit_key_sha256"


def make_private() -> None:
    """Every file the process creates from now on is readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def keys_dir(root: Path) -> Path:
    """The audit key folder: ``VETTING_KEYS_DIR`` if set, else ``keys/`` in the workspace."""
    configured = os.environ.get("VETTING_KEYS_DIR")
    return Path(configured) if configured else root / "keys"


def tighten(ws: Any) -> None:
    """Make the workspace's folders 0700 and its database and marker 0600 (older workspaces)."""
    for folder in (ws.root, ws.evidence_root, ws.key_dir, ws.root / "locks"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and folder.stat().st_mode & 0o077:
                folder.chmod(DIR_MODE)
    for name in ("vetting.db", "vetting.db-wal", "vetting.db-shm", "workspace.json"):
        path = ws.root / name
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mode & 0o077:
                path.chmod(FILE_MODE)
    for path in (ws.key_dir.glob("*") if ws.key_dir.is_dir() else ()):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mode & 0o077:
                path.chmod(FILE_MODE)


def current_fingerprint(key_dir: Path) -> str:
    from audit.checkpoints import load_public_key, public_key_fingerprint

    return public_key_fingerprint(load_public_key(key_dir))


def pinned_fingerprint(ws: Any) -> str | None:
    try:
        info = json.loads((ws.root / "workspace.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = info.get(PIN_FIELD) if isinstance(info, dict) else None
    return value if isinstance(value, str) else None


def normalize_fingerprint(value: str) -> str:
    """``sha256:AB..`` or ``ab..`` -> 64 lower-case hex digits; ValueError otherwise."""
    text = value.strip().lower().removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("a key fingerprint is 64 hexadecimal digits (sha256 of the public key), as "
                         "'vet audit verify' prints it")
    return text


def check_expected_key(ws: Any, expect: str | None) -> tuple[str | None, str | None]:
    """(problem or None, the fingerprint of the key the log is checked with).

    ``expect`` (``--expect-key``) wins over the pin in workspace.json; with neither, nothing
    is pinned and only the key in the key folder is used.
    """
    from vetting.domain.yamlsource import InputError, Problem

    if expect is not None:
        try:
            wanted, source = normalize_fingerprint(expect), "--expect-key"
        except ValueError as exc:
            raise InputError([Problem("command line", None, "--expect-key", str(exc))]) from None
    else:
        wanted, source = pinned_fingerprint(ws), "the fingerprint pinned in workspace.json"
    try:
        actual = current_fingerprint(ws.key_dir)
    except (OSError, ValueError) as exc:
        return (f"no usable audit public key in {ws.key_dir} ({exc})" if wanted else None), None
    if wanted and actual != wanted:
        return (f"the log is signed with key {actual}, not {wanted} ({source}): the key folder "
                f"{ws.key_dir} was replaced or the log was re-signed", actual)
    return None, actual
