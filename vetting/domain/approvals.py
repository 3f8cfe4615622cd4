"""Approval of written processes: a named commander approves one exact fingerprint.

The approved text and its manifests are frozen inside the evidence store (so the audit
verifier re-hashes them), and runs load the frozen copy, never the file on disk: editing the
file afterwards makes a new version that needs its own approval.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from vetting.domain.models import ProcedureVersion, utcnow
from vetting.domain.procedure import LoadedProcedure, load_procedure, load_procedure_text
from vetting.errors import UnknownName
from vetting.store.files import write_atomic
from vetting.store.workspace import Workspace


class ApprovalError(Exception):
    """The approval or the lookup of an approved procedure is refused, with the reason."""


class UnknownProcedure(UnknownName, ApprovalError):
    """No approved procedure with that id (exit 2, with the command that lists them)."""


def fingerprint_dir(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")


def approve(ws: Workspace, path: Path, by: str) -> tuple[ProcedureVersion, bool]:
    """Approve the procedure file at ``path``; return (the version, whether it is new).

    Raises InputError for an invalid file and ApprovalError when the same id and version were
    already approved with different content.
    """
    if not by.strip():
        raise ApprovalError("--by must name the approving commander")
    loaded = load_procedure(path)
    proc = loaded.procedure
    with ws.session() as s:
        same = s.get(ProcedureVersion, loaded.fingerprint)
        if same is not None:
            return same, False
        clash = s.exec(select(ProcedureVersion).where(
            ProcedureVersion.procedure_id == proc.id, ProcedureVersion.version == proc.version)).first()
        if clash is not None:
            raise ApprovalError(
                f"{proc.id} version {proc.version} was already approved by {clash.approved_by} with "
                f"fingerprint {clash.fingerprint}; this file differs ({loaded.fingerprint}). "
                "A changed procedure is a new version: increase 'version' and approve it.")
    frozen = ws.procedures_dir / fingerprint_dir(loaded.fingerprint)
    artifacts = []
    rel, digest = _freeze(ws, frozen / "procedure.yaml", loaded.source_text.encode("utf-8"))
    artifacts.append({"path": rel, "sha256": digest})
    manifest_names: dict[str, str] = {}
    for step_id, data in loaded.manifests.items():
        name = f"manifest-{step_id}.json"
        rel, digest = _freeze(ws, frozen / name, data)
        artifacts.append({"path": rel, "sha256": digest})
        manifest_names[step_id] = name
    version = ProcedureVersion(
        fingerprint=loaded.fingerprint, procedure_id=proc.id, version=proc.version,
        title=proc.title, author=proc.author, approved_by=by.strip(), approved_at=utcnow(),
        source_name=path.name, source_text=loaded.source_text, canonical_json=loaded.resolved,
        manifests_json=json.dumps(manifest_names, sort_keys=True),
    )
    try:
        _record_approval(ws, version, proc, loaded, path, artifacts, manifest_names, by)
    except IntegrityError:
        # Another process approved the same file (or the same id and version) at the same moment.
        with ws.session() as s:
            same = s.get(ProcedureVersion, loaded.fingerprint)
        if same is not None:
            return same, False
        raise ApprovalError(f"{proc.id} version {proc.version} was approved by someone else at the same moment "
                            "with different content; increase 'version' and approve again") from None
    ws.audit.checkpoint()
    return version, True


def _record_approval(ws: Workspace, version: ProcedureVersion, proc: Any, loaded: LoadedProcedure, path: Path,
                     artifacts: list[dict[str, str]], manifest_names: dict[str, str], by: str) -> None:
    """The version row and its ``procedure.approved`` event, in one transaction."""
    with ws.transaction() as tx:
        tx.session.add(version)
        tx.record("procedure.approved", actor=by.strip(), subject=loaded.fingerprint,
                  payload={"procedure_id": proc.id, "version": proc.version, "title": proc.title,
                           "author": proc.author, "fingerprint": loaded.fingerprint, "source_name": path.name,
                           "network": proc.settings.network, "artifacts": artifacts,
                           "approved_at": version.approved_at.isoformat(),
                           "canonical_sha256": hashlib.sha256(loaded.resolved.encode("utf-8")).hexdigest(),
                           "manifests": manifest_names})


def _freeze(ws: Workspace, path: Path, data: bytes) -> tuple[str, str]:
    write_atomic(path, data)
    digest = hashlib.sha256(data).hexdigest()
    ws.store_file(path, digest)  # in the bucket, when evidence is kept in one, before it is recorded
    return path.relative_to(ws.evidence_root).as_posix(), digest


def versions(ws: Workspace, procedure_id: str | None = None) -> list[ProcedureVersion]:
    with ws.session() as s:
        q = select(ProcedureVersion)
        if procedure_id:
            q = q.where(ProcedureVersion.procedure_id == procedure_id)
        return list(s.exec(q.order_by(ProcedureVersion.procedure_id, ProcedureVersion.version)))


def load_approved(ws: Workspace, procedure_id: str,
                  fingerprint: str | None = None) -> tuple[ProcedureVersion, LoadedProcedure]:
    """The latest approved version of ``procedure_id`` (or the one with ``fingerprint``),
    re-validated from its frozen files; refused if those no longer hash to the fingerprint."""
    with ws.session() as s:
        q = select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure_id)
        if fingerprint:
            q = q.where(ProcedureVersion.fingerprint == fingerprint)
        row = s.exec(q.order_by(ProcedureVersion.version.desc())).first()  # type: ignore[attr-defined]
    if row is None:
        known = sorted({v.procedure_id for v in versions(ws)})
        raise UnknownProcedure(f"no approved procedure {procedure_id!r}"
                            + (f" with fingerprint {fingerprint}" if fingerprint else "")
                            + (f"; approved: {', '.join(known)}" if known else "; none approved yet")
                            + ". List them with 'vet procedure list'; a commander approves one with "
                               "'vet procedure approve FILE --by NAME'.")
    frozen = ws.procedures_dir / fingerprint_dir(row.fingerprint)
    try:
        text = (frozen / "procedure.yaml").read_text(encoding="utf-8")
        manifests = {step: (frozen / name).read_bytes()
                     for step, name in json.loads(row.manifests_json).items()}
    except OSError as exc:
        raise ApprovalError(f"the frozen copy of {row.fingerprint} is unreadable: {exc}") from None
    loaded = load_procedure_text(text, frozen / "procedure.yaml", manifests)
    if loaded.fingerprint != row.fingerprint:
        raise ApprovalError(f"the frozen copy of {procedure_id} no longer matches its approved "
                            f"fingerprint {row.fingerprint} (now {loaded.fingerprint}); refusing to run. "
                            "Run 'vet audit verify'.")
    return row, loaded
