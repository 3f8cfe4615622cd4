"""A workspace: one folder holding the database, the evidence store, keys and frozen procedures.

Layout::

    workspace.json        marker: this folder is a vetting workspace, and its id
    vetting.db                  SQLite database (unless VETTING_DATABASE_URL names PostgreSQL)
    evidence/             content-addressed artifacts (sha256/ab/cdef...) and WARC files; with
                          VETTING_EVIDENCE_URL=s3://... the working copy, every final file
                          also uploaded to the bucket (vetting.store.evidence_store)
    keys/                 the audit log's Ed25519 signing key and checkpoints.log
                          (or the folder VETTING_KEYS_DIR names)
    locks/                one lock file per case being written (vetting.store.caselock)
    evidence/procedures/<fp>/  the approved procedure text and manifests, frozen at approval

A folder that has other content and no marker is refused, so a typo in ``--workspace``
never scatters files into someone's home directory. Everything is private to its owner
(0700 folders, 0600 files: vetting.store.custody), and ``workspace.json`` pins the fingerprint of
the audit key.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import Session

from vetting import __version__
from vetting.domain.models import utcnow
from vetting.store.custody import PIN_FIELD, current_fingerprint, keys_dir, make_private, tighten
from vetting.store.db import make_engine, sqlite_url, upgrade
from vetting.store.files import write_atomic

MARKER = "workspace.json"
DEFAULT_DIR = "vetting-workspace"


class WorkspaceError(Exception):
    """The workspace folder is missing, foreign, or inconsistent with its database."""


def default_root() -> Path:
    return Path(os.environ.get("VETTING_HOME", DEFAULT_DIR))


class Transaction:
    """An open :meth:`Workspace.transaction`: a session for rows and ``record`` for events."""

    def __init__(self, ws: Workspace, writer: Any, session: Session) -> None:
        self.ws = ws
        self.writer = writer
        self.session = session

    def record(self, action: str, *, actor: str, case_id: str | None = None,
               subject: str | None = None, payload: dict[str, Any] | None = None) -> Any:
        """Append one event in this transaction (rows added so far are flushed first)."""
        self.session.flush()
        return self.writer.append(action, actor=actor, case_id=case_id, subject=subject, payload=payload or {})

    def commit_values(self, candidate_id: str, values: list[str | None]) -> list[str]:
        """Commitments of a candidate's values, the values stored in this transaction."""
        from vetting.store.personal import store_values

        return store_values(self.session, candidate_id, values)

    def record_many(self, entries: list[tuple[str, str, str | None, str | None, dict[str, Any]]]) -> list[Any]:
        """Append several events (action, actor, case_id, subject, payload) in this transaction."""
        from audit.events import validate_fields

        for action, actor, case_id, subject, payload in entries:
            validate_fields(action, actor, case_id, subject, payload)
        self.session.flush()
        return self.writer.append_many(entries)

    def committer(self, candidate_id: str, *, create: bool = False) -> Any:
        """Commitments of one candidate's personal values, stored in this transaction
        (``create``: the candidate is being added, make their secret)."""
        from vetting.store.personal import Committer

        return Committer(self.session, candidate_id, create=create)


class Workspace:
    """An open workspace; build with :meth:`open`."""

    def __init__(self, root: Path, database_url: str | None = None):
        self.root = root
        self.evidence_root = root / "evidence"
        self.key_dir = keys_dir(root)
        self.procedures_dir = self.evidence_root / "procedures"
        self.database_url = database_url or sqlite_url(root / "vetting.db")
        self.engine = make_engine(self.database_url)
        from vetting.store.evidence_store import EvidenceStoreError, store_for

        try:  # VETTING_EVIDENCE_URL: the evidence folder (default) or an S3-compatible bucket
            self.evidence_store = store_for(self.evidence_root)
        except EvidenceStoreError as exc:
            raise WorkspaceError(str(exc)) from None
        self.id = ""
        self._audit: Any = None

    # -- opening ------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path | None = None, *, create: bool = True,
             database_url: str | None = None) -> Workspace:
        """Open (and on first use create) a workspace; refuse missing or foreign folders."""
        make_private()
        root = Path(root) if root is not None else default_root()
        database_url = database_url or os.environ.get("VETTING_DATABASE_URL") or None
        marker = root / MARKER
        if not marker.exists():
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise WorkspaceError(f"{root} is not a vetting workspace (no {MARKER}) and is not "
                                     "empty; refusing to write into it")
            if not create:
                raise WorkspaceError(f"no workspace at {root}; approve a procedure or add a "
                                     "candidate first, or pass --workspace")
            return cls._create(root, database_url)
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
            if info.get("kind") != "vetting-workspace":
                raise ValueError("wrong kind")
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"{marker} is not a vetting workspace marker ({exc})") from None
        ws = cls(root, database_url)
        ws.id = str(info["id"])
        tighten(ws)
        ws._check_database()
        return ws

    @classmethod
    def _create(cls, root: Path, database_url: str | None) -> Workspace:
        if database_url:
            cls._refuse_foreign_database(database_url)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        ws = cls(root, database_url)
        ws.id = str(uuid.uuid4())
        for d in (ws.evidence_root, ws.key_dir, ws.procedures_dir):  # procedures_dir is inside evidence_root
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        tighten(ws)
        upgrade(ws.engine)
        with ws.engine.begin() as conn:
            from sqlalchemy import text

            existing = conn.execute(text("SELECT value FROM meta WHERE key='workspace_id'")).first()
            if existing:
                raise WorkspaceError(f"the database at {ws.database_url} already belongs to "
                                     f"workspace {existing[0]}")
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('workspace_id', :v)"), {"v": ws.id})
        ws.audit.create_schema()
        tmp = root / (MARKER + ".tmp")
        # create_schema made the signing key; the marker pins its fingerprint.
        tmp.write_text(json.dumps({"kind": "vetting-workspace", "id": ws.id,
                                   "created_at": utcnow().isoformat(),
                                   "created_by_version": __version__,
                                   PIN_FIELD: current_fingerprint(ws.key_dir)}, indent=2) + "\n")
        tmp.replace(root / MARKER)
        ws.record("workspace.created", actor="system:workspace",
                  payload={"toolkit_version": __version__})
        ws.audit.checkpoint()
        return ws

    @staticmethod
    def _refuse_foreign_database(database_url: str) -> None:
        """Before anything is written: a database already holding a workspace is refused."""
        from sqlalchemy import inspect, text

        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                if inspect(conn).has_table("meta"):
                    row = conn.execute(text("SELECT value FROM meta WHERE key='workspace_id'")).first()
                    if row:
                        raise WorkspaceError(f"the database at {database_url} already belongs to workspace "
                                             f"{row[0]}")
        finally:
            engine.dispose()

    def _check_database(self) -> None:
        from sqlalchemy import text

        upgrade(self.engine)
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT value FROM meta WHERE key='workspace_id'")).first()
        if row is None or row[0] != self.id:
            raise WorkspaceError(f"the database at {self.database_url} belongs to another workspace "
                                 f"({row[0] if row else 'none'}), not {self.id}")
        self.audit.create_schema()

    # -- database and audit -------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @property
    def audit(self) -> Any:
        if self._audit is None:
            from audit import AuditLog

            self._audit = AuditLog(self.engine, key_dir=self.key_dir, origin=f"vetting/{self.id}")
        return self._audit

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One write transaction holding the log's write lock: rows and their events commit together.

        ``tx.session`` writes the domain rows, ``tx.record`` appends events; on leaving the block
        both commit at once, and an exception rolls both back.
        """
        with self.audit.writing() as writer, Session(bind=writer.conn, expire_on_commit=False) as session:
            tx = Transaction(self, writer, session)
            yield tx
            session.flush()

    def commit_values(self, candidate_id: str, values: list[str | None]) -> list[str]:
        """Commitments of a candidate's personal values, the values stored apart (see vetting.store.personal).

        For events outside a :meth:`transaction` (the engine's, the collectors'): the values are
        committed first, so an event never cites a value that is not stored. Refused once the
        candidate was erased: nothing new is recorded about them.
        """
        if not any(values):
            return [v or "" for v in values]
        from sqlalchemy.exc import IntegrityError

        for attempt in range(3):
            try:
                return self._store_values(candidate_id, values)
            except IntegrityError:  # another process stored one of these values at the same moment
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _store_values(self, candidate_id: str, values: list[str | None]) -> list[str]:
        from vetting.store.personal import PersonalDataErased, store_values

        with self.session() as s:
            try:
                out = store_values(s, candidate_id, values)
            except PersonalDataErased as exc:
                raise WorkspaceError(str(exc)) from None
            s.commit()
        return out

    def record(self, action: str, *, actor: str, case_id: str | None = None,
               subject: str | None = None, payload: dict[str, Any] | None = None) -> Any:
        """Append one audit event: every action of the toolkit goes through here."""
        return self.audit.append(action, actor=actor, case_id=case_id, subject=subject,
                                 payload=payload or {})

    # -- evidence store -----------------------------------------------------------------
    def store_bytes(self, data: bytes, suffix: str = "") -> tuple[str, str]:
        """Store ``data`` content-addressed; return (path relative to the evidence root, sha256).

        Written to a temporary file, fsynced, then renamed: a kill never leaves a partial
        artifact under its final name. With an object store (``VETTING_EVIDENCE_URL``) the file
        is then uploaded and checked, before the caller records it (a failure raises).
        """
        digest = hashlib.sha256(data).hexdigest()
        rel = Path("sha256") / digest[:2] / (digest + suffix)
        path = self.evidence_root / rel
        if not path.exists():
            write_atomic(path, data)
        self.evidence_store.put_file(path, digest)
        return rel.as_posix(), digest

    def store_file(self, path: Path, sha256: str) -> None:
        """A final evidence file already in the evidence folder (a frozen procedure, a sealed
        WARC): uploaded and checked when the store is a bucket, before its event is recorded."""
        self.evidence_store.put_file(path, sha256)

    def read_evidence(self, rel: str, sha256: str) -> bytes:
        """A recorded evidence file's bytes: from the bucket when evidence is kept in one (by the
        recorded sha256, its content address), else from the evidence folder."""
        if self.evidence_store.remote:
            return self.evidence_store.read(rel, sha256)
        return self.evidence_path(rel).read_bytes()

    def warc_file(self, rel: str) -> Path:
        """A WARC file to read records from: with a bucket, its latest sealed object (downloaded,
        re-hashed against the seal); else the file in the evidence folder."""
        if not self.evidence_store.remote:
            return self.evidence_path(rel)
        sealed = self.latest_seal(rel)
        if sealed is None:
            raise FileNotFoundError(f"{rel} was never sealed into {self.evidence_store.url}")
        return self.evidence_store.cached(sealed["sha256"])

    def latest_seal(self, rel: str) -> dict[str, Any] | None:
        """The ``sealed_file`` (path, size, sha256) of the latest ``evidence.warc_sealed`` event
        of the WARC file ``rel``, or None if it was never sealed."""
        from sqlalchemy import select

        from audit.store import audit_event

        with self.engine.connect() as conn:
            payload = conn.execute(select(audit_event.c.payload).where(
                audit_event.c.action == "evidence.warc_sealed", audit_event.c.subject == rel
            ).order_by(audit_event.c.seq.desc()).limit(1)).scalar()
        if payload is None:
            return None
        sealed = json.loads(payload).get("sealed_file")
        return sealed if isinstance(sealed, dict) else None

    def verify(self, case_id: str | None = None) -> Any:
        """``audit.verify_log`` of this workspace, evidence read from where it is kept."""
        from audit import verify_log

        source = self.evidence_store if self.evidence_store.remote else None
        return verify_log(self.engine, self.key_dir, evidence_root=self.evidence_root, case_id=case_id,
                          evidence_source=source)

    def evidence_path(self, rel: str) -> Path:
        path = (self.evidence_root / rel).resolve()
        if not path.is_relative_to(self.evidence_root.resolve()):
            raise WorkspaceError(f"evidence path {rel!r} escapes the evidence store")
        return path
