"""vetting.demo.accounts: the demo's chosen passwords always pass the password rules (a random
draw that holds a login or a name made `vet demo` fail with PasswordRuleError once in CI)."""

from __future__ import annotations

import itertools

import pytest

import vetting.demo.accounts as demo_accounts
from vetting.demo.accounts import DEMO_PEOPLE
from vetting.people.passwords import check_new_password


def test_a_draw_holding_the_login_or_a_name_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    login, name = "sortiz", "Det. Sam Ortiz (demo investigator, fictional)"
    draws = itertools.chain(["xSORTIZ", "aaaaaa", "bbbbbb", "cccccc",   # holds the login
                             "dddddd", "xxSam", "eeeeee", "ffffff",     # holds a name
                             "Zq9-xW", "Yp8_vU", "Xo7-tT", "Wn6_sS"])   # neither
    monkeypatch.setattr(demo_accounts.secrets, "token_urlsafe", lambda n: next(draws))
    password = demo_accounts._demo_password(login, name)
    assert password == "Zq9-xW-Yp8_vU-Xo7-tT-Wn6_sS"
    check_new_password(password, login=login, name=name)


def test_every_demo_person_gets_a_password_the_rules_accept() -> None:
    for login, (name, _, role) in DEMO_PEOPLE.items():
        if role == "automation":
            continue
        for _ in range(200):
            check_new_password(demo_accounts._demo_password(login, name), login=login, name=name)
