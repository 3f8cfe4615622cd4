"""The append-only audit log: append events, sign checkpoints, serve proofs.

One :class:`AuditLog` writes to one database, from any number of processes. Every
append is one transaction that first takes the log's write lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), then reads the last
event, inserts the new events and the Merkle nodes they complete, and commits. So
sequence allocation is serialized: concurrent writers queue rather than collide on
``seq``, a crash leaves either the whole transaction or nothing, and sequence
numbers stay dense. :meth:`AuditLog.writing` hands that transaction to the caller,
so a domain row (a decision, a candidate...) and the event recording it commit
together or not at all.

The Merkle frontier (compact range) is kept in memory between appends and
re-read from ``audit_node`` only when the database moved under us, so an append
costs O(1) hash operations and O(1) statements amortized, whatever the size of
the log.
"""
from __future__ import annotations

import json
import time as _time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, Row, func, insert, select
from sqlalchemy.exc import OperationalError

from audit import checkpoints as cps
from audit.events import (
    CHAIN_SEED,
    Event,
    canonical_bytes,
    canonical_json,
    chain_next,
    utc_now,
    validate_fields,
)
from audit.merkle import (
    CompactRange,
    NodeGetter,
    consistency_path,
    frontier_positions,
    inclusion_path,
    leaf_hash,
)
from audit.store import audit_checkpoint, audit_event, audit_node, create_schema, take_write_lock

#: How long a writer waits in total for the log's write lock before giving up (seconds).
LOCK_PATIENCE = 120.0


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint as stored."""

    idx: int
    time: str
    tree_size: int
    root: bytes
    note: str


@dataclass
class _Head:
    """What the writer remembers about the end of the log."""

    size: int
    chain: bytes
    frontier: CompactRange


def row_to_event(row: Row[Any]) -> Event:
    return Event(seq=row.seq, time=row.time, actor=row.actor, action=row.action,
                 case_id=row.case_id, subject=row.subject, payload=json.loads(row.payload),
                 leaf_hash=bytes(row.leaf_hash), chain_hash=bytes(row.chain_hash))


def row_to_checkpoint(row: Row[Any]) -> Checkpoint:
    return Checkpoint(idx=row.idx, time=row.time, tree_size=row.tree_size, root=bytes(row.root),
                      note=row.note)


class AuditLog:
    """Writer and reader of one audit log.

    ``origin`` names the log in its checkpoints (e.g. ``vetting/<workspace-id>``);
    ``key_dir`` holds the Ed25519 signing key and ``checkpoints.log``.
    """

    def __init__(self, engine: Engine, key_dir: Path, origin: str) -> None:
        self.engine = engine
        self.key_dir = Path(key_dir)
        self.origin = cps.check_origin(origin)
        self._head: _Head | None = None
        self._key: Ed25519PrivateKey | None = None

    # ------------------------------------------------------------------ setup

    def create_schema(self) -> None:
        """Create tables and triggers if missing, and the signing key on first use."""
        with self.engine.begin() as conn:
            create_schema(conn)
        self._signing_key()

    def _signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = cps.load_or_create_private_key(self.key_dir)
        return self._key

    # ------------------------------------------------------------------ head / frontier

    def _load_head(self, conn: Any, size: int, chain: bytes) -> _Head:
        """Rebuild the frontier from the persisted perfect-subtree nodes (O(log n) lookups)."""
        hashes: list[bytes] = []
        for level, idx in frontier_positions(size):
            if level == 0:
                h = conn.execute(select(audit_event.c.leaf_hash)
                                 .where(audit_event.c.seq == idx)).scalar_one()
            else:
                h = conn.execute(select(audit_node.c.hash).where(
                    audit_node.c.level == level, audit_node.c.idx == idx)).scalar_one()
            hashes.append(bytes(h))
        return _Head(size, chain, CompactRange(size, hashes))

    def _current_head(self, conn: Any) -> _Head:
        last = conn.execute(select(audit_event.c.seq, audit_event.c.chain_hash)
                            .order_by(audit_event.c.seq.desc()).limit(1)).first()
        if last is None:
            size, chain = 0, CHAIN_SEED
        else:
            size, chain = last.seq + 1, bytes(last.chain_hash)
        head = self._head
        if head is not None and head.size == size and head.chain == chain:
            return head
        return self._load_head(conn, size, chain)

    # ------------------------------------------------------------------ append

    def append(self, action: str, actor: str, case_id: str | None = None,
               subject: str | None = None, payload: dict[str, Any] | None = None) -> Event:
        """Append one event in its own transaction and return it as stored."""
        return self.append_many([(action, actor, case_id, subject, payload or {})])[-1]

    def append_many(
        self, entries: Iterable[tuple[str, str, str | None, str | None, dict[str, Any]]]
    ) -> list[Event]:
        """Append several events (action, actor, case_id, subject, payload) in ONE transaction.

        All or none are written. ``append`` is this with one entry.
        """
        entries = list(entries)
        for action, actor, case_id, subject, payload in entries:
            validate_fields(action, actor, case_id, subject, payload)
        with self.writing() as writer:
            return writer.append_many(entries)

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """One serialized write transaction on the log, open to the caller's own rows.

        Takes the write lock (waiting for other writers, in this process or another),
        yields a :class:`Writer` whose ``conn`` the caller may also write domain rows
        with, and commits everything together; any exception rolls everything back.
        """
        with self.engine.connect() as conn:
            _begin_locked(conn)
            writer = Writer(self, conn, self._current_head(conn))
            try:
                yield writer
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        # Only after the commit succeeded does the in-memory head move.
        self._head = writer.head

    # ------------------------------------------------------------------ checkpoints

    def size(self) -> int:
        with self.engine.connect() as conn:
            return self._current_head(conn).size

    def root(self, tree_size: int | None = None) -> bytes:
        """MTH of the first ``tree_size`` events (default: all)."""
        with self.engine.connect() as conn:
            head = self._current_head(conn)
            if tree_size is None or tree_size == head.size:
                return head.frontier.root()
            self._check_size(tree_size, head.size)
            return self._load_head(conn, tree_size, b"").frontier.root()

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(audit_checkpoint)
                               .order_by(audit_checkpoint.c.idx.desc()).limit(1)).first()
        return None if row is None else row_to_checkpoint(row)

    def checkpoints(self) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            return [row_to_checkpoint(r) for r in
                    conn.execute(select(audit_checkpoint).order_by(audit_checkpoint.c.idx))]

    def checkpoint(self) -> Checkpoint:
        """Sign the current tree; returns the latest checkpoint unchanged if nothing was appended.

        The row is committed first, then the note is appended to ``checkpoints.log``;
        any committed checkpoints missing from the file (a crash between the two)
        are written to it first, so the file never skips a number.
        """
        key = self._signing_key()
        with self.engine.connect() as conn:
            _begin_locked(conn)  # checkpoint numbers are allocated under the log's write lock
            try:
                head = self._current_head(conn)
                last = conn.execute(select(audit_checkpoint)
                                    .order_by(audit_checkpoint.c.idx.desc()).limit(1)).first()
                if last is not None and last.tree_size == head.size:
                    cp = row_to_checkpoint(last)
                else:
                    idx = 0 if last is None else last.idx + 1
                    root = head.frontier.root()
                    note = cps.sign_checkpoint(key, self.origin, head.size, root)
                    cp = Checkpoint(idx, utc_now(), head.size, root, note)
                    conn.execute(insert(audit_checkpoint).values(
                        idx=cp.idx, time=cp.time, tree_size=cp.tree_size, root=cp.root, note=cp.note))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        self._head = head
        self._sync_checkpoint_file()
        return cp

    def _sync_checkpoint_file(self) -> None:
        """Append to checkpoints.log the committed checkpoints it does not have yet.

        Under an exclusive lock on the file, so two processes never file one checkpoint twice
        or out of order.
        """
        with cps.file_lock(self.key_dir):
            have = cps.last_filed_index(self.key_dir / cps.CHECKPOINTS_FILE)
            with self.engine.connect() as conn:
                missing = conn.execute(select(audit_checkpoint).where(audit_checkpoint.c.idx > have)
                                       .order_by(audit_checkpoint.c.idx)).all()
            for row in missing:
                cps.append_checkpoint_file(self.key_dir, row.idx, row.time, row.note)

    # ------------------------------------------------------------------ proofs

    @staticmethod
    def _check_size(tree_size: int, size: int) -> None:
        if not 0 <= tree_size <= size:
            raise ValueError(f"tree size {tree_size} is outside the log (0..{size})")

    def _getter(self, conn: Any) -> NodeGetter:
        """Stored perfect-subtree hashes: leaves from audit_event, the rest from audit_node."""
        def get(level: int, idx: int) -> bytes:
            if level == 0:
                h = conn.execute(select(audit_event.c.leaf_hash)
                                 .where(audit_event.c.seq == idx)).scalar_one()
            else:
                h = conn.execute(select(audit_node.c.hash).where(
                    audit_node.c.level == level, audit_node.c.idx == idx)).scalar_one()
            return bytes(h)
        return get

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of event ``seq`` in the tree of ``tree_size`` events (default: all)."""
        with self.engine.connect() as conn:
            size = self._current_head(conn).size
            tree_size = size if tree_size is None else tree_size
            self._check_size(tree_size, size)
            return inclusion_path(self._getter(conn), seq, tree_size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 consistency proof between the trees of ``old_size`` and ``new_size`` events."""
        with self.engine.connect() as conn:
            size = self._current_head(conn).size
            new_size = size if new_size is None else new_size
            self._check_size(new_size, size)
            return consistency_path(self._getter(conn), old_size, new_size)

    # ------------------------------------------------------------------ reading

    def events(self, case_id: str | None = None) -> Iterator[Event]:
        """Events in seq order, streamed (optionally only one case's)."""
        return iter_events(self.engine, case_id)

    def get(self, seq: int) -> Event:
        with self.engine.connect() as conn:
            row = conn.execute(select(audit_event).where(audit_event.c.seq == seq)).first()
        if row is None:
            raise KeyError(f"no event {seq}")
        return row_to_event(row)


class Writer:
    """The open write transaction of :meth:`AuditLog.writing`: append events, or write rows on ``conn``."""

    def __init__(self, log: AuditLog, conn: Connection, head: _Head) -> None:
        self.log = log
        self.conn = conn
        self.head = head

    def append(self, action: str, actor: str, case_id: str | None = None,
               subject: str | None = None, payload: dict[str, Any] | None = None) -> Event:
        """Append one event inside this transaction and return it as it will be stored."""
        payload = payload or {}
        validate_fields(action, actor, case_id, subject, payload)
        return self.append_many([(action, actor, case_id, subject, payload)])[-1]

    def append_many(
        self, entries: list[tuple[str, str, str | None, str | None, dict[str, Any]]]
    ) -> list[Event]:
        """Append validated entries; the head moves only in this transaction's view."""
        frontier = self.head.frontier.copy()
        chain = self.head.chain
        rows: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        events: list[Event] = []
        for action, actor, case_id, subject, payload in entries:
            seq = frontier.size
            time = utc_now()
            # Round-trip the payload so the stored object is exactly what was hashed.
            payload_text = canonical_json(payload)
            stored_payload = json.loads(payload_text)
            leaf = leaf_hash(canonical_bytes(seq, time, actor, action, case_id, subject,
                                             stored_payload))
            chain = chain_next(chain, leaf)
            for level, idx, h in frontier.append(leaf):
                nodes.append({"level": level, "idx": idx, "hash": h})
            rows.append({"seq": seq, "time": time, "actor": actor, "action": action,
                         "case_id": case_id, "subject": subject, "payload": payload_text,
                         "leaf_hash": leaf, "chain_hash": chain})
            events.append(Event(seq, time, actor, action, case_id, subject, stored_payload,
                                leaf, chain))
        if rows:
            self.conn.execute(insert(audit_event), rows)
        if nodes:
            self.conn.execute(insert(audit_node), nodes)
        self.head = _Head(frontier.size, chain, frontier)
        return events


def _begin_locked(conn: Connection) -> None:
    """Open ``conn``'s transaction holding the log's write lock, retrying while it is busy.

    SQLite's busy timeout already waits inside ``BEGIN IMMEDIATE``; a writer that still finds
    the database locked (a long transaction elsewhere) tries again until :data:`LOCK_PATIENCE`
    has passed, then lets the error through.
    """
    deadline = _time.monotonic() + LOCK_PATIENCE
    while True:
        try:
            take_write_lock(conn)
            return
        except OperationalError as exc:
            conn.rollback()
            if "locked" not in str(exc) or _time.monotonic() > deadline:
                raise
            _time.sleep(0.05)


def iter_events(engine: Engine, case_id: str | None = None, batch: int = 5000) -> Iterator[Event]:
    """Stream events in seq order without holding the log in memory."""
    stmt = select(audit_event).order_by(audit_event.c.seq)
    if case_id is not None:
        stmt = stmt.where(audit_event.c.case_id == case_id)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        for row in result:
            yield row_to_event(row)


def event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_event)).scalar_one())
