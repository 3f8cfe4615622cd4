"""Cancelling what is left of a case: the steps not yet terminal end as ``cancelled``.

A cancelled step is a terminal state with its reason and the person who cancelled, recorded
in the step table and in the audit log (``step.finished`` with status ``cancelled``), so the
record of the case stays whole: nothing is silently missing, and ``vet uniformity`` names
every cancelled step as a deviation from the written process (IV.B.8.c). The case itself
becomes ``cancelled`` (never ``complete``); the items collected before the cancel stay.

Called by the job queue once the case's process has ended (``vet queue cancel``); it is
idempotent and safe against a second caller: the case row is locked while the steps change.
"""

from __future__ import annotations

from sqlmodel import select

from vetting.domain.models import STEP_TERMINAL, Case, StepRun, utcnow
from vetting.store.workspace import Workspace


def committed_reason(ws: Workspace, case_id: str, reason: str) -> str:
    """A cancel's reason as audit events carry it: a commitment (it may name the candidate)."""
    with ws.session() as s:
        case = s.get(Case, case_id)
    return ws.commit_values(case.candidate_id, [reason])[0] if case is not None else ""


def cancel_remaining_steps(ws: Workspace, case_id: str, by: str, reason: str) -> list[str]:
    """Record every non-terminal step of the case as ``cancelled``; return their ids."""
    by, reason = by.strip(), reason.strip()
    if not by:
        raise ValueError("a cancellation names the person who cancelled")
    error = f"cancelled by {by}: {reason}" if reason else f"cancelled by {by}"
    with ws.session() as s:
        case = s.exec(select(Case).where(Case.id == case_id).with_for_update()).one()
        runs = list(s.exec(select(StepRun).where(StepRun.case_id == case_id)
                           .where(StepRun.status.not_in(STEP_TERMINAL))  # type: ignore[attr-defined]
                           .order_by(StepRun.position)))  # type: ignore[arg-type]
        now = utcnow()
        for run in runs:
            run.status = "cancelled"
            run.error = error
            run.finished_at = now
            s.add(run)
        if case.status == "open" and runs:
            case.status = "cancelled"
            s.add(case)
        s.commit()
    if runs:  # the reason is free text and may name the candidate: committed like engine errors
        error_c, reason_c = ws.commit_values(case.candidate_id, [error, reason])
    for run in runs:
        ws.record("step.finished", actor=by, case_id=case_id, subject=run.step_id,
                  payload={"position": run.position, "status": "cancelled", "error": error_c,
                           "attempts": run.attempts, "requests_allowed": run.requests_allowed,
                           "requests_refused": run.requests_refused, "items": run.items,
                           "cancelled_by": by, "reason": reason_c})
    if runs:
        ws.record("case.cancelled", actor=by, case_id=case_id, subject=case.candidate_id,
                  payload={"reason": reason_c, "steps": [r.step_id for r in runs]})
        ws.audit.checkpoint()
    return [r.step_id for r in runs]
