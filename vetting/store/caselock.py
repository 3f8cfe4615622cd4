"""One writer per case: a lock held for as long as a command writes a case, freed when it dies.

Two ``vet run`` of one case at once used to both "complete", every step run twice. Now every
command that writes a case (``vet run``, ``vet validate``, ``vet concur``) holds the case's
lock first; a second one is refused naming the holder (pid, host, since) or, with ``--wait``,
waits for it.

The lock must vanish with its holder, whatever kills it (``kill -9`` included), so it is
never a row that a crash would leave behind:

* SQLite (one machine): an exclusive ``flock`` on ``locks/<case>.lock`` in the workspace. The
  kernel releases it when the process's descriptor closes, however the process ends. The file
  holds the holder's pid, host and start time, for the refusal message.
* PostgreSQL (possibly several machines): a session advisory lock
  (``pg_try_advisory_lock``) on a connection held open for the whole command. The server
  releases it when that connection ends, which the death of the process causes. The holder
  is named through the lock connection's ``application_name`` in ``pg_stat_activity``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

#: How often a waiting command retries (seconds).
POLL_SECONDS = 0.2
#: How long a decision or concurrence waits for its case by default: another decision takes
#: well under a second, a run may take an hour (then the command says who holds the case).
DECISION_WAIT_SECONDS = 5.0


class CaseBusy(Exception):
    """Another process holds the case (exit 3); the message names it."""


def _holder_text(info: dict[str, Any]) -> str:
    parts = [f"pid {info.get('pid', '?')}", f"on {info.get('host', '?')}"]
    if info.get("command"):
        parts.insert(0, str(info["command"]))
    if info.get("since"):
        parts.append(f"since {info['since']}")
    return " ".join(parts)


def _me(command: str) -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds")}


def _busy(case_id: str, holder: str) -> CaseBusy:
    return CaseBusy(f"case {case_id} is busy: held by {holder}; wait for it to finish, or pass --wait "
                    "to wait for it")


@contextlib.contextmanager
def case_lock(ws: Any, case_id: str, command: str, *, wait: bool | float = False,
              on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of ``case_id`` for the ``with`` block; refuse (CaseBusy) or wait when held.

    ``wait``: False refuses at once, True waits for ever, a number waits that many seconds.
    """
    if ws.engine.dialect.name == "postgresql":
        with _pg_lock(ws, case_id, command, wait, on_wait):
            yield
    else:
        with _file_lock(ws, case_id, command, wait, on_wait):
            yield


@contextlib.contextmanager
def case_locks(ws: Any, case_ids: list[str], command: str, *, wait: bool | float = False,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Several cases' locks, taken in sorted order so two waiting commands never deadlock."""
    with contextlib.ExitStack() as stack:
        for case_id in sorted(set(case_ids)):
            stack.enter_context(case_lock(ws, case_id, command, wait=wait, on_wait=on_wait))
        yield


# -- SQLite: flock on a file in the workspace -------------------------------------------------
def lock_path(ws: Any, case_id: str) -> Any:
    name = case_id if case_id.replace("-", "").replace(".", "").replace("_", "").isalnum() \
        else hashlib.sha256(case_id.encode()).hexdigest()
    return ws.root / "locks" / f"{name}.lock"


def _deadline(wait: bool | float) -> float | None:
    """When to give up: now (no wait), never (None), or in ``wait`` seconds."""
    if wait is True:
        return None
    return time.monotonic() + (float(wait) if wait else 0.0)


@contextlib.contextmanager
def _file_lock(ws: Any, case_id: str, command: str, wait: bool | float,
               on_wait: Callable[[str], None] | None) -> Iterator[None]:
    path = lock_path(ws, case_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        announced = False
        deadline = _deadline(wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    raise _busy(case_id, holder) from None
                if on_wait and not announced:
                    on_wait(f"case {case_id} is held by {holder}; waiting")
                    announced = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me(command)).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        return _holder_text(json.loads(raw.decode("utf-8"))) if raw else "another process"
    except (OSError, ValueError):
        return "another process"


# -- PostgreSQL: a session advisory lock on a held connection ---------------------------------
def advisory_key(case_id: str) -> int:
    """The signed 64-bit advisory-lock key of a case (namespaced so other locks never clash).

    The only source of the key: the commands (here) and the queue's case process
    (:mod:`vetting.queue.child`) lock a case under this same key, so neither runs while the
    other holds the case, and the reaper (:mod:`vetting.queue.worker`) sees either holder.
    """
    return int.from_bytes(hashlib.sha256(b"vetting-case\0" + case_id.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def _pg_lock(ws: Any, case_id: str, command: str, wait: bool | float,
             on_wait: Callable[[str], None] | None) -> Iterator[None]:
    key = advisory_key(case_id)
    conn = ws.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.execute(text("SELECT set_config('application_name', :v, false)"), {"v": session_label(command)})
        announced = False
        deadline = _deadline(wait)
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            holder = _pg_holder(conn, key)
            if deadline is not None and time.monotonic() >= deadline:
                raise _busy(case_id, holder)
            if on_wait and not announced:
                on_wait(f"case {case_id} is held by {holder}; waiting")
                announced = True
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        # Never hand a connection that may still hold a session lock back to the pool.
        with contextlib.suppress(Exception):
            conn.invalidate()
        conn.close()


def session_label(command: str) -> str:
    """The ``application_name`` of a lock's connection: how a refused command names its holder."""
    me = _me(command)
    return f"vet {command} pid={me['pid']} host={me['host']}"[:63]  # NAMEDATALEN: 63 bytes kept


def advisory_parts(key: int) -> tuple[int, int]:
    """``pg_locks``' (classid, objid) of a 64-bit advisory key (objsubid 1)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


#: Who holds an advisory key in this database (``pg_locks`` spans the whole server).
HOLDER_SQL = ("SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
              "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {hi} AND l.objid = {lo} "
              "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


def _pg_holder(conn: Any, key: int) -> str:
    hi, lo = advisory_parts(key)
    row = conn.execute(text(HOLDER_SQL.format(hi=":hi", lo=":lo")), {"hi": hi, "lo": lo}).first()
    if row is None:
        return "another process"
    since = row[1].astimezone(UTC).isoformat(timespec="seconds") if row[1] else ""
    return f"{row[0] or 'another session'}" + (f" since {since}" if since else "")
