"""The service layer against the permission table: every act x every role x every kind of case.

The expectation is generated from the one table (vetting/people/permissions.py): a role may
take an act on ANY case, on cases ASSIGNED to it, on cases whose report is RELEASED to it, or
not at all. Every service function is called for real with each role and case for which the
table says no, and must refuse with an ``access.refused`` event naming the act; the table's
own check is asked for every combination. A service without arguments here, an act without a
service, or a service whose act has no row fails the test.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from case_fixtures import Built, add_item
from team import make_team

from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.engine.steps import open_case
from vetting.errors import AccessRefused
from vetting.people.assignments import assign_case, release_report
from vetting.people.permissions import ANY, ASSIGNED, PERMISSIONS, RELEASED, refusal
from vetting.review.validation import DecisionRequest
from vetting.services.registry import load_all
from vetting.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
PROCEDURE = REPO / "procedures" / "kcpd-261-1.yaml"
PROC_ID = "kcpd-261-1-preemployment"
#: The account acting in each role.
ACTING = {"investigator": "sortiz", "supervisor": "amoreno", "commander": "dwhitfield", "hiring": "hjones",
          "admin": "root-admin", "automation": "bot"}
#: own: assigned to sortiz and released to hjones; other: assigned to kosei; unassigned: neither.
KINDS = ("own", "other", "unassigned")


class Office:
    def __init__(self, root: Path) -> None:
        from vetting.domain.approvals import approve

        self.root = root
        self.ws = Workspace.open(root / "ws")
        self.team = make_team(self.ws, root)
        approve(self.ws, PROCEDURE, "user:dwhitfield")
        self.cases: dict[str, str] = {}
        self.candidates: dict[str, str] = {}
        self.items: dict[str, str] = {}
        self.auth = root / "auth.pdf"
        self.auth.write_bytes(b"%PDF-1.4\n% signed authorization\n")
        for kind in KINDS:
            cid = f"cand-{kind}"
            add_candidate(self.ws, CandidateInput(id=cid, full_name=f"Jo {kind.title()}", usernames=[f"jo{kind}"],
                                                  authorization={"file": "auth.pdf", "signed_on": "2026-10-01"}),
                          self.auth, "user:sortiz")
            plan = open_case(self.ws, cid, PROC_ID, "user:bot")
            self.cases[kind], self.candidates[kind] = plan.case.id, cid
            self.items[kind] = add_item(Built(self.ws, plan), kind, f"A public post by jo{kind}").id
        supervisor = self.team.account("amoreno")
        assign_case(self.ws, self.cases["own"], "sortiz", actor=supervisor)
        assign_case(self.ws, self.cases["other"], "kosei", actor=supervisor)
        release_report(self.ws, self.cases["own"], "hjones", actor=supervisor)

    def account(self, role: str) -> Any:
        return self.team.account(ACTING[role])


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Office:
    return Office(tmp_path_factory.mktemp("office"))


def allowed(action: str, role: str, kind: str) -> bool:
    """What the table says, read independently of the code that enforces it."""
    scope = PERMISSIONS[action].scopes.get(role)
    if scope is None:
        return False
    if scope == ANY or not PERMISSIONS[action].per_case:
        return True
    return kind == "own" and scope in (ASSIGNED, RELEASED)


def _decisions_file(o: Office, kind: str) -> Path:
    path = o.root / f"decisions-{kind}.yaml"
    path.write_text(f"decisions:\n  - item: {o.items[kind]}\n    decision: rejected\n    reason: not hers at all\n")
    return path


#: How to call each service function on a case of a kind: (args after ws and account).
ARGS: dict[str, Any] = {
    "procedures.approve_procedure": lambda o, k: (PROCEDURE,),
    "procedures.list_procedures": lambda o, k: (),
    "procedures.check_uniformity": lambda o, k: (PROC_ID,),
    "candidates.add_candidate": lambda o, k: (CandidateInput(id="new-one", full_name="New One", authorization={
        "file": "auth.pdf", "signed_on": "2026-10-01"}), o.auth, "test"),
    "candidates.list_candidates": lambda o, k: (),
    "candidates.erase_candidate": lambda o, k: (o.candidates[k], "test"),
    "cases.run_cases": lambda o, k: ([o.candidates[k]], PROC_ID),
    "cases.queue_cases": lambda o, k: ([o.candidates[k]], PROC_ID),
    "cases.start_case": lambda o, k: (o.candidates[k], PROC_ID),
    "cases.cancel_case": lambda o, k: (o.cases[k], "test"),
    "cases.queue_status": lambda o, k: (),
    "cases.start_worker": lambda o, k: (),
    "cases.list_cases": lambda o, k: (),
    "cases.assign_case": lambda o, k: (o.cases[k], "kosei"),
    "cases.unassign_case": lambda o, k: (o.cases[k], "sortiz"),
    "cases.case_timeline": lambda o, k: (o.cases[k],),
    "cases.case_overview": lambda o, k: (o.cases[k],),
    "review.item_review": lambda o, k: (o.items[k],),
    "review.review_queue": lambda o, k: (o.cases[k],),
    "review.decide": lambda o, k: (DecisionRequest(o.items[k], "rejected", "not hers at all", ""),),
    "review.apply_decisions_file": lambda o, k: (_decisions_file(o, k),),
    "review.concur": lambda o, k: (1,),
    "review.concurrence_queue": lambda o, k: (),
    "reports.render_findings": lambda o, k: (o.cases[k], "html", o.root / "f.html"),
    "reports.render_process": lambda o, k: (PROC_ID, "html", o.root / "p.html"),
    "reports.render_audit": lambda o, k: (None, "html", o.root / "a.html"),
    "reports.render_all": lambda o, k: (o.root / "all",),
    "reports.released_reports": lambda o, k: (),
    "reports.release_report": lambda o, k: (o.cases[k], "hjones"),
    "reports.revoke_release": lambda o, k: (o.cases[k], "hjones"),
    "reports.verify_receipts": lambda o, k: (o.root / "f.html",),
    "reports.verify_audit": lambda o, k: (),
    "reports.export_audit": lambda o, k: (o.root / "export",),
    "reports.export_evidence": lambda o, k: (o.cases[k], o.root / "e.wacz"),
    "records.record_outcome": lambda o, k: (o.candidates[k], "not-hired"),
    "records.retention_status": lambda o, k: (),
    "records.dispose_due": lambda o, k: (),
    "records.place_hold": lambda o, k: (o.cases[k], "a pending lawsuit"),
    "records.release_hold": lambda o, k: (o.cases[k], "the suit was settled"),
    "records.record_notice": lambda o, k: (o.cases[k], date(2026, 11, 2), "letter"),
    "records.record_response": lambda o, k: (o.cases[k], "my side of it", []),
}


def _short(qualified: str) -> str:
    return qualified.removeprefix("vetting.services.")


def test_every_act_has_a_row_a_service_and_arguments_here() -> None:
    services = load_all()
    acts = {a for actions in services.values() for a in actions}
    assert acts == set(PERMISSIONS), (set(PERMISSIONS) - acts, acts - set(PERMISSIONS))
    assert {_short(name) for name in services} == set(ARGS)
    for act in PERMISSIONS.values():
        assert act.scopes and set(act.scopes) <= set(ACTING)


def test_the_table_check_for_every_act_role_and_case(office: Office) -> None:
    checked = 0
    for action, act in PERMISSIONS.items():
        for role in ACTING:
            account = office.account(role)
            for kind in KINDS if act.per_case else ("none",):
                reason = refusal(office.ws, account, action, office.cases.get(kind))
                assert (reason is None) == allowed(action, role, kind), (action, role, kind, reason)
                checked += 1
    assert checked > 200


def _refusals(ws: Workspace) -> int:
    return sum(1 for e in ws.audit.events() if e.action == "access.refused")


@pytest.mark.parametrize("name", sorted(ARGS))
def test_each_service_refuses_whom_the_table_refuses(office: Office, name: str) -> None:
    import importlib

    module, function = name.split(".")
    fn = getattr(importlib.import_module(f"vetting.services.{module}"), function)
    action = fn.__acts__[0]
    tried = 0
    for role in ACTING:
        for kind in KINDS if PERMISSIONS[action].per_case else ("none",):
            if allowed(action, role, kind):
                continue
            account = office.account(role)
            before = _refusals(office.ws)
            with pytest.raises(AccessRefused):
                fn(office.ws, account, *ARGS[name](office, kind if kind != "none" else "own"))
            last = [e for e in office.ws.audit.events() if e.action == "access.refused"][-1]
            assert _refusals(office.ws) == before + 1
            assert last.actor == account.actor and last.payload["act"] in fn.__acts__, (name, role, kind)
            tried += 1
    assert tried >= 1, f"{name}: the table refuses nobody?"


def test_a_refused_act_changes_nothing_but_the_log(office: Office) -> None:
    """An investigator deciding on another's case: no decision row, one access.refused event."""
    from sqlmodel import select

    from vetting.domain.models import Decision
    from vetting.services.review import decide

    with office.ws.session() as s:
        before = len(list(s.exec(select(Decision))))
    with pytest.raises(AccessRefused, match="only on cases assigned to them"):
        decide(office.ws, office.account("investigator"),
               DecisionRequest(office.items["other"], "rejected", "not hers at all", "user:kosei"))
    with office.ws.session() as s:
        assert len(list(s.exec(select(Decision)))) == before


# -- the two-person rule on accounts ----------------------------------------------------------------
@pytest.fixture
def adverse(team, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An adverse decision by sortiz on a case assigned to him, and a sergeant who is also an investigator."""
    from case_fixtures import flag

    from vetting.domain.approvals import approve
    from vetting.people.accounts import add_account

    ws = team.ws
    approve(ws, PROCEDURE, "user:dwhitfield")
    auth = tmp_path / "auth.pdf"
    auth.write_bytes(b"%PDF-1.4\n% signed authorization\n")
    add_candidate(ws, CandidateInput(id="jane-doe", full_name="Jane Doe", usernames=["janed95"],
                                     authorization={"file": "auth.pdf", "signed_on": "2026-10-01"}), auth, "user:sortiz")
    plan = open_case(ws, "jane-doe", PROC_ID, "user:bot")
    gun = "Posing with a rifle pointed at a neighbour's dog, posted publicly."
    item = add_item(Built(ws, plan), "gun", gun, flags=[flag(gun, "rifle", "tactical-instruments", "IV.C.1.e",
                                                            discredit=True)])
    assign_case(ws, plan.case.id, "sortiz", actor=team.account("amoreno"))
    from vetting.services.review import decide

    row = decide(ws, team.account("sortiz"), DecisionRequest(
        item.id, "validated", "her account, read in full", "", ("tactical-instruments",),
        discredit="Pointing a rifle at an animal for fun, posted publicly."))
    assert row.adverse and row.decided_by == "user:sortiz"
    admin = team.account("root-admin")
    # The same person under a second account (same badge), and a namesake with another badge.
    add_account(ws, login="sortiz2", name="Sam Ortiz", roles=["supervisor"], actor=admin, badge="4411")
    add_account(ws, login="sortiz-b", name="Sam Ortiz", roles=["supervisor"], actor=admin, badge="5500")
    return ws, row


def _account(ws: Workspace, login: str):  # type: ignore[no-untyped-def]
    from vetting.people.accounts import get_account

    return get_account(ws, login)


def test_the_decider_cannot_concur_even_as_a_supervisor(team, adverse) -> None:  # type: ignore[no-untyped-def]
    from vetting.people.accounts import change_roles
    from vetting.services.review import concur

    ws, row = adverse
    change_roles(ws, "sortiz", actor=team.account("root-admin"), grant=["supervisor"])
    with pytest.raises(AccessRefused, match="it made that decision"):
        concur(ws, _account(ws, "sortiz"), row.id, "agree")
    refusal_event = [e for e in ws.audit.events() if e.action == "access.refused"][-1]
    assert refusal_event.payload["act"] == "case.concur" and refusal_event.actor == "user:sortiz"


def test_a_second_account_of_the_same_employee_cannot_concur(adverse) -> None:  # type: ignore[no-untyped-def]
    from vetting.services.review import concur

    ws, row = adverse
    with pytest.raises(AccessRefused, match="same employee number 4411"):
        concur(ws, _account(ws, "sortiz2"), row.id, "agree")


def test_names_are_never_compared_a_namesake_concurs(adverse) -> None:  # type: ignore[no-untyped-def]
    from vetting.services.review import concur

    ws, row = adverse
    done = concur(ws, _account(ws, "sortiz-b"), row.id, "agree")  # same name, another person (badge)
    assert done.concurred_by == "user:sortiz-b"


def test_concurrence_through_the_cli_is_the_second_logged_in_account(team, adverse) -> None:  # type: ignore[no-untyped-def]
    ws, row = adverse
    refused = team.vet("sortiz", "concur", str(row.id), "--reason", "agree")
    assert refused.returncode == 1 and "needs the role supervisor" in refused.stderr
    done = team.vet("amoreno", "concur", str(row.id), "--reason", "agree")
    assert done.returncode == 0, done.stderr
    assert f"decision {row.id}: concurred by user:amoreno" in done.stdout
    assert "--by" not in team.vet("amoreno", "concur", "--help").stdout


def test_a_decisions_file_cannot_concur_or_name_the_decider(team, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vetting.domain.approvals import approve

    approve(team.ws, PROCEDURE, "user:dwhitfield")
    for field, words in (("concur_by", "a decisions file cannot concur"), ("by", "the decider is the logged-in")):
        path = tmp_path / f"{field}.yaml"
        path.write_text("decisions:\n  - item: item-x\n    decision: validated\n    reason: her account\n"
                        f'    {field}: "Sgt. Alex Moreno"\n')
        result = team.vet("sortiz", "validate", "--file", str(path))
        assert result.returncode == 2, result.stderr
        assert f"{path}:5: decisions[0].{field}: {words}" in result.stderr


def test_hiring_reads_only_what_is_released_to_it(team, adverse, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, row = adverse
    case = row.case_id
    out = tmp_path / "f.html"
    refused = team.vet("hjones", "report", "findings", case, "-o", str(out))
    assert refused.returncode == 1 and "only on reports released to them" in refused.stderr and not out.exists()
    assert team.vet("amoreno", "report", "release", case, "hjones").returncode == 0
    assert team.vet("hjones", "report", "findings", case, "-o", str(out)).returncode == 0 and out.exists()
    assert team.vet("amoreno", "report", "revoke", case, "hjones").returncode == 0
    again = team.vet("hjones", "report", "findings", case, "-o", str(tmp_path / "g.html"))
    assert again.returncode == 1
    for command in (["review", case], ["audit", "show", case], ["candidate", "list"], ["case", "list"]):
        result = team.vet("hjones", *command)
        assert result.returncode == 1 and "refused: hjones may not" in result.stderr, command


def test_no_command_takes_by() -> None:
    """Every command of the CLI, walked through click: none has a --by option any more."""
    import typer.main

    from vetting.cli.main import app

    def walk(command, path=()):  # type: ignore[no-untyped-def]
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    seen = 0
    for path, command in walk(typer.main.get_command(app)):
        options = {o for p in command.params for o in p.opts}
        assert "--by" not in options, path
        seen += 1
    assert seen > 40


def test_a_worker_service_logs_in_with_its_key_file(team, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`vet worker --login BOT --key-file F`: the real automation login, then the act is checked."""
    from vetting.people.accounts import add_account

    _, creds = add_account(team.ws, login="worker-bot", name="Queue workers", roles=["automation"],
                           actor=team.account("root-admin"))
    key = tmp_path / "worker_key"
    key.write_text("vak_wrong\n")
    wrong = team.vet("sortiz", "worker", "--login", "worker-bot", "--key-file", str(key), "--burst")
    assert wrong.returncode == 1 and "login refused" in wrong.stderr, wrong.stderr
    key.write_text((creds.automation_key or "") + "\n")
    # Logged in and allowed: it gets as far as the queue, which needs PostgreSQL (exit 2, one line).
    ok = team.vet("sortiz", "worker", "--login", "worker-bot", "--key-file", str(key), "--burst")
    assert ok.returncode == 2 and "PostgreSQL" in ok.stderr, ok.stderr
    events = [e for e in team.ws.audit.events() if e.subject == "worker-bot"]
    assert [e.action for e in events][-2:] == ["auth.login_failed", "auth.login"]
    half = team.vet("sortiz", "worker", "--login", "worker-bot", "--burst")
    assert half.returncode == 2 and "give both --login and --key-file" in half.stderr
    human = team.vet("sortiz", "worker", "--burst")  # sortiz is logged in, but workers are automation's act
    assert human.returncode == 1 and "needs the role automation" in human.stderr, human.stderr
