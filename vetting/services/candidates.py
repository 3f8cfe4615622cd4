"""Candidates: adding one with their signed authorization, listing, and erasing their personal data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vetting.people.permissions import authorize
from vetting.services.registry import service

if TYPE_CHECKING:
    from vetting.domain.candidates import CandidateInput
    from vetting.domain.models import Candidate
    from vetting.people.models import Account
    from vetting.store.erasure import ErasureResult
    from vetting.store.workspace import Workspace


@service("candidate.add")
def add_candidate(ws: Workspace, account: Account, cand: CandidateInput, auth_path: Path | None,
                  source: str) -> Candidate:
    """An investigator adds a candidate; no signed authorization, no candidate."""
    from vetting.domain.candidates import add_candidate as add

    authorize(ws, account, "candidate.add", subject=cand.id or None)
    return add(ws, cand, auth_path, account.actor, source=source)


@service("candidate.list")
def list_candidates(ws: Workspace, account: Account) -> list[Candidate]:
    from vetting.domain.candidates import list_candidates as listed

    authorize(ws, account, "candidate.list")
    return listed(ws)


@service("candidate.erase")
def erase_candidate(ws: Workspace, account: Account, candidate_id: str, reason: str) -> ErasureResult:
    """Erase a candidate's personal data, under the locks of all their cases (never mid-run)."""
    from sqlmodel import select

    from vetting.domain.models import Case
    from vetting.store.caselock import case_locks
    from vetting.store.erasure import erase_candidate as erase
    from vetting.store.lookup import require_candidate

    authorize(ws, account, "candidate.erase", subject=candidate_id)
    require_candidate(ws, candidate_id)
    with ws.session() as s:
        cases = [c.id for c in s.exec(select(Case).where(Case.candidate_id == candidate_id))]
    with case_locks(ws, cases, "erase"):  # never while a run or a decision writes one of their cases
        from vetting.records.holds import refuse_if_held
        from vetting.records.models import RecordsRefused

        try:
            refuse_if_held(ws, cases, "erasing the candidate")
        except RecordsRefused as exc:
            from vetting.people.permissions import refuse

            raise refuse(ws, account, "candidate.erase", str(exc), subject=candidate_id) from None
        return erase(ws, candidate_id, account.actor, reason)
