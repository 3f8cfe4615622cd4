"""The append-only audit log: append events, sign checkpoints, serve proofs.

One :class:`AuditLog` writes to one database. Each append is one transaction that
reads the last event, inserts the new event and the Merkle nodes it completes, and
commits, so a crash leaves either the whole event or nothing and sequence numbers
stay dense. On PostgreSQL several processes (job-queue workers, on several machines)
append at once: each append and each checkpoint first takes an advisory lock
(:data:`WRITER_LOCK_KEY`), so writers take turns. On SQLite a second concurrent writer
would collide on the ``seq`` primary key and get an error rather than fork the log.

The Merkle frontier (compact range) is kept in memory between appends and
re-read from ``audit_node`` only when the database moved under us, so an append
costs O(1) hash operations and O(1) statements amortized, whatever the size of
the log.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, Row, func, insert, select, text

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
from audit.store import audit_checkpoint, audit_event, audit_node, create_schema

#: PostgreSQL advisory lock key serializing writers of one log across processes and machines
#: (job-queue workers append to one log at once): appends and checkpoints take it in turn.
WRITER_LOCK_KEY = 0x76657474_00A0D17  # "vett" + audit


def _lock_writers(conn: Any) -> None:
    """Inside a transaction on PostgreSQL: wait for the other writers (released at commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK_KEY})


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

        All or none are written. Used for bulk imports and benchmarks; ``append`` is
        this with one entry.
        """
        entries = list(entries)
        for action, actor, case_id, subject, payload in entries:
            validate_fields(action, actor, case_id, subject, payload)
        with self.engine.begin() as conn:
            _lock_writers(conn)
            head = self._current_head(conn)
            frontier = head.frontier.copy()
            chain = head.chain
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
                conn.execute(insert(audit_event), rows)
            if nodes:
                conn.execute(insert(audit_node), nodes)
        # Only after the commit succeeded does the in-memory head move.
        self._head = _Head(frontier.size, chain, frontier)
        return events

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
        with self._writers_excluded():
            with self.engine.begin() as conn:
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
            self._head = head
            self._sync_checkpoint_file()
        return cp

    @contextmanager
    def _writers_excluded(self) -> Iterator[None]:
        """On PostgreSQL, hold the writer lock on a connection of its own for the whole
        checkpoint, the file append included, so two processes never file one note twice."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as lock_conn:
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": WRITER_LOCK_KEY})
            try:
                yield
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": WRITER_LOCK_KEY})
                lock_conn.commit()

    def _sync_checkpoint_file(self) -> None:
        """Append to checkpoints.log the committed checkpoints it does not have yet."""
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
