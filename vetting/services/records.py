"""Records over time: hiring outcomes, retention and disposal, legal holds, the candidate's notice and response.

Who: a commander places and releases legal holds and disposes of what is due; supervisors and
commanders read what is due; supervisors, commanders and hiring staff record the hiring
outcome; the investigator a case is assigned to records the candidate's notice and response.
A records rule that says no (a held case, a date in the future, a response before any notice)
is recorded as ``access.refused`` like a refusal of the table, and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from vetting.people.clock import Clock, system_clock
from vetting.people.permissions import authorize, refuse
from vetting.services.registry import service

if TYPE_CHECKING:
    from vetting.people.models import Account
    from vetting.store.workspace import Workspace

T = TypeVar("T")


def _ruled(ws: Workspace, account: Account, act: str, case_id: str | None, subject: str | None,
           fn: Callable[[], T]) -> T:
    """Run ``fn``; a :class:`RecordsRefused` becomes an audited refusal of ``act``."""
    from vetting.records.models import RecordsRefused

    try:
        return fn()
    except RecordsRefused as exc:
        raise refuse(ws, account, act, str(exc), case_id=case_id, subject=subject) from None


def _case(ws: Workspace, account: Account, act: str, case_id: str) -> None:
    from vetting.store.lookup import require_case

    authorize(ws, account, act, case_id, subject=case_id)
    require_case(ws, case_id)


@service("candidate.outcome")
def record_outcome(ws: Workspace, account: Account, candidate_id: str, outcome: str, decided_on: date | None = None,
                   *, now: Clock = system_clock) -> Any:
    """The candidate was hired or not (the personnel action the retention periods count from)."""
    from vetting.records import retention

    authorize(ws, account, "candidate.outcome", subject=candidate_id)
    on = decided_on or now().date()
    return _ruled(ws, account, "candidate.outcome", None, candidate_id,
                  lambda: retention.record_outcome(ws, candidate_id, outcome, on, account.actor, now=now))


@service("retention.status")
def retention_status(ws: Workspace, account: Account, *, now: Clock = system_clock) -> list[Any]:
    from vetting.records import retention

    authorize(ws, account, "retention.status")
    return retention.records_status(ws, now=now)


@service("retention.dispose")
def dispose_due(ws: Workspace, account: Account, *, now: Clock = system_clock) -> Any:
    """Dispose of every candidate's records that are due (finishing interrupted disposals); held
    cases are refused, each refusal recorded."""
    from vetting.records import retention

    authorize(ws, account, "retention.dispose")
    return retention.dispose_due(ws, account.actor, now=now)


@service("hold.place")
def place_hold(ws: Workspace, account: Account, case_id: str, reason: str, *, now: Clock = system_clock) -> Any:
    from vetting.records.holds import place_hold as place
    from vetting.store.caselock import case_locks

    _case(ws, account, "hold.place", case_id)
    with case_locks(ws, [case_id], "hold", wait=30):  # never in the middle of a disposal of the case
        return _ruled(ws, account, "hold.place", case_id, case_id,
                      lambda: place(ws, case_id, reason, account.actor, now=now))


@service("hold.release")
def release_hold(ws: Workspace, account: Account, case_id: str, reason: str, *, now: Clock = system_clock) -> Any:
    from vetting.records.holds import release_hold as release

    _case(ws, account, "hold.release", case_id)
    return _ruled(ws, account, "hold.release", case_id, case_id,
                  lambda: release(ws, case_id, reason, account.actor, now=now))


@service("notice.record")
def record_notice(ws: Workspace, account: Account, case_id: str, notified_on: date, method: str, *,
                  now: Clock = system_clock) -> Any:
    from vetting.records.notices import record_notice as record

    _case(ws, account, "notice.record", case_id)
    return _ruled(ws, account, "notice.record", case_id, case_id,
                  lambda: record(ws, case_id, notified_on, method, account.actor, now=now))


@service("response.record")
def record_response(ws: Workspace, account: Account, case_id: str, text: str, attachments: list[Path], *,
                    item_id: str | None = None, received_on: date | None = None, now: Clock = system_clock) -> Any:
    from vetting.records.notices import record_response as record

    _case(ws, account, "response.record", case_id)
    return _ruled(ws, account, "response.record", case_id, case_id,
                  lambda: record(ws, case_id, text, attachments, account.actor, item_id=item_id,
                                 received_on=received_on, now=now))
