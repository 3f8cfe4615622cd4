"""Case assignment to investigators and report release to named hiring accounts: who may, audited."""

from __future__ import annotations

import pytest
from case_fixtures import build_case
from people_fixtures import FakeClock, bootstrap_admin, person

from vetting.errors import AccessRefused
from vetting.people.accounts import AccountError, disable_account
from vetting.people.assignments import (
    assign_case,
    assigned_investigators,
    assignments,
    end_assignment,
    is_assigned,
    may_read_report,
    release_report,
    released_cases,
    revoke_release,
)


@pytest.fixture
def office(tmp_path):
    built = build_case(tmp_path)
    ws, clock = built.ws, FakeClock()
    admin, _ = bootstrap_admin(ws, clock)
    accounts = {"admin": admin}
    for login, roles in [("inv1", ["investigator"]), ("inv2", ["investigator"]), ("sgt", ["supervisor"]),
                         ("cmdr", ["commander"]), ("hr1", ["hiring"]), ("hr2", ["hiring"])]:
        accounts[login] = person(ws, admin, clock, login, roles)[0]
    return ws, built.plan.case.id, accounts, clock


def test_supervisor_assigns_and_ends_an_assignment(office) -> None:
    ws, case, acc, clock = office
    assign_case(ws, case, "inv1", actor=acc["sgt"], now=clock)
    assert assigned_investigators(ws, case) == ["inv1"] and is_assigned(ws, case, "inv1")
    assert not is_assigned(ws, case, "inv2")
    with pytest.raises(AccountError, match="already assigned"):
        assign_case(ws, case, "inv1", actor=acc["cmdr"], now=clock)
    end_assignment(ws, case, "inv1", actor=acc["cmdr"], now=clock)
    assert assigned_investigators(ws, case) == []
    assert [a.ended_by for a in assignments(ws, case)] == ["cmdr"]          # kept, not deleted
    trail = [(e.action, e.actor, e.case_id, e.subject) for e in ws.audit.events() if e.action.startswith("case.")]
    assert ("case.assigned", "user:sgt", case, "inv1") in trail
    assert ("case.unassigned", "user:cmdr", case, "inv1") in trail


@pytest.mark.parametrize("actor", ["admin", "inv1", "hr1"])
def test_only_supervisor_or_commander_assigns(office, actor) -> None:
    ws, case, acc, clock = office
    with pytest.raises(AccessRefused, match="may not assign"):
        assign_case(ws, case, "inv2", actor=acc[actor], now=clock)
    assert assigned_investigators(ws, case) == []
    refusal = [e for e in ws.audit.events() if e.action == "access.refused"][-1]
    assert (refusal.actor, refusal.case_id, refusal.subject, refusal.payload["act"]) == \
        (f"user:{acc[actor].login}", case, "inv2", "case.assign")


@pytest.mark.parametrize("target, message", [("hr1", "does not hold the investigator"),
                                             ("sgt", "does not hold the investigator"),
                                             ("nobody", "no account")])
def test_assignment_target_must_be_an_investigator(office, target, message) -> None:
    ws, case, acc, clock = office
    with pytest.raises(AccountError, match=message):
        assign_case(ws, case, target, actor=acc["sgt"], now=clock)


def test_unknown_case_and_disabled_investigator_refused(office) -> None:
    ws, case, acc, clock = office
    with pytest.raises(AccountError, match="no case"):
        assign_case(ws, "case-nope", "inv1", actor=acc["sgt"], now=clock)
    disable_account(ws, "inv2", actor=acc["admin"], now=clock)
    with pytest.raises(AccountError, match="disabled"):
        assign_case(ws, case, "inv2", actor=acc["sgt"], now=clock)


def test_release_to_named_hiring_account_only(office) -> None:
    ws, case, acc, clock = office
    assert not may_read_report(ws, acc["hr1"], case)
    release_report(ws, case, "hr1", actor=acc["cmdr"], now=clock)
    assert may_read_report(ws, acc["hr1"], case) and not may_read_report(ws, acc["hr2"], case)
    assert released_cases(ws, "hr1") == [case] and released_cases(ws, "hr2") == []
    assert not may_read_report(ws, acc["inv1"], case)   # reading released reports is the hiring role's
    with pytest.raises(AccountError, match="does not hold the hiring"):
        release_report(ws, case, "inv1", actor=acc["cmdr"], now=clock)
    for actor in ("inv1", "admin", "hr1"):
        with pytest.raises(AccessRefused, match="may not release"):
            release_report(ws, case, "hr2", actor=acc[actor], now=clock)
    revoke_release(ws, case, "hr1", actor=acc["sgt"], now=clock)
    assert not may_read_report(ws, acc["hr1"], case)
    trail = [(e.action, e.actor, e.case_id, e.subject) for e in ws.audit.events() if e.action.startswith("report.")]
    assert trail == [("report.released", "user:cmdr", case, "hr1"), ("report.release_revoked", "user:sgt", case, "hr1")]


def test_disabled_hiring_account_reads_nothing(office) -> None:
    ws, case, acc, clock = office
    release_report(ws, case, "hr1", actor=acc["cmdr"], now=clock)
    hr1 = disable_account(ws, "hr1", actor=acc["admin"], now=clock)
    assert not may_read_report(ws, hr1, case)
