"""Digests of a workspace folder: "changes nothing" made checkable by the refusal tests."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path


def _digest(root: Path, blank: Callable[[sqlite3.Connection], None] | None = None) -> str:
    """Every file under ``root``; a SQLite database by its content (a dump of a copy, after
    ``blank`` edited the copy), not its bytes: merely opening a WAL database may checkpoint it,
    which moves bytes without changing any row."""
    h = hashlib.sha256()
    if root.exists():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.endswith(("-wal", "-shm")):
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            if path.suffix == ".db":
                with closing(sqlite3.connect(path)) as db, closing(sqlite3.connect(":memory:")) as copy:
                    db.backup(copy)
                    if blank is not None:
                        blank(copy)
                    h.update("\n".join(copy.iterdump()).encode())
            else:
                h.update(path.read_bytes())
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of every file under root, the database by its rows."""
    return _digest(root)


def _blank_idle_clocks(copy: sqlite3.Connection) -> None:
    tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in {"authsession", "account"} & tables:
        copy.execute(f'UPDATE "{table}" SET last_used_at = \'\'')


def casework_digest(root: Path) -> str:
    """:func:`tree_digest` with the login bookkeeping left out: every command of a logged-in
    account moves its session's idle clock (``last_used_at`` of its session and account rows),
    which is not casework. Everything else, every other column of those rows included, counts."""
    return _digest(root, _blank_idle_clocks)
