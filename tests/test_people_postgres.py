"""Accounts and sessions on PostgreSQL, on a server whose time zone is not UTC.

Idle, expiry and lockout windows compare stored times with the clock: a server that returns
local wall time for a UTC instant would end every session at once (or never). The people
tables use ``timestamptz``; these tests run the rules on a Chicago-time connection.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from people_fixtures import STRONG, FakeClock, bootstrap_admin, code, first_login, person

from vetting.people.accounts import unlock_account
from vetting.people.sessions import LoginRefused, NotAuthenticated, account_for_token, login_password
from vetting.store.workspace import Workspace


@pytest.fixture
def pg_ws(tmp_path: Path, postgres):
    url = postgres.new_database() + "&options=-c%20TimeZone%3DAmerica/Chicago"
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    with ws.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SHOW TimeZone")).scalar() == "America/Chicago"
    return ws


def test_sessions_and_lockout_on_postgres(pg_ws) -> None:
    ws, clock = pg_ws, FakeClock()
    admin, _ = bootstrap_admin(ws, clock)
    _, creds = person(ws, admin, clock, "sortiz", ["investigator"])
    first_login(ws, creds, clock)
    clock.advance(seconds=30)
    issued = login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    clock.advance(minutes=29)
    assert account_for_token(ws, issued.token, now=clock).login == "sortiz"
    clock.advance(minutes=30)
    with pytest.raises(NotAuthenticated, match="30 minutes"):
        account_for_token(ws, issued.token, now=clock)
    for i in range(5):
        with pytest.raises(LoginRefused):
            login_password(ws, "sortiz", f"wrong {i}", "000000", now=clock)
    with pytest.raises(LoginRefused, match="is locked"):
        login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)
    unlock_account(ws, "sortiz", actor=admin)
    login_password(ws, "sortiz", STRONG, code(creds, clock), now=clock)


def test_one_code_two_logins_at_once_on_postgres(pg_ws) -> None:
    ws, clock = pg_ws, FakeClock()
    admin, _ = bootstrap_admin(ws, clock)
    _, creds = person(ws, admin, clock, "sortiz", ["investigator"])
    first_login(ws, creds, clock)
    clock.advance(seconds=30)
    the_code, results = code(creds, clock), []
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
    assert len(results) == 2 and sum(not isinstance(r, LoginRefused) for r in results) == 1, results
