"""The CLI's session token on disk: one 0600 file per workspace in the user's config folder.

``$XDG_CONFIG_HOME/vetting/sessions/<workspace id>.json`` (``~/.config`` when the variable is
unset), in a 0700 folder, written to a temporary file and renamed so a reader never sees half a
token. A file that others can read is refused, as ssh refuses a readable private key: the
token may have been copied, and the user should log in again.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any


class TokenFileError(Exception):
    """The token file is missing, unreadable, or readable by others."""


def config_dir(home: Path | None = None) -> Path:
    """``$XDG_CONFIG_HOME/vetting`` (or ``home/vetting``: a script keeping sessions for several accounts)."""
    base = str(home) if home is not None else os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vetting"


def token_path(workspace_id: str, home: Path | None = None) -> Path:
    return config_dir(home) / "sessions" / f"{workspace_id}.json"


def write_token(workspace_id: str, data: dict[str, Any], home: Path | None = None) -> Path:
    path = token_path(workspace_id, home)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    os.chmod(folder.parent, 0o700)  # $XDG_CONFIG_HOME/vetting is ours alone
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_token(workspace_id: str) -> dict[str, Any]:
    path = token_path(workspace_id)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise TokenFileError("not logged in to this workspace: run vet login") from None
    if stat.S_IMODE(mode) & 0o077:
        raise TokenFileError(f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                             "its token may have been copied: run vet logout, then vet login")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("token"), str):
            raise ValueError("no token in it")
    except (OSError, ValueError) as exc:
        raise TokenFileError(f"{path} is not a vetting token file ({exc}): run vet login") from None
    return data


def remove_token(workspace_id: str) -> bool:
    path = token_path(workspace_id)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
