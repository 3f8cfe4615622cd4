"""Logins, lockout, TOTP replay, token lifetime, current_account: each rule attacked with a moved clock."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from people_fixtures import STRONG, FakeClock, bootstrap_admin, code, first_login, fresh, person

from vetting.people.accounts import disable_account, reset_account, unlock_account
from vetting.people.passwords import PasswordRuleError
from vetting.people.sessions import (
    LoginRefused,
    NotAuthenticated,
    account_for_token,
    current_account,
    login_automation,
    login_password,
    logout_cli,
    logout_token,
    save_cli_token,
)
from vetting.people.tokenfile import token_path


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def setup(workspace):
    """A workspace with an admin and an investigator who has chosen a password."""
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    _, creds = person(workspace, admin, clock, "sortiz", ["investigator"])
    first_login(workspace, creds, clock)
    clock.advance(seconds=30)
    return workspace, clock, admin, creds


def events(ws, action: str):
    return [e for e in ws.audit.events() if e.action == action]


def test_first_login_must_choose_a_password(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    _, creds = person(workspace, admin, clock, "sortiz", ["investigator"])
    with pytest.raises(LoginRefused, match="must choose a new password"):
        login_password(workspace, "sortiz", creds.password, code(creds, clock), now=clock)
    with pytest.raises(PasswordRuleError, match="at least 12"):
        login_password(workspace, "sortiz", creds.password, code(creds, clock), choose_password=lambda: "short",
                       now=clock)
    with pytest.raises(PasswordRuleError, match="login or name"):
        login_password(workspace, "sortiz", creds.password, code(creds, clock),
                       choose_password=lambda: "sortiz-is-my-password", now=clock)
    # the refused new passwords did not use the code up
    issued = login_password(workspace, "sortiz", creds.password, code(creds, clock),
                            choose_password=lambda: STRONG, now=clock)
    assert issued.account.login == "sortiz" and not fresh(workspace, "sortiz").must_change_password
    assert events(workspace, "account.password_changed")[-1].actor == "user:sortiz"
    clock.advance(seconds=30)
    with pytest.raises(LoginRefused, match="wrong login, password or code"):
        login_password(workspace, "sortiz", creds.password, code(creds, clock), now=clock)


def test_good_login_is_audited_and_the_token_works(setup) -> None:
    ws, clock, _, creds = setup
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    assert account_for_token(ws, issued.token, now=clock).login == "sortiz"
    login = events(ws, "auth.login")[-1]
    assert login.actor == "user:sortiz" and login.payload["method"] == "password+totp"
    assert issued.token not in str(login.payload) and issued.token not in "\n".join(
        sqlite3.connect(ws.root / "vetting.db").iterdump())
    used = events(ws, "auth.session_used")
    assert len(used) == 1 and used[0].payload["session"] == login.payload["session"]
    account_for_token(ws, issued.token, now=clock)
    assert len(events(ws, "auth.session_used")) == 1  # the first use per session


def test_totp_replay_within_its_window_refused(setup) -> None:
    ws, clock, _, creds = setup
    used = code(creds, clock)
    login_password(ws, "sortiz", STRONG, used, now=clock)
    clock.advance(seconds=5)
    with pytest.raises(LoginRefused, match="wrong login, password or code"):
        login_password(ws, "sortiz", STRONG, used, now=clock)
    assert events(ws, "auth.login_failed")[-1].payload["reason"] == "code already used"
    # an older code (one step back, still inside the drift window) is refused as well
    with pytest.raises(LoginRefused):
        login_password(ws, "sortiz", STRONG, code(creds, clock, steps=-1), now=clock)
    clock.advance(seconds=30)
    login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)


@pytest.mark.parametrize("bad", ["000000", "12345", "abcdef", "", "1234567"])
def test_wrong_totp_refused(setup, bad) -> None:
    ws, clock, _, creds = setup
    if bad == code(creds, clock):
        bad = "111111" if bad != "111111" else "222222"
    with pytest.raises(LoginRefused, match="wrong login, password or code"):
        login_password(ws, "sortiz", STRONG, bad, now=clock)
    assert events(ws, "auth.login_failed")[-1].payload["reason"] == "wrong code"


def test_code_from_far_away_refused(setup) -> None:
    ws, clock, _, creds = setup
    with pytest.raises(LoginRefused):
        login_password(ws, "sortiz", STRONG, code(creds, clock, steps=3), now=clock)


def test_lockout_after_five_failures_then_admin_unlocks(setup) -> None:
    ws, clock, admin, creds = setup
    for i in range(5):
        clock.advance(minutes=2)
        with pytest.raises(LoginRefused) as refused:
            login_password(ws, "sortiz", f"wrong password {i}", "000000", now=clock)
    assert "now locked" in str(refused.value)
    assert fresh(ws, "sortiz").locked_at is not None
    assert events(ws, "auth.locked")[-1].actor == "user:sortiz"
    clock.advance(minutes=1)
    with pytest.raises(LoginRefused, match="is locked"):          # the 6th, with the right password and code
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    assert events(ws, "auth.login_refused")[-1].payload["reason"] == "account locked"
    clock.advance(hours=5)                                         # it does not unlock by itself
    with pytest.raises(LoginRefused, match="is locked"):
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    unlock_account(ws, "sortiz", actor=admin, now=clock)
    assert events(ws, "account.unlocked")[-1].actor == "user:root-admin"
    login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)


def test_unlock_starts_the_count_again(setup) -> None:
    """Unlocked a minute after the lock, the five failures are still inside the window: they no longer count."""
    ws, clock, admin, creds = setup
    for i in range(5):
        with pytest.raises(LoginRefused):
            login_password(ws, "sortiz", f"wrong password {i}", "000000", now=clock)
    clock.advance(minutes=1)
    unlock_account(ws, "sortiz", actor=admin, now=clock)
    for i in range(4):
        with pytest.raises(LoginRefused, match="wrong login, password or code"):
            login_password(ws, "sortiz", f"one more typo {i}", "000000", now=clock)
    assert fresh(ws, "sortiz").locked_at is None
    with pytest.raises(LoginRefused, match="now locked"):
        login_password(ws, "sortiz", "the fifth since the unlock", "000000", now=clock)


def test_failures_spread_beyond_15_minutes_do_not_lock(setup) -> None:
    ws, clock, _, creds = setup
    for i in range(6):
        clock.advance(minutes=4)
        with pytest.raises(LoginRefused, match="wrong login"):
            login_password(ws, "sortiz", f"wrong password {i}", "000000", now=clock)
    assert fresh(ws, "sortiz").locked_at is None


def test_a_success_resets_the_count(setup) -> None:
    ws, clock, _, creds = setup
    for i in range(4):
        with pytest.raises(LoginRefused):
            login_password(ws, "sortiz", f"wrong password {i}", "000000", now=clock)
    clock.advance(seconds=30)
    login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    clock.advance(seconds=30)
    with pytest.raises(LoginRefused, match="wrong login"):
        login_password(ws, "sortiz", "wrong password again", "000000", now=clock)
    assert fresh(ws, "sortiz").locked_at is None


def test_unknown_login_is_refused_like_a_wrong_password_and_audited(setup) -> None:
    ws, clock, _, _ = setup
    with pytest.raises(LoginRefused, match="wrong login, password or code"):
        login_password(ws, "nobody", STRONG, "123456", now=clock)
    event = events(ws, "auth.login_failed")[-1]
    assert event.actor == "unauthenticated" and event.payload["login"] == "nobody"
    # a password typed at the login prompt is not written into the (unerasable) audit log
    with pytest.raises(LoginRefused, match="wrong login, password or code"):
        login_password(ws, "My Secret Passw0rd!", STRONG, "123456", now=clock)
    assert events(ws, "auth.login_failed")[-1].payload["login"] == "(not a login name)"
    assert "My Secret" not in str([e.payload for e in ws.audit.events()])


def test_missing_totp_key_is_one_clear_refusal(setup) -> None:
    from vetting.people.totp import TotpKeyError

    ws, clock, _, creds = setup
    (ws.key_dir / "totp.key").unlink()
    with pytest.raises(TotpKeyError, match="totp.key is missing"):
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)


def test_expired_idle_and_revoked_tokens_refused(setup) -> None:
    ws, clock, _, creds = setup
    # idle: 29 minutes between uses is fine, 30 is not
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    for _ in range(3):
        clock.advance(minutes=29)
        account_for_token(ws, issued.token, now=clock)
    clock.advance(minutes=30)
    with pytest.raises(NotAuthenticated, match="30 minutes"):
        account_for_token(ws, issued.token, now=clock)
    clock.advance(seconds=1)
    with pytest.raises(NotAuthenticated, match="ended"):              # and it stays dead
        account_for_token(ws, issued.token, now=clock)
    # absolute: used every 20 minutes, it still dies at 12 hours
    clock.advance(seconds=30)
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    for _ in range(35):
        clock.advance(minutes=20)
        account_for_token(ws, issued.token, now=clock)
    clock.advance(minutes=20)
    with pytest.raises(NotAuthenticated, match="12 hours"):
        account_for_token(ws, issued.token, now=clock)
    # revoked: logout ends it on the server
    clock.advance(seconds=30)
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    assert logout_token(ws, issued.token, now=clock).login == "sortiz"
    with pytest.raises(NotAuthenticated, match="logout"):
        account_for_token(ws, issued.token, now=clock)
    reasons = [e.payload["reason"] for e in events(ws, "auth.session_refused")]
    assert reasons == ["idle", "idle", "expired", "logout"]
    with pytest.raises(NotAuthenticated, match="not known"):
        account_for_token(ws, "made-up-token", now=clock)


def test_disabled_accounts_tokens_die_at_once(setup) -> None:
    ws, clock, admin, creds = setup
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    disable_account(ws, "sortiz", actor=admin, reason="left the unit", now=clock)
    with pytest.raises(NotAuthenticated, match="ended"):
        account_for_token(ws, issued.token, now=clock)
    with pytest.raises(LoginRefused, match="disabled"):
        login_password(ws, "sortiz", STRONG, code(creds, clock, steps=1), now=clock)


def test_disabled_by_sql_edit_still_refused(setup) -> None:
    """Even if only the status changed (no session ended), the token is refused."""
    ws, clock, _, creds = setup
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    db = sqlite3.connect(ws.root / "vetting.db")
    db.execute("UPDATE account SET status='disabled' WHERE login='sortiz'")
    db.commit()
    db.close()
    with pytest.raises(NotAuthenticated, match="disabled"):
        account_for_token(ws, issued.token, now=clock)


def test_reset_ends_sessions(setup) -> None:
    ws, clock, admin, creds = setup
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    reset_account(ws, "sortiz", actor=admin, now=clock)
    with pytest.raises(NotAuthenticated, match="credentials reset"):
        account_for_token(ws, issued.token, now=clock)


def test_unused_account_is_disabled_at_its_next_login(setup) -> None:
    ws, clock, _, creds = setup
    clock.advance(days=91)
    with pytest.raises(LoginRefused, match="unused for 90 days"):
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)


def test_automation_key_login(workspace) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    _, creds = person(workspace, admin, clock, "demo-bot", ["automation"], name="Demo runner")
    issued = login_automation(workspace, "demo-bot", creds.automation_key, now=clock)
    assert account_for_token(workspace, issued.token, now=clock).roles == ("automation",)
    with pytest.raises(LoginRefused):
        login_automation(workspace, "demo-bot", "vak_wrong", now=clock)
    with pytest.raises(LoginRefused, match="automation key"):
        login_password(workspace, "demo-bot", STRONG, "123456", now=clock)


def test_token_file_is_0600_and_current_account_reads_it(setup, config_home) -> None:
    ws, clock, _, creds = setup
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    path = save_cli_token(ws, issued)
    assert path == token_path(ws.id) and path.is_relative_to(config_home / "vetting")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert current_account(ws, now=clock).login == "sortiz"
    os.chmod(path, 0o644)
    with pytest.raises(NotAuthenticated, match="readable by other users"):
        current_account(ws, now=clock)
    os.chmod(path, 0o600)
    assert logout_cli(ws, now=clock).login == "sortiz"
    assert not path.exists()
    with pytest.raises(NotAuthenticated, match="not logged in"):
        current_account(ws, now=clock)
    with pytest.raises(NotAuthenticated, match="ended"):
        account_for_token(ws, issued.token, now=clock)


def test_garbage_token_file_refused_in_one_line(setup, config_home) -> None:
    ws, clock, _, _ = setup
    path = token_path(ws.id)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    os.chmod(path, 0o600)
    with pytest.raises(NotAuthenticated, match="not a vetting token file"):
        current_account(ws, now=clock)


def test_two_logins_with_one_code_at_once_give_one_session(setup) -> None:
    """Both pass the password and code checks in parallel; the step is claimed by exactly one."""
    import threading

    ws, clock, _, creds = setup
    the_code = code(creds, clock)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        barrier.wait()
        try:
            results.append(login_password(ws, "sortiz", STRONG, the_code, now=clock))
        except LoginRefused as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    issued = [r for r in results if not isinstance(r, LoginRefused)]
    assert len(results) == 2 and len(issued) == 1, results
    assert len([e for e in events(ws, "auth.login")]) == 2  # the setup's first login and this one


def test_login_racing_a_lock_is_refused(setup, monkeypatch) -> None:
    """The account is locked while a correct login is between its checks and its session."""
    from vetting.people import sessions

    ws, clock, admin, creds = setup
    real = sessions.passwords.verify_password

    def verify_then_lock(stored, password):
        checked = real(stored, password)
        db = sqlite3.connect(ws.root / "vetting.db")
        db.execute("UPDATE account SET locked_at='2026-01-01 00:00:00' WHERE login='sortiz'")
        db.commit()
        db.close()
        return checked

    before = len(_sessions(ws))
    monkeypatch.setattr(sessions.passwords, "verify_password", verify_then_lock)
    with pytest.raises(LoginRefused, match="is locked"):
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    assert len(_sessions(ws)) == before


def _sessions(ws):
    from sqlmodel import select

    from vetting.people.models import AuthSession

    with ws.session() as s:
        return list(s.exec(select(AuthSession)))


@pytest.mark.parametrize("weak", ["password1234", "Password123!", "qwertyuiop123", "iloveyou2024!",
                                  "Sam Ortiz 1234", "B-1 sortiz@x"])
def test_common_or_personal_passwords_refused_at_first_login(workspace, weak) -> None:
    clock = FakeClock()
    admin, _ = bootstrap_admin(workspace, clock)
    _, creds = person(workspace, admin, clock, "sortiz", ["investigator"])
    with pytest.raises(PasswordRuleError):
        login_password(workspace, "sortiz", creds.password, code(creds, clock), choose_password=lambda: weak,
                       now=clock)
    assert fresh(workspace, "sortiz").must_change_password


def test_change_own_password_asks_for_the_current_one(setup) -> None:
    from vetting.people.sessions import change_own_password

    ws, clock, _, creds = setup
    me = fresh(ws, "sortiz")
    other = "seven purple lanterns drift east"
    with pytest.raises(LoginRefused):
        change_own_password(ws, me, "not my password", other)
    assert events(ws, "auth.login_failed")[-1].payload["reason"] == "wrong current password"
    with pytest.raises(PasswordRuleError, match="too easy"):
        change_own_password(ws, me, STRONG, "password12345")
    change_own_password(ws, me, STRONG, other)
    assert events(ws, "account.password_changed")[-1].payload == {"at_login": False}
    login_password(ws, "sortiz", other, code(creds, clock), now=clock)


def test_a_new_login_ends_the_session_the_token_file_held(setup, config_home) -> None:
    ws, clock, _, creds = setup
    first = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    save_cli_token(ws, first)
    clock.advance(seconds=30)
    second = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    save_cli_token(ws, second)
    with pytest.raises(NotAuthenticated, match="logout"):
        account_for_token(ws, first.token, now=clock)
    assert current_account(ws, now=clock).login == "sortiz"


# -- step-up (confirm_identity): the password and a fresh code again, before a weighty act ------
def test_step_up_needs_both_factors_and_a_fresh_code(setup) -> None:
    from vetting.people.sessions import confirm_identity

    ws, clock, _, creds = setup
    account = fresh(ws, "sortiz")
    confirm_identity(ws, account, STRONG, code(creds, clock), act="concur with decision 7", now=clock)
    assert [e.payload["act"] for e in events(ws, "auth.step_up")] == ["concur with decision 7"]
    with pytest.raises(LoginRefused):  # the same code again: used up
        confirm_identity(ws, account, STRONG, code(creds, clock), act="approve", now=clock)
    clock.advance(seconds=30)
    with pytest.raises(LoginRefused):
        confirm_identity(ws, account, "not the password", code(creds, clock), act="approve", now=clock)
    with pytest.raises(LoginRefused):
        confirm_identity(ws, account, STRONG, "000000", act="approve", now=clock)
    assert len(events(ws, "auth.step_up")) == 1


def test_wrong_step_up_answers_lock_the_account_like_logins(setup) -> None:
    """A borrowed, unlocked browser is no way around the lockout: five wrong answers lock."""
    from vetting.people.sessions import confirm_identity

    ws, clock, _, creds = setup
    account = fresh(ws, "sortiz")
    for _ in range(5):
        with pytest.raises(LoginRefused):
            confirm_identity(ws, account, "guess " * 3, code(creds, clock), act="approve", now=clock)
        clock.advance(seconds=30)
    assert fresh(ws, "sortiz").locked_at is not None
    with pytest.raises(LoginRefused, match="locked"):
        confirm_identity(ws, account, STRONG, code(creds, clock), act="approve", now=clock)
