"""Cases assigned to investigators, and findings reports released to named hiring accounts.

Both are records with a start and an end (never deleted) and both acts are audit events with
the acting account as actor and the case id as the event's case. Who may act:

- a supervisor or a commander assigns a case to an account holding ``investigator``, and
  ends the assignment;
- a supervisor or a commander releases a case's findings report to an account holding
  ``hiring``, and revokes the release; hiring staff read only what is released to them
  (:func:`may_read_report`).

Who may assign or release is the permission table's (:mod:`vetting.people.permissions`), checked
here too so the acts cannot be taken around it; the service layer (:mod:`vetting.services`)
is what the CLI and the web application call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from vetting.domain.yamlsource import clip
from vetting.people.accounts import AccountError
from vetting.people.clock import Clock, aware, system_clock
from vetting.people.models import ACTIVE, Account, CaseAssignment, ReportRelease
from vetting.people.permissions import authorize

if TYPE_CHECKING:
    from vetting.store.workspace import Workspace

def _target(s, login: str, role: str) -> Account:  # type: ignore[no-untyped-def]
    row = s.get(Account, login)
    if row is None:
        raise AccountError(f"no account {clip(login, 64)!r}")  # a login typed by anyone: never echoed whole
    if row.status != ACTIVE:
        raise AccountError(f"account {login!r} is disabled")
    if not row.has_role(role):
        raise AccountError(f"account {login!r} does not hold the {role} role")
    return row


def _case(s, case_id: str) -> None:  # type: ignore[no-untyped-def]
    from vetting.domain.models import Case

    if s.get(Case, case_id) is None:
        raise AccountError(f"no case {clip(case_id, 64)!r} (see vet case list)")


# -- assignments -----------------------------------------------------------------------------
def assign_case(ws: Workspace, case_id: str, login: str, *, actor: Account,
                now: Clock = system_clock) -> CaseAssignment:
    authorize(ws, actor, "case.assign", case_id, subject=login)
    with ws.session() as s:
        _case(s, case_id)
        _target(s, login, "investigator")
        if _open_assignment(s, case_id, login) is not None:
            raise AccountError(f"case {case_id} is already assigned to {login}")
        row = CaseAssignment(case_id=case_id, login=login, assigned_by=actor.login, assigned_at=now())
        s.add(row)
        s.commit()
        s.refresh(row)
    ws.record("case.assigned", actor=actor.actor, case_id=case_id, subject=login, payload={"assignment": row.id})
    ws.audit.checkpoint()
    return row


def assign_opener(ws: Workspace, case_id: str, account: Account, *, now: Clock = system_clock) -> CaseAssignment:
    """The investigator who opened a case by running it is assigned to it (the service checked ``case.open``)."""
    with ws.session() as s:
        row = CaseAssignment(case_id=case_id, login=account.login, assigned_by=account.login, assigned_at=now())
        s.add(row)
        s.commit()
        s.refresh(row)
    ws.record("case.assigned", actor=account.actor, case_id=case_id, subject=account.login,
              payload={"assignment": row.id, "opened_the_case": True})
    ws.audit.checkpoint()
    return row


def _open_assignment(s, case_id: str, login: str) -> CaseAssignment | None:  # type: ignore[no-untyped-def]
    return s.exec(select(CaseAssignment).where(CaseAssignment.case_id == case_id, CaseAssignment.login == login,
                                               CaseAssignment.ended_at == None)).first()  # noqa: E711


def end_assignment(ws: Workspace, case_id: str, login: str, *, actor: Account,
                   now: Clock = system_clock) -> CaseAssignment:
    authorize(ws, actor, "case.unassign", case_id, subject=login)
    with ws.session() as s:
        row = _open_assignment(s, case_id, login)
        if row is None:
            raise AccountError(f"case {case_id} is not assigned to {login}")
        row.ended_at, row.ended_by = now(), actor.login
        s.add(row)
        s.commit()
    ws.record("case.unassigned", actor=actor.actor, case_id=case_id, subject=login, payload={"assignment": row.id})
    ws.audit.checkpoint()
    return row


def assigned_investigators(ws: Workspace, case_id: str) -> list[str]:
    with ws.session() as s:
        return sorted(a.login for a in s.exec(select(CaseAssignment).where(
            CaseAssignment.case_id == case_id, CaseAssignment.ended_at == None)))  # noqa: E711


def is_assigned(ws: Workspace, case_id: str, login: str) -> bool:
    with ws.session() as s:
        return _open_assignment(s, case_id, login) is not None


def assignments(ws: Workspace, case_id: str | None = None) -> list[CaseAssignment]:
    """Every assignment, current and ended, oldest first."""
    with ws.session() as s:
        query = select(CaseAssignment).order_by(CaseAssignment.id)
        if case_id is not None:
            query = query.where(CaseAssignment.case_id == case_id)
        return list(s.exec(query))


# -- report releases -------------------------------------------------------------------------
def _open_release(s, case_id: str, login: str) -> ReportRelease | None:  # type: ignore[no-untyped-def]
    return s.exec(select(ReportRelease).where(ReportRelease.case_id == case_id, ReportRelease.login == login,
                                              ReportRelease.revoked_at == None)).first()  # noqa: E711


def release_report(ws: Workspace, case_id: str, login: str, *, actor: Account,
                   now: Clock = system_clock) -> ReportRelease:
    """Release a case's findings report to one named hiring account."""
    authorize(ws, actor, "report.release", case_id, subject=login)
    with ws.session() as s:
        _case(s, case_id)
        _target(s, login, "hiring")
        if _open_release(s, case_id, login) is not None:
            raise AccountError(f"the findings report of case {case_id} is already released to {login}")
        row = ReportRelease(case_id=case_id, login=login, released_by=actor.login, released_at=now())
        s.add(row)
        s.commit()
        s.refresh(row)
    ws.record("report.released", actor=actor.actor, case_id=case_id, subject=login, payload={"release": row.id})
    ws.audit.checkpoint()
    return row


def revoke_release(ws: Workspace, case_id: str, login: str, *, actor: Account,
                   now: Clock = system_clock) -> ReportRelease:
    authorize(ws, actor, "report.revoke", case_id, subject=login)
    with ws.session() as s:
        row = _open_release(s, case_id, login)
        if row is None:
            raise AccountError(f"the findings report of case {case_id} is not released to {login}")
        row.revoked_at, row.revoked_by = now(), actor.login
        s.add(row)
        s.commit()
    ws.record("report.release_revoked", actor=actor.actor, case_id=case_id, subject=login,
              payload={"release": row.id, "released_at": aware(row.released_at).isoformat()})
    ws.audit.checkpoint()
    return row


def released_cases(ws: Workspace, login: str) -> list[str]:
    """The cases whose findings report is released to ``login`` now."""
    with ws.session() as s:
        return sorted(r.case_id for r in s.exec(select(ReportRelease).where(
            ReportRelease.login == login, ReportRelease.revoked_at == None)))  # noqa: E711


def has_release(ws: Workspace, case_id: str, login: str) -> bool:
    """Whether the findings report of ``case_id`` is released to ``login`` now."""
    with ws.session() as s:
        return _open_release(s, case_id, login) is not None


def may_read_report(ws: Workspace, account: Account, case_id: str) -> bool:
    """A hiring account reads a case's findings report only while it is released to it."""
    if account.status != ACTIVE or not account.has_role("hiring"):
        return False
    with ws.session() as s:
        return _open_release(s, case_id, account.login) is not None
