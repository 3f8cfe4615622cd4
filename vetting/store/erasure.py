"""Erase a candidate's personal data while the audit log keeps verifying (design invariant 9).

What the log holds about a candidate is commitments (``vetting.store.personal``), never values, so
erasure never touches an event. It removes, in this order:

1. in ONE transaction with the ``candidate.erased`` event: the candidate's personal values and
   secret (the commitments become unrecoverable and unconfirmable), and the collected content
   in the mutable tables (items' text, titles, addresses; screening matches and excerpts; the
   steps' inputs and errors); the event names every evidence file about to be removed
   (``disposed_evidence``), so the verifier knows they are gone by design;
2. the evidence files: the signed authorization, each item's stored artifacts (unless another
   candidate's item holds the same content-addressed file), and the case's WARC folder;
3. on SQLite, the free pages: ``VACUUM`` and a truncating WAL checkpoint, so no erased byte
   remains in ``vetting.db``, ``-wal`` or ``-shm`` (``secure_delete`` is on as well).

Step 2 runs after the commit: a crash before it leaves files the event already lists, and
running the erasure again removes them (an erased candidate is erased again idempotently).

The candidate id, case ids, who decided what and when, the categories found and every hash
stay: they are the trail. Candidate ids should therefore be agency applicant numbers or
similar, not names (``docs/audit.md``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from vetting.domain.models import Assessment, Candidate, Case, Item, StepRun
from vetting.store.personal import CandidateSecret, PersonalValue
from vetting.store.workspace import Workspace


class ErasureError(Exception):
    """The erasure is refused (no such candidate, no name of who erases); nothing changed."""


@dataclass
class ErasureResult:
    candidate_id: str
    event_seq: int | None
    values_erased: int
    files_removed: list[str] = field(default_factory=list)
    files_kept_shared: list[str] = field(default_factory=list)
    already_erased: bool = False
    objects_removed: list[str] = field(default_factory=list)  # bucket objects (VETTING_EVIDENCE_URL)
    objects_retained: list[str] = field(default_factory=list)  # "s3://...: why" (Object Lock retention...)


def _evidence_of(ws: Workspace, candidate: Candidate, case_ids: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(files to remove, WARC folders to remove, files kept because another candidate's items hold them)."""
    with ws.session() as s:
        mine = list(s.exec(select(Item).where(Item.case_id.in_(case_ids)))) if case_ids else []  # type: ignore[attr-defined]
        others = list(s.exec(select(Item).where(Item.case_id.not_in(case_ids)))) if case_ids else \
            list(s.exec(select(Item)))  # type: ignore[attr-defined]
        other_auth = {c.authorization_path for c in s.exec(select(Candidate)) if c.id != candidate.id}
    shared = {a["path"] for i in others for a in i.artifacts()} | other_auth
    paths: list[str] = []
    for item in mine:
        for art in item.artifacts():
            paths.append(art["path"])
    paths.append(candidate.authorization_path)
    paths.extend(_recorded_files(ws, case_ids))
    remove = sorted({p for p in paths if p and p not in shared})
    kept = sorted({p for p in paths if p and p in shared})
    warc_dirs = [f"warc/{cid}" for cid in case_ids]
    return remove, warc_dirs, kept


#: Events whose ``artifacts`` are the candidate's files though no item lists them: the redacted
#: pictures of their findings, their responses and attachments (vetting.records.notices).
_CASE_FILE_EVENTS = ("evidence.redacted", "records.response")


def _recorded_files(ws: Workspace, case_ids: list[str]) -> list[str]:
    out = []
    for case_id in case_ids:
        for e in ws.audit.events(case_id=case_id):
            if e.action in _CASE_FILE_EVENTS:
                out.extend(str(a["path"]) for a in e.payload.get("artifacts") or []
                           if isinstance(a, dict) and isinstance(a.get("path"), str))
    return out


def erase_candidate(ws: Workspace, candidate_id: str, by: str, reason: str = "") -> ErasureResult:
    """Erase one candidate's personal values, secret, collected content and evidence files.

    Returns what was done; ``vet audit verify`` stays OK afterwards and the candidate's reports
    say they were disposed.
    """
    if not by.strip():
        raise ErasureError("the erasure must name the account erasing the candidate's data")
    with ws.session() as s:
        candidate = s.get(Candidate, candidate_id)
        if candidate is None:
            raise ErasureError(f"no candidate {candidate_id!r}")
        case_ids = list(s.exec(select(Case.id).where(Case.candidate_id == candidate_id)))
        already = s.get(CandidateSecret, candidate_id) is None
    remove, warc_dirs, kept = _evidence_of(ws, candidate, case_ids)
    result = ErasureResult(candidate_id, None, 0, files_kept_shared=kept, already_erased=already)
    if not already:
        with ws.transaction() as tx:
            s = tx.session
            values = list(s.exec(select(PersonalValue).where(PersonalValue.candidate_id == candidate_id)))
            for row in values:
                s.delete(row)
            secret = s.get(CandidateSecret, candidate_id)
            if secret is not None:
                s.delete(secret)
            _blank_collected(s, case_ids)
            event = tx.record("candidate.erased", actor=by.strip(), subject=candidate_id,
                              payload={"cases": case_ids, "values_erased": len(values),
                                       "reason": reason.strip(),
                                       "disposed_evidence": {"paths": remove, "prefixes": warc_dirs},
                                       "kept_shared": kept})
        result.event_seq = event.seq
        result.values_erased = len(values)
        ws.audit.checkpoint()
    result.files_removed = _remove_files(ws, remove, warc_dirs)
    if ws.evidence_store.remote:
        result.objects_removed, result.objects_retained = _remove_objects(ws, candidate, remove, case_ids)
    compact(ws)
    return result


def _blank_collected(s: Any, case_ids: list[str]) -> None:
    """Blank every column of the mutable tables that can hold collected personal content."""
    if not case_ids:
        return
    for item in s.exec(select(Item).where(Item.case_id.in_(case_ids))):  # type: ignore[attr-defined]
        item.key = item.id  # the key embeds the URL; the id is unique per case too
        item.url, item.final_url, item.reason, item.title, item.author = "", None, "", "", ""
        item.published, item.text, item.found_by = None, "", ""
        item.links_json, item.artifacts_json, item.meta_json = "[]", "[]", "{}"
        item.reached_json = "{}"  # search queries and the URLs an item was reached from
        s.add(item)
    for a in s.exec(select(Assessment).where(Assessment.case_id.in_(case_ids))):  # type: ignore[attr-defined]
        a.matches_json = a.contradictions_json = a.identity_reasons_json = a.flags_json = "[]"
        s.add(a)
    for run in s.exec(select(StepRun).where(StepRun.case_id.in_(case_ids))):  # type: ignore[attr-defined]
        run.inputs_json = json.dumps(["[erased]"] * len(json.loads(run.inputs_json or "[]")))
        run.error = "[erased]" if run.error else run.error
        s.add(run)
    s.flush()


def _hex_of(rel: str) -> str | None:
    """The sha256 a content-addressed path is named by (``sha256/ab/<hex>.suffix``)."""
    name = rel.rsplit("/", 1)[-1].split(".", 1)[0].lower()
    return name if len(name) == 64 and all(c in "0123456789abcdef" for c in name) else None


def _remove_objects(ws: Workspace, candidate: Candidate, remove: list[str],
                    case_ids: list[str]) -> tuple[list[str], list[str]]:
    """The bucket's copies of the removed files and of the cases' sealed WARC files (every seal,
    every version), except objects another candidate's evidence also is (content addressing)."""
    store = ws.evidence_store
    with ws.session() as s:
        others = list(s.exec(select(Item).where(Item.case_id.not_in(case_ids)))) if case_ids else \
            list(s.exec(select(Item)))  # type: ignore[attr-defined]
        shared = {str(a.get("sha256", "")).lower() for i in others for a in i.artifacts()}
        shared |= {c.authorization_sha256.lower() for c in s.exec(select(Candidate)) if c.id != candidate.id}
    shas = {h for h in map(_hex_of, remove) if h}
    for case_id in case_ids:
        for ev in ws.audit.events(case_id=case_id):
            if ev.action == "evidence.warc_sealed":
                shas.add(str((ev.payload.get("sealed_file") or {}).get("sha256", "")).lower())
    removed, retained = [], []
    for sha in sorted(shas - shared - {""}):
        why = store.delete(sha)
        if why is None:
            removed.append(store.name(sha))
        else:
            retained.append(f"{store.name(sha)}: {why}")
    return removed, retained


def _remove_files(ws: Workspace, paths: list[str], dirs: list[str]) -> list[str]:
    removed = []
    for rel in paths:
        path = ws.evidence_path(rel)
        if path.is_file():
            path.unlink()
            removed.append(rel)
    for rel in dirs:
        path = ws.evidence_path(rel)
        if path.is_dir():
            removed.extend(sorted(p.relative_to(ws.evidence_root.resolve()).as_posix()  # evidence_path resolves
                                  for p in path.rglob("*") if p.is_file()))
            shutil.rmtree(path)
    return removed


def compact(ws: Workspace) -> None:
    """Leave no erased byte in the database files: rebuild them, and empty the WAL (SQLite);
    rewrite the tables that held the values (PostgreSQL)."""
    ws.engine.dispose()
    if ws.engine.dialect.name == "sqlite":
        with ws.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    elif ws.engine.dialect.name == "postgresql":
        with ws.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("personal_value", "candidate_secret", "item", "assessment", "steprun"):
                conn.execute(text(f"VACUUM FULL {table}"))
    ws.engine.dispose()
