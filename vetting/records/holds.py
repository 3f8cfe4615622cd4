"""Legal hold: a case under a hold is never disposed of, by a retention run or by an erasure.

A pending lawsuit, an EEOC charge (29 CFR 1602.14: records relevant to a charge are kept
"until final disposition of the charge or the action") or a records request puts a case on
hold. A commander places it with a reason and releases it with a reason; both are audit
events (``records.hold_placed``, ``records.hold_released``). The reason is the candidate's
personal data as far as the log goes: it is committed (:mod:`vetting.store.personal`), so erasing
the candidate later erases the words too, while the event stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from vetting.people.clock import Clock, system_clock
from vetting.records.models import LegalHold, RecordsRefused
from vetting.store.personal import Revealer
from vetting.store.workspace import Workspace


@dataclass(frozen=True)
class HoldView:
    id: int
    case_id: str
    reason: str
    placed_by: str
    placed_at: datetime


def _candidate_of(ws: Workspace, case_id: str) -> str:
    from vetting.store.lookup import require_case

    return require_case(ws, case_id).candidate_id


def active_holds(ws: Workspace, case_ids: list[str] | None = None) -> list[LegalHold]:
    """The holds in force (on ``case_ids``, or on every case), oldest first."""
    with ws.session() as s:
        q = select(LegalHold).where(LegalHold.released_at == None).order_by(LegalHold.id)  # noqa: E711
        if case_ids is not None:
            q = q.where(LegalHold.case_id.in_(case_ids))  # type: ignore[attr-defined]
        return list(s.exec(q))


def describe(ws: Workspace, holds: list[LegalHold]) -> list[HoldView]:
    """The holds with their reasons read back ([erased] once the candidate is erased)."""
    from vetting.domain.models import Case

    out = []
    with ws.session() as s:
        for h in holds:
            case = s.get(Case, h.case_id)
            reason = Revealer(s, case.candidate_id)(h.reason) if case is not None else "[erased]"
            out.append(HoldView(h.id or 0, h.case_id, reason, h.placed_by, h.placed_at))
    return out


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise RecordsRefused("--reason must say why (the lawsuit, charge or request), in at least 5 characters")
    return reason


def place_hold(ws: Workspace, case_id: str, reason: str, actor: str, *, now: Clock = system_clock) -> LegalHold:
    """Put ``case_id`` on legal hold; refused if it is held already or its candidate was erased."""
    from vetting.domain.candidates import candidate_erased

    reason = _reason(reason)
    candidate_id = _candidate_of(ws, case_id)
    if candidate_erased(ws, candidate_id):
        raise RecordsRefused(f"case {case_id}: its candidate's records were already disposed of; nothing left to hold")
    held = active_holds(ws, [case_id])
    if held:
        raise RecordsRefused(f"case {case_id} is already on legal hold (hold {held[0].id}, placed by "
                             f"{held[0].placed_by})")
    with ws.transaction() as tx:
        (committed,) = tx.commit_values(candidate_id, [reason])
        row = LegalHold(case_id=case_id, reason=committed, placed_by=actor, placed_at=now())
        tx.session.add(row)
        tx.session.flush()
        tx.record("records.hold_placed", actor=actor, case_id=case_id, subject=case_id,
                  payload={"hold_id": row.id, "reason": committed})
    ws.audit.checkpoint()
    return row


def release_hold(ws: Workspace, case_id: str, reason: str, actor: str, *, now: Clock = system_clock) -> LegalHold:
    """End the hold in force on ``case_id``; refused if there is none."""
    reason = _reason(reason)
    candidate_id = _candidate_of(ws, case_id)
    held = active_holds(ws, [case_id])
    if not held:
        raise RecordsRefused(f"case {case_id} is not on legal hold")
    with ws.transaction() as tx:
        (committed,) = tx.commit_values(candidate_id, [reason])
        row = tx.session.get(LegalHold, held[0].id)
        assert row is not None
        row.released_by, row.released_at, row.release_reason = actor, now(), committed
        tx.session.add(row)
        tx.record("records.hold_released", actor=actor, case_id=case_id, subject=case_id,
                  payload={"hold_id": row.id, "reason": committed})
    ws.audit.checkpoint()
    return row


def refuse_if_held(ws: Workspace, case_ids: list[str], what: str) -> None:
    """Raise :class:`RecordsRefused` naming the first hold in force on any of ``case_ids``."""
    held = active_holds(ws, case_ids)
    if held:
        h = held[0]
        raise RecordsRefused(f"case {h.case_id} is on legal hold (hold {h.id}, placed by {h.placed_by} at "
                             f"{h.placed_at:%Y-%m-%d}): {what} is refused until a commander releases it")
