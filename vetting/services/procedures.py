"""Procedures (the written process): approving, listing, and the uniformity check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vetting.people.permissions import authorize
from vetting.services.registry import service

if TYPE_CHECKING:
    from vetting.domain.models import ProcedureVersion
    from vetting.people.models import Account
    from vetting.store.workspace import Workspace


@service("procedure.approve")
def approve_procedure(ws: Workspace, account: Account, path: Path) -> tuple[ProcedureVersion, bool]:
    """A commander approves this exact procedure file (by fingerprint); returns (version, is new)."""
    from vetting.domain.approvals import approve

    authorize(ws, account, "procedure.approve", subject=path.name)
    return approve(ws, path, account.actor)


@service("procedure.list")
def list_procedures(ws: Workspace, account: Account) -> list[ProcedureVersion]:
    from vetting.domain.approvals import versions

    authorize(ws, account, "procedure.list")
    return versions(ws)


@service("uniformity.check")
def check_uniformity(ws: Workspace, account: Account, procedure_id: str) -> Any:
    """The candidates x steps matrix of one procedure and every deviation from it."""
    from vetting.review.uniformity import check_uniformity as check
    from vetting.store.lookup import require_procedure

    authorize(ws, account, "uniformity.check", subject=procedure_id)
    require_procedure(ws, procedure_id)
    return check(ws, procedure_id)
