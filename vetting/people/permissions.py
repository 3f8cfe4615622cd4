"""Who may do what: one table of every user action, and the one function that checks it.

Every act a person can take through the CLI or the web application is a row of
:data:`PERMISSIONS`: for each role that may take it, the *scope* over which it may:

- :data:`ANY`: any case (or the act concerns no case);
- :data:`ASSIGNED`: only a case assigned to the account (``vet case assign``);
- :data:`RELEASED`: only a case whose findings report is released to the account.

A role absent from a row may not take the act at all. :func:`authorize` is the only place
the table is read; the service layer (:mod:`vetting.services`) calls it at the start of
every act, and a refusal is an ``access.refused`` audit event before it is an error. The
two-person rule (a second account concurs) is checked by the concurrence service on account
logins, which are immutable and never reused, never on names.

Modelled on GitLab's and Django's permission models: roles bound to objects (here, cases),
checked in one place, with the table as the documentation (``vet user list --roles`` and
docs/accounts.md print it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vetting.domain.yamlsource import clip
from vetting.errors import AccessRefused
from vetting.people.models import ACTIVE, Account, CaseAssignment, ReportRelease

if TYPE_CHECKING:
    from vetting.store.workspace import Workspace

ANY = "any case"
ASSIGNED = "cases assigned to them"
RELEASED = "reports released to them"

_CASEWORK_READ = {"investigator": ANY, "supervisor": ANY, "commander": ANY}
_CASE_OVERSIGHT = {"investigator": ASSIGNED, "supervisor": ANY, "commander": ANY}


@dataclass(frozen=True)
class Act:
    """One user action: what it is, and each role's scope."""

    what: str  # "approve a procedure": the words of a refusal
    scopes: dict[str, str]
    per_case: bool = False  # the act names a case (its scope is checked against it)


PERMISSIONS: dict[str, Act] = {
    "procedure.approve": Act("approve a procedure (the written process)", {"commander": ANY}),
    "procedure.list": Act("list approved procedures", dict(_CASEWORK_READ)),
    "candidate.add": Act("add a candidate", {"investigator": ANY}),
    "candidate.list": Act("list candidates", dict(_CASEWORK_READ)),
    "candidate.erase": Act("erase a candidate's personal data", {"commander": ANY}),
    "case.open": Act("open a new case (its first run)", {"investigator": ANY, "automation": ANY}),
    "case.run": Act("run a case", {"investigator": ASSIGNED, "automation": ANY}, per_case=True),
    "case.list": Act("list cases", {**_CASEWORK_READ, "automation": ANY}),
    "case.review": Act("review a case's items", dict(_CASE_OVERSIGHT), per_case=True),
    "case.timeline": Act("read a case's audit timeline", dict(_CASE_OVERSIGHT), per_case=True),
    "case.decide": Act("decide on a case's items", {"investigator": ASSIGNED}, per_case=True),
    "case.concur": Act("concur with an adverse finding", {"supervisor": ANY}, per_case=True),
    "case.cancel": Act("cancel a queued or running case", dict(_CASE_OVERSIGHT), per_case=True),
    "case.assign": Act("assign cases to investigators", {"supervisor": ANY, "commander": ANY}, per_case=True),
    "case.unassign": Act("end assignments", {"supervisor": ANY, "commander": ANY}, per_case=True),
    "uniformity.check": Act("check uniformity", dict(_CASEWORK_READ)),
    "report.findings": Act("render a findings report", {**_CASE_OVERSIGHT, "hiring": RELEASED}, per_case=True),
    "report.process": Act("render the written-process report", dict(_CASEWORK_READ)),
    "report.audit": Act("render the audit report", {"supervisor": ANY, "commander": ANY}),
    "report.release": Act("release findings reports", {"supervisor": ANY, "commander": ANY}, per_case=True),
    "report.revoke": Act("revoke report releases", {"supervisor": ANY, "commander": ANY}, per_case=True),
    "report.released": Act("list the findings reports released to them", {"hiring": ANY}),
    "report.verify": Act("check a findings report's receipts",
                         {**_CASEWORK_READ, "hiring": ANY}),
    "audit.verify": Act("verify the audit log", dict(_CASEWORK_READ)),
    "audit.export": Act("export the audit log", {"commander": ANY}),
    "evidence.export": Act("export a case's evidence", dict(_CASE_OVERSIGHT), per_case=True),
    "queue.status": Act("read the job queue", {**_CASEWORK_READ, "automation": ANY}),
    "queue.work": Act("run a queue worker", {"automation": ANY}),
    # records over time (issue 17): vetting.services.records
    "candidate.outcome": Act("record a candidate's hiring outcome",
                             {"supervisor": ANY, "commander": ANY, "hiring": ANY}),
    "retention.status": Act("list the records due for disposal", {"supervisor": ANY, "commander": ANY}),
    "retention.dispose": Act("dispose of the records due", {"commander": ANY}),
    "hold.place": Act("place a legal hold on a case", {"commander": ANY}, per_case=True),
    "hold.release": Act("release a legal hold", {"commander": ANY}, per_case=True),
    "notice.record": Act("record the candidate's notice", {"investigator": ASSIGNED}, per_case=True),
    "response.record": Act("record the candidate's response", {"investigator": ASSIGNED}, per_case=True),
}


def _in_scope(ws: Workspace, account: Account, scope: str, case_id: str | None) -> bool:
    if scope == ANY:
        return True
    if case_id is None:
        return False
    from sqlmodel import select

    table = CaseAssignment if scope == ASSIGNED else ReportRelease
    ended = CaseAssignment.ended_at if scope == ASSIGNED else ReportRelease.revoked_at
    with ws.session() as s:
        row = s.exec(select(table).where(table.case_id == case_id, table.login == account.login,
                                         ended == None)).first()  # noqa: E711
    return row is not None


def refusal(ws: Workspace, account: Account | None, action: str, case_id: str | None = None, *,
            role_only: bool = False) -> str | None:
    """Why ``account`` may not take ``action`` (on ``case_id``), or None if it may. Records nothing."""
    act = PERMISSIONS[action]  # KeyError: an act without a row is a bug, never allowed
    if account is None:
        return f"nobody is logged in: log in to {act.what}"
    if account.status != ACTIVE:
        return f"account {account.login} is disabled"
    held = [r for r in account.roles if r in act.scopes]
    if not held:
        return (f"{account.login} may not {act.what}: it needs the role "
                + " or ".join(act.scopes) + f" (it holds {', '.join(account.roles) or 'none'})")
    if role_only:
        return None
    if act.per_case and case_id is None:
        raise ValueError(f"{action} is an act on a case: give the case")
    if any(_in_scope(ws, account, act.scopes[r], case_id) for r in held):
        return None
    scopes = " or ".join(sorted({act.scopes[r] for r in held}))
    return f"{account.login} may {act.what} only on {scopes}; case {clip(case_id, 80)} is not one of them"


def authorize(ws: Workspace, account: Account | None, action: str, case_id: str | None = None, *,
              subject: str | None = None) -> Account:
    """The acting account if the table lets it take ``action``; else record ``access.refused`` and raise."""
    reason = refusal(ws, account, action, case_id)
    if reason is not None:
        raise refuse(ws, account, action, reason, case_id=case_id, subject=subject)
    assert account is not None
    return account


def authorize_role(ws: Workspace, account: Account | None, action: str, *, subject: str | None = None) -> Account:
    """Only the role part of ``action``: for an act on cases whose input names no existing case
    (the domain code then refuses the input itself, naming what does not exist)."""
    reason = refusal(ws, account, action, role_only=True)
    if reason is not None:
        raise refuse(ws, account, action, reason, subject=subject)
    assert account is not None
    return account


def refuse(ws: Workspace, account: Account | None, action: str, reason: str, *, case_id: str | None = None,
           subject: str | None = None) -> AccessRefused:
    """A refusal (of the table, or of a rule it cannot express such as the two-person rule):
    recorded as ``access.refused``, then returned for the caller to raise."""
    from vetting.people.accounts import record_refusal

    record_refusal(ws, account, action, reason, subject=subject, case_id=case_id)
    return AccessRefused(reason)

