"""Digests of a workspace folder: "changes nothing" made checkable by the refusal tests."""

from __future__ import annotations

import hashlib
from pathlib import Path


def tree_digest(root: Path) -> str:
    """A digest of every file under root: 'changes nothing' made checkable.

    The SQLite database is compared by its content (a dump), not its bytes: merely opening a
    WAL database may checkpoint it, which moves bytes without changing any row.
    """
    import sqlite3

    h = hashlib.sha256()
    if root.exists():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.endswith(("-wal", "-shm")):
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            if path.suffix == ".db":
                with sqlite3.connect(path) as db:
                    h.update("\n".join(db.iterdump()).encode())
            else:
                h.update(path.read_bytes())
    return h.hexdigest()


def casework_digest(root: Path) -> str:
    """:func:`tree_digest` with the login bookkeeping left out: every command of a logged-in
    account moves its session's idle clock (``last_used_at`` of its session and account rows),
    which is not casework. Everything else, every other column of those rows included, counts."""
    import sqlite3
    from contextlib import closing

    h = hashlib.sha256()
    if root.exists():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.endswith(("-wal", "-shm")):
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            if path.suffix == ".db":
                with closing(sqlite3.connect(path)) as db, closing(sqlite3.connect(":memory:")) as copy:
                    db.backup(copy)
                    tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    for table in {"authsession", "account"} & tables:
                        copy.execute(f'UPDATE "{table}" SET last_used_at = \'\'')
                    h.update("\n".join(copy.iterdump()).encode())
            else:
                h.update(path.read_bytes())
    return h.hexdigest()
