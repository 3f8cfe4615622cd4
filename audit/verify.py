"""Verify an audit log from first principles, streaming, in bounded memory.

Nothing stored is trusted: every leaf hash is recomputed from the event's fields,
every chain link from the previous event, the Merkle tree from the recomputed
leaves (through a compact range, so memory is O(log n) whatever the size), every
checkpoint's signature with the log's public key, every checkpoint's root against
the tree at its size, the database's checkpoints against ``checkpoints.log``, and
every evidence file named by an event against the sha256 the event recorded.

Evidence may be gone by design: an event whose payload carries ``disposed_evidence``
(``{"paths": [...], "prefixes": [...]}``, e.g. the erasure of a candidate's personal data)
declares those files removed. A file recorded by an earlier event and missing now is then
counted as disposed, not reported; a file missing without such a later event still is.

Each :class:`Problem` names where (``event 17``, ``event 17..end``,
``checkpoint 3``, ``file evidence/ab/cd.warc.gz``, ``checkpoints.log``, ``key``)
and says what is wrong, so an auditor can go straight to it.
"""
from __future__ import annotations

import hashlib
import json
import json.scanner
import os
import stat
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, inspect, select

from audit import checkpoints as cps
from audit.events import CHAIN_SEED, canonical_bytes_parsed
from audit.merkle import EMPTY_ROOT, CompactRange
from audit.records import FileMissing, OpenFiles, ResolvePath, check_records, check_sealed
from audit.store import audit_checkpoint, audit_event

READ_CHUNK = 1 << 20
# Threads re-hashing the evidence while the main thread checks the events (0: inline, in the main thread).
HASH_THREADS = 2
_BATCH_ITEMS = 128     # artifacts + records handed to a hashing thread at a time
_BATCHES_PER_THREAD = 4  # batches in flight per thread: memory stays bounded, the threads stay busy
# An event whose records are smaller than this is re-hashed in the main thread: handing small reads
# to a thread costs more GIL hand-offs than the hashing it frees.
_SMALL_EVENT = 64 << 10


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    events_checked: int = 0
    files_checked: int = 0
    files_disposed: int = 0       # missing because a later event disposed of them by design
    records_checked: int = 0      # evidence records (gzip members) re-hashed
    checkpoints_checked: int = 0
    tree_size: int = 0            # events streamed
    root: bytes = EMPTY_ROOT      # MTH recomputed from the events' contents
    signed_size: int = 0          # largest size covered by a valid signed checkpoint
    suppressed: int = 0           # problems beyond max_problems, counted but not listed

    @property
    def ok(self) -> bool:
        return not self.problems and not self.suppressed

    @property
    def unsigned_tail(self) -> int:
        """Events after the last valid checkpoint: intact so far, but not yet signed."""
        return max(0, self.tree_size - self.signed_size)

    def summary(self) -> str:
        state = "OK" if self.ok else f"{len(self.problems) + self.suppressed} problem(s)"
        disposed = f" ({self.files_disposed} disposed by design)" if self.files_disposed else ""
        return (f"{state}: {self.events_checked} events, {self.checkpoints_checked} checkpoints, "
                f"{self.files_checked} files checked{disposed}, {self.records_checked} records re-hashed; "
                f"root {self.root.hex()}")


class _Problems:
    def __init__(self, report: VerifyReport, limit: int) -> None:
        self.report = report
        self.limit = limit

    def add(self, where: str, message: str) -> None:
        if len(self.report.problems) < self.limit:
            self.report.problems.append(Problem(where, message))
        else:
            self.report.suppressed += 1


def safe_evidence_path(root: Path, rel: str) -> Path | None:
    """``root/rel`` if ``rel`` is a plain relative path that stays inside ``root``; else None."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel:
        return None
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or rel.startswith("~"):
        return None
    full = root.joinpath(*p.parts)
    try:
        full.resolve().relative_to(root.resolve())  # also refuses symlinks leading out
    except ValueError:
        return None
    return full


class EvidencePaths:
    """:func:`safe_evidence_path` for a whole run, each folder resolved once.

    The evidence store has few folders and many files (``sha256/ab/...``, ``warc/<case>/...``):
    resolving every path through all its parents was half of ``vet audit verify``'s time. A
    plain path (no empty, ``.`` or ``..`` part) whose folder resolves inside the root and whose
    last part is not a symlink resolves inside the root too; anything else (a symlink, a file
    not there, an odd path) takes :func:`safe_evidence_path` itself, so the answer is the same.
    """

    def __init__(self) -> None:
        self._folders: dict[tuple[Path, str], bool] = {}

    def __call__(self, root: Path, rel: str) -> Path | None:
        if not isinstance(rel, str) or not rel or rel[0] in "/~" or "\\" in rel or "\x00" in rel:
            return safe_evidence_path(root, rel)
        folder, _, name = rel.rpartition("/")
        if name in ("", ".", "..") or (folder and any(p in ("", ".", "..") for p in folder.split("/"))):
            return safe_evidence_path(root, rel)
        key = (root, folder)
        inside = self._folders.get(key)
        if inside is None:
            inside = self._folders[key] = not folder or safe_evidence_path(root, folder) is not None
        if not inside:
            return safe_evidence_path(root, rel)
        full = root / rel
        try:
            if stat.S_ISLNK(os.lstat(full).st_mode):
                return safe_evidence_path(root, rel)
        except OSError:
            return safe_evidence_path(root, rel)
        return full


def _sha256_file(path: Path, buffer: memoryview | None = None) -> str:
    """sha256 of a file, read unbuffered in 1 MiB pieces into ``buffer`` (one per verification,
    reused from file to file; verifications in other threads have their own)."""
    buffer = buffer if buffer is not None else memoryview(bytearray(READ_CHUNK))
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(buffer[:n])
    return h.hexdigest()


@dataclass
class _CheckpointClaim:
    idx: int
    size: int
    root: bytes


def _check_checkpoints(engine: Engine, key_dir: Path, public_key: Ed25519PublicKey | None,
                       out: _Problems, report: VerifyReport) -> list[_CheckpointClaim]:
    """Signatures, origins, DB-versus-file agreement; returns the (idx, size, root) claims.

    The file is read before the database: a checkpoint is filed only after its row commits,
    so a checkpoint taken while we verify can never look like one deleted from the database.
    """
    file_entries: dict[int, cps.FileCheckpoint] = {}
    file_problems: list[tuple[str, str]] = []
    file_path = key_dir / cps.CHECKPOINTS_FILE
    file_exists = file_path.exists()
    for entry in cps.read_checkpoint_file(file_path):
        if isinstance(entry, str):
            file_problems.append(("checkpoints.log", entry))
        elif entry.idx in file_entries and file_entries[entry.idx].note != entry.note:
            file_problems.append((f"checkpoint {entry.idx}",
                                  "appears twice in checkpoints.log, differently"))
        else:
            file_entries[entry.idx] = entry
    with engine.connect() as conn:
        db_rows = {r.idx: r for r in conn.execute(
            select(audit_checkpoint).order_by(audit_checkpoint.c.idx))}
    if not file_exists and db_rows:
        out.add("checkpoints.log", f"missing from {key_dir}")
    for where, message in file_problems:
        out.add(where, message)

    claims: list[_CheckpointClaim] = []
    origin: str | None = None
    prev_size = -1
    for idx in sorted(set(db_rows) | set(file_entries)):
        where = f"checkpoint {idx}"
        row = db_rows.get(idx)
        fentry = file_entries.get(idx)
        notes: list[str] = []
        if row is not None and fentry is not None:
            if row.note != fentry.note:
                out.add(where, "differs between the database and checkpoints.log")
                notes = [fentry.note, row.note]
            else:
                notes = [row.note]
        elif row is not None:
            out.add(where, "missing from checkpoints.log")
            notes = [row.note]
        else:
            assert fentry is not None
            out.add(where, "in checkpoints.log but missing from the database")
            notes = [fentry.note]
        seen: set[tuple[int, bytes]] = set()
        for note_text in notes:
            report.checkpoints_checked += 1
            try:
                note = cps.parse_note(note_text)
            except ValueError as exc:
                out.add(where, f"malformed signed note: {exc}")
                continue
            if origin is None:
                origin = note.origin
            elif note.origin != origin:
                out.add(where, f"origin {note.origin!r} differs from the log's origin {origin!r}")
            if public_key is not None:
                why = cps.signature_problem(note, public_key)
                if why:
                    out.add(where, why)
                else:
                    report.signed_size = max(report.signed_size, note.size)
            if row is not None and note_text == row.note and (
                    row.tree_size != note.size or bytes(row.root) != note.root):
                out.add(where, "stored size/root columns disagree with its signed note")
            if (note.size, note.root) not in seen:
                seen.add((note.size, note.root))
                claims.append(_CheckpointClaim(idx, note.size, note.root))
        sizes = [s for s, _ in seen]
        if sizes and min(sizes) < prev_size:
            out.add(where, f"size {min(sizes)} is smaller than an earlier checkpoint's {prev_size}")
        if sizes:
            prev_size = max(prev_size, max(sizes))
    return claims


_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # json.loads's own scanner, default settings


def _loads(text: Any) -> Any:
    """``json.loads`` of a stored payload, without its wrapper's checks when they cannot matter.

    A payload is stored compact: text that starts with ``{`` and is parsed to its last
    character by the scanner ``json.loads`` uses is the value ``json.loads`` returns. Anything
    else (leading or trailing bytes, not text, not parsable) goes to ``json.loads`` itself, for
    the same value or the same error.
    """
    if type(text) is str and text[:1] == "{":
        try:
            value, end = _scan_json(text, 0)
        except (StopIteration, ValueError, RecursionError):
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


def _event_rows(engine: Engine, batch: int) -> Iterator[Any]:
    """Event rows as tuples, in seq order, ``batch`` at a time.

    On SQLite the DB-API cursor is read directly (it steps through the table lazily, and
    skipping SQLAlchemy's Row objects is a tenth of the verifier's time); elsewhere
    SQLAlchemy streams with a server-side cursor.
    """
    stmt = select(audit_event.c.seq, audit_event.c.time, audit_event.c.actor,
                  audit_event.c.action, audit_event.c.case_id, audit_event.c.subject,
                  audit_event.c.payload, audit_event.c.leaf_hash, audit_event.c.chain_hash
                  ).order_by(audit_event.c.seq)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(str(stmt.compile(dialect=conn.dialect)))
                while rows := cursor.fetchmany(batch):
                    yield from rows
            finally:
                cursor.close()
            return
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        for part in result.partitions():
            yield from part


def verify_log(engine: Engine, key_dir: Path, evidence_root: Path | None = None,
               case_id: str | None = None, *, public_key: Ed25519PublicKey | None = None,
               max_problems: int = 1000, batch: int = 2000, evidence_source: Any = None,
               hash_threads: int = HASH_THREADS) -> VerifyReport:
    """Verify the whole log; evidence re-hashing limited to ``case_id``'s events if given.

    ``public_key`` pins the verification key (e.g. one published by the agency);
    by default the public key in ``key_dir`` is used.

    ``evidence_source``: evidence kept in an object store, content-addressed, read instead of the
    files under ``evidence_root`` (which then only names the paths). Any object with
    ``chunks(sha256)`` (an iterator over the object's bytes, or None when there is no such object),
    ``download(sha256, dest) -> bool`` and ``name(sha256)`` (how a problem names the object), e.g.
    ``vetting.store.evidence_store.S3Store``: an artifact is the object of its recorded sha256, a sealed
    file the object of its seal's sha256, a record is read from its file's latest sealed object.

    ``hash_threads``: threads re-hashing the local evidence (artifacts, records, sealed files)
    while the main thread checks the events (hashlib and zlib release the GIL on large buffers);
    0 re-hashes inline. The problems, and their order, are the same whatever the number: the
    threads' findings are taken back in log order. The object store's reads stay inline.
    """
    key_dir = Path(key_dir)
    report = VerifyReport()
    out = _Problems(report, max_problems)
    missing = [t for t in ("audit_event", "audit_checkpoint") if not inspect(engine).has_table(t)]
    if missing:
        out.add("database", f"no audit log here: table {', '.join(missing)} missing")
        return report
    if public_key is None:
        try:
            public_key = cps.load_public_key(key_dir)
        except (FileNotFoundError, ValueError) as exc:
            out.add("key", f"cannot check signatures: {exc}")
    claims = _check_checkpoints(engine, key_dir, public_key, out, report)
    by_size: dict[int, list[_CheckpointClaim]] = {}
    for c in claims:
        by_size.setdefault(c.size, []).append(c)

    evidence = Path(evidence_root) if evidence_root is not None else None
    # (event, file, problem) recorded but absent: disposed of by a later event, or a problem
    missing: list[tuple[int, str, str]] = []
    disposals = _Disposals()
    seals: dict[str, tuple[int, Any]] = {}  # evidence file -> its latest seal (event seq, sealed_file)
    deferred: list[tuple[int, Any]] = []  # (event, warc_records) read from the object store at the end
    paths = EvidencePaths()
    local = evidence is not None and evidence_source is None
    hasher = _Hasher(evidence, paths) if local else None  # type: ignore[arg-type]
    pool = (ThreadPoolExecutor(hash_threads, thread_name_prefix="vet-verify-hash")
            if local and hash_threads > 0 else None)
    sink = _InOrder(out, missing, report, pool, max(1, hash_threads) * _BATCHES_PER_THREAD)
    buffer = memoryview(bytearray(READ_CHUNK))

    def file_missing(rel: str, seq: int, problem: str) -> None:
        missing.append((seq, rel, problem))

    def check_root(size: int, root: bytes) -> None:
        for c in by_size.pop(size, ()):
            if c.root != root:
                sink.add(f"checkpoint {c.idx}",
                         f"signed root for size {size} does not match the tree of events "
                         f"0..{size - 1}" if size else "signed root of the empty log is wrong")

    check_root(0, EMPTY_ROOT)

    # The hot loop: everything bound to locals, the compact range inlined (stack + size).
    sha256 = hashlib.sha256
    loads, canonical = _loads, canonical_bytes_parsed
    add = sink.add
    stack: list[bytes] = []
    size = 0
    expected = 0
    prev_chain = CHAIN_SEED
    last_seq = -1
    after_gap = False
    try:
        for seq, time, actor, action, ev_case, subject, payload_text, stored_leaf, stored_chain in \
                _event_rows(engine, batch):
            if seq != expected:
                span = f"event {expected}" if seq == expected + 1 else f"event {expected}..{seq - 1}"
                add(span, f"missing (sequence jumps from {expected - 1} to {seq})")
                after_gap = True
            payload: Any = None
            leaf = bytes(stored_leaf)   # stands in for the tree if the contents cannot be hashed
            try:
                payload = loads(payload_text)
                if type(payload) is not dict:
                    raise ValueError("not a JSON object")
            except (ValueError, TypeError) as exc:
                add(f"event {seq}", f"payload is not a valid JSON object ({exc})")
                payload = None
            else:
                try:
                    leaf = sha256(b"\x00" + canonical(seq, time, actor, action, ev_case, subject,
                                                        payload)).digest()
                except (ValueError, TypeError) as exc:
                    add(f"event {seq}", f"fields cannot be serialized ({exc})")
                else:
                    if leaf != stored_leaf:
                        add(f"event {seq}", "leaf hash does not match its contents")
            if not after_gap and sha256(prev_chain + stored_leaf).digest() != stored_chain:
                add(f"event {seq}", "chain hash does not follow from the previous event"
                    if seq else "chain hash does not follow from the chain seed")
            after_gap = False
            prev_chain = bytes(stored_chain)
            h, n = leaf, size
            while n & 1:
                h = sha256(b"\x01" + stack.pop() + h).digest()
                n >>= 1
            stack.append(h)
            size += 1
            expected = seq + 1
            last_seq = seq
            if size in by_size:
                check_root(size, CompactRange(size, stack).root())
            if evidence is not None and payload is not None and (case_id is None or ev_case == case_id):
                if local:
                    arts = payload.get("artifacts", _ABSENT)
                    recs = payload.get("warc_records", _ABSENT)
                    if arts is not _ABSENT or recs is not _ABSENT:
                        sink.job(hasher, seq, arts, recs)  # type: ignore[arg-type]
                else:
                    if "artifacts" in payload:
                        sink.drain()
                        report.files_checked += _check_artifacts(seq, payload["artifacts"], evidence, out,
                                                                 file_missing, paths, buffer, evidence_source)
                    if "warc_records" in payload:
                        deferred.append((seq, payload["warc_records"]))  # their file's seal comes later
                if "sealed_file" in payload:
                    seals[str((payload["sealed_file"] or {}).get("path", ""))] = (seq, payload["sealed_file"])
            if payload is not None and "disposed_evidence" in payload:
                disposals.add(seq, payload["disposed_evidence"], sink)
        sink.drain(wait=True)
        if evidence is not None and evidence_source is not None:
            _check_remote_files(evidence_source, seals, deferred, report, out, file_missing)
        elif hasher is not None:
            sink.sealed(hasher, seals)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if hasher is not None:
            hasher.close()
    disposed: set[str] = set()
    for recorded_at, rel, problem in missing:
        if disposals.covers(rel, recorded_at):
            disposed.add(rel)
        else:
            out.add(f"file {rel}", problem)
    report.files_disposed = len(disposed)
    frontier = CompactRange(size, stack)
    report.events_checked = size
    report.tree_size = frontier.size
    report.root = frontier.root()
    if by_size:
        claimed = last_seq + 1
        worst = max((c for cs in by_size.values() for c in cs), key=lambda c: (c.size, -c.idx))
        if worst.size > claimed:
            out.add(f"event {claimed}..end",
                    f"missing (log truncated: checkpoint {worst.idx} covers {worst.size} events, "
                    f"log has {claimed})")
        for size in sorted(by_size):
            for c in by_size[size]:
                if size <= claimed:
                    out.add(f"checkpoint {c.idx}",
                            f"covers {size} events but only {frontier.size} are stored")
    return report


_ABSENT: Any = object()  # a payload without artifacts / warc_records


class _Collected:
    """A hashing job's findings, taken back by the main thread in log order."""

    __slots__ = ("problems", "missing", "files", "records")

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []
        self.missing: list[tuple[int, str, str]] = []
        self.files = 0
        self.records = 0

    def add(self, where: str, message: str) -> None:
        self.problems.append((where, message))

    def file_missing(self, rel: str, seq: int, problem: str) -> None:
        self.missing.append((seq, rel, problem))


class _Hasher:
    """Re-hashes local evidence, in any thread: each thread has its own read buffer and open
    WARC files (they stay open across events; all are closed by :meth:`close`)."""

    def __init__(self, root: Path, paths: EvidencePaths) -> None:
        self.root = root
        self.paths = paths
        self._local = threading.local()
        self._all_files: list[OpenFiles] = []
        self._lock = threading.Lock()

    def _state(self) -> tuple[memoryview, OpenFiles]:
        st = self._local
        try:
            return st.buffer, st.files
        except AttributeError:
            st.buffer, st.files = memoryview(bytearray(READ_CHUNK)), OpenFiles()
            with self._lock:
                self._all_files.append(st.files)
            return st.buffer, st.files

    def events(self, jobs: list[tuple[int, Any, Any]]) -> _Collected:
        """Artifacts, then records, of each event, in the order given."""
        buffer, files = self._state()
        got = _Collected()
        for seq, arts, recs in jobs:
            if arts is not _ABSENT:
                got.files += _check_artifacts(seq, arts, self.root, got, got.file_missing, self.paths, buffer)
            if recs is not _ABSENT:
                got.records += check_records(seq, recs, self.root, got.add, self.paths, files, got.file_missing)
        return got

    def sealed(self, rel: str, seal: tuple[int, Any]) -> _Collected:
        got = _Collected()
        got.files += check_sealed({rel: seal}, self.root, got.add, self.paths, got.file_missing)
        return got

    def close(self) -> None:
        with self._lock:
            for files in self._all_files:
                files.close()
            self._all_files.clear()


class _InOrder:
    """Problems in log order while evidence is re-hashed in worker threads.

    A queue, in log order, of the main thread's problems and of batches of hashing jobs (at most
    ``window`` of them submitted and not yet taken back: memory stays bounded). A problem goes
    straight to the report when nothing is ahead of it; a batch's findings are taken back when it
    reaches the head of the queue. Without a pool the jobs run at once, in the main thread.
    """

    def __init__(self, out: _Problems, missing: list[tuple[int, str, str]], report: VerifyReport,
                 pool: ThreadPoolExecutor | None, window: int) -> None:
        self.out = out
        self.missing = missing
        self.report = report
        self.pool = pool
        self.window = window
        self.queue: deque[Any] = deque()  # (where, message) | _Collected | Future[_Collected]
        self.jobs: list[tuple[int, Any, Any]] = []  # the open batch, not yet submitted
        self.items = 0
        self.in_flight = 0
        self.hasher: _Hasher | None = None

    def add(self, where: str, message: str) -> None:
        if self.jobs:
            self._submit()
        if self.queue:
            self.queue.append((where, message))
        else:
            self.out.add(where, message)

    def job(self, hasher: _Hasher, seq: int, arts: Any, recs: Any) -> None:
        if self.pool is None:
            self._take(hasher.events([(seq, arts, recs)]))
            return
        if type(recs) is list and sum(r.get("length", 0) for r in recs if type(r) is dict
                                      and type(r.get("length")) is int) < _SMALL_EVENT:
            got = hasher.events([(seq, arts, recs)])  # inline, queued behind what is ahead of it
            if self.jobs:
                self._submit()
            if self.queue:
                self.queue.append(got)
            else:
                self._take(got)
            return
        self.hasher = hasher
        self.jobs.append((seq, arts, recs))
        self.items += (len(arts) if type(arts) is list else 1) + (len(recs) if type(recs) is list else 1)
        if self.items >= _BATCH_ITEMS:
            self._submit()

    def sealed(self, hasher: _Hasher, seals: dict[str, tuple[int, Any]]) -> None:
        """Each sealed file re-hashed (in the pool, if any); findings in path order."""
        for rel in sorted(seals):
            if self.pool is None:
                self._take(hasher.sealed(rel, seals[rel]))
            else:
                self._push(self.pool.submit(hasher.sealed, rel, seals[rel]))
        self.drain(wait=True)

    def _submit(self) -> None:
        assert self.pool is not None and self.hasher is not None
        jobs, self.jobs, self.items = self.jobs, [], 0
        self._push(self.pool.submit(self.hasher.events, jobs))

    def _push(self, future: Future[_Collected]) -> None:
        self.queue.append(future)
        self.in_flight += 1
        while self.in_flight > self.window:
            self._pop_head(wait=True)
        self.drain()

    def _pop_head(self, wait: bool) -> bool:
        head = self.queue[0]
        if type(head) is tuple:
            self.queue.popleft()
            self.out.add(*head)
            return True
        if type(head) is _Collected:
            self.queue.popleft()
            self._take(head)
            return True
        if not wait and not head.done():
            return False
        self.queue.popleft()
        self.in_flight -= 1
        self._take(head.result())
        return True

    def drain(self, wait: bool = False) -> None:
        """Take back what is done at the head of the queue (``wait``: everything, the open batch too)."""
        if wait and self.jobs:
            self._submit()
        while self.queue and self._pop_head(wait):
            pass

    def _take(self, got: _Collected) -> None:
        for where, message in got.problems:
            self.out.add(where, message)
        self.missing.extend(got.missing)
        self.report.files_checked += got.files
        self.report.records_checked += got.records


class _Disposals:
    """Evidence declared removed by design, and by which event."""

    def __init__(self) -> None:
        self.paths: dict[str, int] = {}
        self.prefixes: list[tuple[str, int]] = []

    def add(self, seq: int, declared: Any, out: _Problems) -> None:
        if not isinstance(declared, dict) or not all(
                isinstance(declared.get(k, []), list) for k in ("paths", "prefixes")):
            out.add(f"event {seq}", "payload 'disposed_evidence' is not {paths: [...], prefixes: [...]}")
            return
        for rel in declared.get("paths", []):
            self.paths.setdefault(str(rel), seq)
        for prefix in declared.get("prefixes", []):
            if isinstance(prefix, str) and prefix.strip("/"):
                self.prefixes.append((prefix.strip("/") + "/", seq))

    def covers(self, rel: str, recorded_at: int) -> bool:
        """Whether a later event than ``recorded_at`` disposed of ``rel``."""
        at = self.paths.get(rel)
        if at is not None and at > recorded_at:
            return True
        return any(rel.startswith(prefix) and at > recorded_at for prefix, at in self.prefixes)


def _check_remote_files(source: Any, seals: dict[str, tuple[int, Any]], deferred: list[tuple[int, Any]],
                        report: VerifyReport, out: _Problems, missing: FileMissing) -> None:
    """Sealed files and the records events name, read from the object store: each file's latest
    sealed object is streamed into a temporary file once, re-hashed against its seal, and its
    records are re-hashed from there."""
    import tempfile

    by_file: dict[str, list[tuple[int, list[Any]]]] = {}
    for seq, records in deferred:
        if not isinstance(records, list):
            out.add(f"event {seq}", "payload 'warc_records' is not a list")
            continue
        groups: dict[str, list[Any]] = {}
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
                out.add(f"event {seq}", f"record #{i} is not an object with file, offset, length and sha256")
                continue
            groups.setdefault(rec["file"], []).append(rec)
        for rel, recs in groups.items():
            by_file.setdefault(rel, []).append((seq, recs))
    with tempfile.TemporaryDirectory(prefix="vet-verify-") as tmp:
        local = Path(tmp) / "object"
        for rel in sorted(set(seals) | set(by_file)):
            if safe_evidence_path(Path(tmp), rel) is None:
                where = seals[rel][0] if rel in seals else by_file[rel][0][0]
                out.add(f"event {where}", f"evidence file {rel!r} escapes the evidence root")
                continue
            seal = seals.get(rel)
            if seal is None:
                for seq, _ in by_file.get(rel, []):
                    missing(rel, seq, f"never sealed into the object store (its records are named by event {seq})")
                continue
            seq, sealed = seal
            if not (isinstance(sealed, dict) and isinstance(sealed.get("size"), int)
                    and isinstance(sealed.get("sha256"), str)):
                out.add(f"event {seq}", "payload 'sealed_file' is not an object with path, size and sha256")
                continue
            name = source.name(sealed["sha256"])
            if not source.download(sealed["sha256"], local):
                missing(rel, seq, f"missing: no object {name} (sealed by event {seq})")
                for rseq, _ in by_file.get(rel, []):
                    missing(rel, rseq, f"missing: no object {name} (its records are named by event {rseq})")
                continue

            def add(where: str, message: str, name: str = name) -> None:
                out.add(where, f"{message} [object {name}]")

            def resolve(root: Path, r: str) -> Path:
                return local
            report.files_checked += check_sealed({rel: seal}, Path(tmp), add, resolve, missing)
            files = OpenFiles()
            try:
                for rseq, recs in by_file.get(rel, []):
                    report.records_checked += check_records(rseq, recs, Path(tmp), add, resolve, files, missing)
            finally:
                files.close()
            local.unlink(missing_ok=True)


def _check_artifacts(seq: int, artifacts: Any, root: Path, out: _Problems, missing: FileMissing,
                     resolve: ResolvePath = safe_evidence_path, buffer: memoryview | None = None,
                     source: Any = None) -> int:
    """Re-hash the files an event recorded; returns how many files were hashed.

    Missing files are handed to ``missing``: whether they are a problem is known only at the
    end of the log (a later event may have disposed of them).
    """
    where = f"event {seq}"
    if not isinstance(artifacts, list):
        out.add(where, "payload 'artifacts' is not a list")
        return 0
    checked = 0
    for i, art in enumerate(artifacts):
        if not isinstance(art, dict) or not isinstance(art.get("path"), str) \
                or not isinstance(art.get("sha256"), str):
            out.add(where, f"artifact #{i} is not an object with string 'path' and 'sha256'")
            continue
        rel, want = art["path"], art["sha256"].lower()
        full = resolve(root, rel)
        if full is None:
            out.add(where, f"artifact path {rel!r} escapes the evidence root")
            continue
        if source is not None:  # the object store's copy, never the local one
            chunks = source.chunks(want)
            if chunks is None:
                missing(rel, seq, f"missing: no object {source.name(want)} (recorded by event {seq})")
                continue
            h = hashlib.sha256()
            for chunk in chunks:
                h.update(chunk)
            checked += 1
            if h.hexdigest() != want:
                out.add(f"file {rel}", f"object {source.name(want)} changed since event {seq} recorded it "
                                       f"(sha256 {h.hexdigest()}, recorded {want})")
            continue
        if not full.is_file():
            missing(rel, seq, f"missing (recorded by event {seq})")
            continue
        got = _sha256_file(full, buffer)
        checked += 1
        if got != want:
            out.add(f"file {rel}", f"contents changed since event {seq} recorded them "
                                   f"(sha256 {got}, recorded {want})")
    return checked
