"""Accounts and roles: the admin's acts, role rules, bootstrap, inactivity, schema upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from people_fixtures import FakeClock, bootstrap_admin, fresh, person

from vetting.people.accounts import (
    AccountError,
    add_account,
    change_roles,
    disable_account,
    disable_inactive,
    enable_account,
    reset_account,
)
from vetting.people.models import Account
from vetting.people.passwords import OWASP_FLOOR, parameters
from vetting.people.roles import RoleError, check_roles
from vetting.store.workspace import Workspace


def actions(ws) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.subject) for e in ws.audit.events()]


def test_bootstrap_only_while_no_admin_can_act(workspace) -> None:
    clock = FakeClock()
    admin, creds = bootstrap_admin(workspace, clock)
    assert admin.roles == ("admin",) and creds.password and creds.totp_secret
    assert ("account.bootstrapped", "system:bootstrap", "root-admin") in actions(workspace)
    with pytest.raises(AccountError, match="already exists"):
        bootstrap_admin(workspace, clock, login="second")
    with pytest.raises(AccountError, match="role admin only"):
        add_account(workspace, login="x1", name="X", roles=["commander"], actor=None, bootstrap=True)


def test_only_an_admin_adds_accounts(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    inv, _ = person(workspace, admin, clock, "sortiz", ["investigator"])
    with pytest.raises(AccountError, match="only an account administrator"):
        add_account(workspace, login="amoreno", name="Alex Moreno", roles=["supervisor"], actor=inv)
    with pytest.raises(AccountError, match="only an account administrator"):
        add_account(workspace, login="amoreno", name="Alex Moreno", roles=["supervisor"], actor=None)
    assert ("account.created", "user:root-admin", "sortiz") in actions(workspace)
    refusals = [e for e in workspace.audit.events() if e.action == "access.refused"]
    assert [(e.actor, e.subject, e.payload["act"]) for e in refusals] == [
        ("user:sortiz", "amoreno", "account.create"), ("unauthenticated", "amoreno", "account.create")]
    with pytest.raises(AccountError, match="only an account administrator"):
        disable_account(workspace, "root-admin", actor=inv)
    last = [e for e in workspace.audit.events() if e.action == "access.refused"][-1]
    assert (last.actor, last.subject, last.payload["act"]) == ("user:sortiz", "root-admin", "account.disable")


@pytest.mark.parametrize("roles, message", [
    (["admin", "commander"], "held alone"),
    (["admin", "supervisor"], "held alone"),
    (["admin", "investigator"], "held alone"),
    (["automation", "investigator"], "held alone"),
    (["hiring", "investigator"], "cannot be held by one account"),
    (["hiring", "commander"], "cannot be held by one account"),
    (["wizard"], "unknown role"),
    ([], "at least one role"),
])
def test_role_sets_refused(roles, message) -> None:
    with pytest.raises(RoleError, match=message):
        check_roles(roles)


def test_role_sets_allowed_in_canonical_order() -> None:
    assert check_roles(["supervisor", "Investigator"]) == ("investigator", "supervisor")
    assert check_roles(["commander", "supervisor"]) == ("supervisor", "commander")


def test_admin_cannot_grant_itself_a_deciding_role(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    for role in ("investigator", "supervisor", "commander"):
        with pytest.raises(AccountError, match="held alone"):
            change_roles(workspace, "root-admin", actor=admin, grant=[role])
    assert fresh(workspace, "root-admin").roles == ("admin",)


def test_role_change_is_audited_with_before_and_after(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    person(workspace, admin, clock, "sortiz", ["investigator"])
    change_roles(workspace, "sortiz", actor=admin, grant=["supervisor"])
    event = [e for e in workspace.audit.events() if e.action == "account.roles_changed"][-1]
    assert event.actor == "user:root-admin" and event.subject == "sortiz"
    assert event.payload == {"before": ["investigator"], "after": ["investigator", "supervisor"]}
    with pytest.raises(AccountError, match="cannot become"):
        change_roles(workspace, "sortiz", actor=admin, grant=["automation"], revoke=["investigator", "supervisor"])


def test_last_admin_is_kept(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    with pytest.raises(AccountError, match="last active administrator"):
        disable_account(workspace, "root-admin", actor=admin)
    with pytest.raises(AccountError, match="last active administrator"):
        change_roles(workspace, "root-admin", actor=admin, grant=["commander"], revoke=["admin"])


def test_bad_fields_refused_and_nothing_written(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    before = workspace.audit.size()
    for kwargs, message in [({"login": "Sam Ortiz"}, "login"), ({"login": "x"}, "login"),
                            ({"name": " "}, "name"), ({"email": "not-mail"}, "e-mail"),
                            ({"name": "two\nlines"}, "name"), ({"oidc_subject": "abc"}, "issuer")]:
        args = {"login": "sortiz", "name": "Sam Ortiz", "roles": ["investigator"], "actor": admin, **kwargs}
        with pytest.raises(AccountError, match=message):
            add_account(workspace, **args)
    assert workspace.audit.size() == before
    assert [a.login for a in _all(workspace)] == ["root-admin"]


def test_login_is_never_reused(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    person(workspace, admin, clock, "sortiz", ["investigator"])
    disable_account(workspace, "sortiz", actor=admin)
    with pytest.raises(AccountError, match="never reused"):
        person(workspace, admin, clock, "sortiz", ["investigator"], name="Someone Else")


def test_password_hash_is_argon2id_with_recorded_parameters(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    stored = fresh(workspace, "root-admin").password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    params = parameters(stored)
    assert params["type"] == "id"
    for name, floor in OWASP_FLOOR.items():
        assert params[name] >= floor
    # the TOTP secret is not in the database in the clear
    row = fresh(workspace, "root-admin")
    db = sqlite3.connect(workspace.root / "vetting.db")
    dump = "\n".join(db.iterdump())
    assert row.totp_secret_enc in dump
    assert (workspace.key_dir / "totp.key").stat().st_mode & 0o777 == 0o600


def test_unused_for_90_days_disables_and_is_audited(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    person(workspace, admin, clock, "sortiz", ["investigator"])
    clock.advance(days=89, hours=23)
    assert disable_inactive(workspace, now=clock) == []
    clock.advance(hours=2)
    assert sorted(disable_inactive(workspace, now=clock)) == ["root-admin", "sortiz"]
    row = fresh(workspace, "sortiz")
    assert row.status == "disabled" and "unused for 90 days" in row.disabled_reason
    assert ("account.disabled", "system:people", "sortiz") in actions(workspace)
    # every admin is disabled now: the bootstrap path is the documented recovery
    new_admin, _ = bootstrap_admin(workspace, clock, login="new-admin")
    enable_account(workspace, "sortiz", actor=new_admin, now=clock)
    assert disable_inactive(workspace, now=clock) == []


def test_reset_gives_new_secrets_and_never_to_oneself(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    _, creds = person(workspace, admin, clock, "sortiz", ["investigator"])
    new = reset_account(workspace, "sortiz", actor=admin, now=clock)
    assert new.password != creds.password and new.totp_secret != creds.totp_secret
    assert fresh(workspace, "sortiz").must_change_password
    with pytest.raises(AccountError, match="their own"):
        reset_account(workspace, "root-admin", actor=admin)


def test_automation_account_gets_a_key_and_no_password(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    bot, creds = person(workspace, admin, clock, "demo-bot", ["automation"], name="Demo runner")
    assert creds.automation_key and creds.password is None and creds.totp_secret is None
    assert bot.password_hash == "" and bot.automation_key_hash and creds.automation_key not in bot.automation_key_hash


def _all(ws) -> list[Account]:
    from vetting.people.accounts import list_accounts

    return list_accounts(ws)


def test_existing_workspace_gains_people_tables(tmp_path: Path) -> None:
    """A workspace written before accounts existed is upgraded in place, idempotently."""
    from vetting.store.db import MIGRATIONS, _people

    before_people = str(MIGRATIONS.index(_people))   # the schema version just before the accounts

    root = tmp_path / "ws"
    ws = Workspace.open(root)
    ws.record("note.kept", actor="system:test")
    ws.engine.dispose()
    db = sqlite3.connect(root / "vetting.db")
    for table in ("loginattempt", "authsession", "caseassignment", "reportrelease", "identityprovider", "account"):
        db.execute(f"DROP TABLE {table}")
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (before_people,))
    db.commit()
    db.close()
    ws = Workspace.open(root)
    clock = FakeClock()
    admin, _ = bootstrap_admin(ws, clock)
    assert admin.login == "root-admin"
    assert any(e.action == "note.kept" for e in ws.audit.events())
    ws.engine.dispose()
    db = sqlite3.connect(root / "vetting.db")
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(len(MIGRATIONS))
    db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (before_people,))  # again, over its own tables
    db.commit()
    db.close()
    ws = Workspace.open(root)
    assert [a.login for a in _all(ws)] == ["root-admin"]


def test_undecodable_argv_bytes_refused_before_anything_is_written(workspace) -> None:
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates: refused, nothing stored or logged."""
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    before = workspace.audit.size()
    for kwargs in ({"name": "Sam \udcff Ortiz"}, {"badge": "\udcff"}, {"email": "a\udcff@b.example"},
                   {"login": "sort\udcffiz"}, {"name": "Sam\x7fOrtiz"}, {"badge": "1\n2"}):
        args = {"login": "sortiz", "name": "Sam Ortiz", "roles": ["investigator"], "actor": admin, **kwargs}
        with pytest.raises(AccountError):
            add_account(workspace, **args)
    person(workspace, admin, clock, "sortiz", ["investigator"])
    with pytest.raises(AccountError, match="reason"):
        disable_account(workspace, "sortiz", actor=admin, reason="left \udcff")
    assert fresh(workspace, "sortiz").status == "active"
    inv = fresh(workspace, "sortiz")
    with pytest.raises(AccountError, match="only an account administrator"):
        disable_account(workspace, "\udcff", actor=inv)
    assert workspace.audit.size() == before + 2   # account.created, then access.refused (the name made safe)
    assert list(workspace.audit.events())[-1].subject == "?"
