"""A workspace behind the web application, and browsers (httpx clients) logged in through it.

``web_site(tmp_path)`` builds a screened case (tests/case_fixtures.py) assigned to ``sortiz``,
a second case assigned to ``kosei``, the whole cast (tests/team.py), and the application with
a controlled clock. ``site.browser(login)`` logs in through the real login form (password,
TOTP code of the clock's time, the banner acknowledged) and returns the client holding the
``__Host-`` session cookie; ``site.csrf(client)`` reads the form token of a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from starlette.testclient import TestClient
from team import PASSWORD, Team, make_team

ORIGIN = "https://testserver"


class Clock:
    """The time the application's sessions and TOTP codes are read at; tests move it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class WebSite:
    team: Team
    app: Any
    clock: Clock
    case: str  # sortiz's case
    other_case: str  # kosei's case
    item: str  # an item of sortiz's case
    other_item: str
    clients: list[TestClient] = field(default_factory=list)

    @property
    def ws(self) -> Any:
        return self.team.ws

    def client(self) -> TestClient:
        c = TestClient(self.app, base_url=ORIGIN, follow_redirects=False)
        self.clients.append(c)
        return c

    def code(self, login: str) -> str:
        """A TOTP code of ``login`` at the clock's time; the clock moves on one step, so the
        next login's code is a fresh one."""
        self.clock.advance(seconds=31)
        return pyotp.TOTP(self.team.totp_secrets[login]).at(self.clock.now)

    def login_form(self, client: TestClient, login: str, *, password: str = PASSWORD, code: str | None = None,
                   banner: bool = True, headers: dict | None = None):  # type: ignore[no-untyped-def]
        page = client.get("/login")
        nonce = re.search(r'name="login_nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        data = {"login_nonce": nonce, "login": login, "password": password,
                "code": code if code is not None else self.code(login), "next": "/"}
        if banner:
            data["banner"] = "accepted"
        return client.post("/login", data=data, headers=headers or {"origin": ORIGIN})

    def browser(self, login: str) -> TestClient:
        client = self.client()
        response = self.login_form(client, login)
        assert response.status_code == 303, response.text[-2000:]
        return client

    @staticmethod
    def csrf(client: TestClient, path: str = "/") -> str:
        page = client.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def web_site(tmp_path: Path) -> WebSite:
    from case_fixtures import add_item, build_case

    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.engine.steps import open_case
    from vetting.people.assignments import assign_case
    from vetting.web.app import create_app

    b = build_case(tmp_path)
    item = add_item(b, "a", "A post about the weekend.")
    auth = tmp_path / "other-auth.pdf"
    auth.write_bytes(b"%PDF-1.4\n% signed authorization\n")
    add_candidate(b.ws, CandidateInput(id="pat-roe", full_name="Pat Roe", usernames=["patroe"],
                                       authorization={"file": auth.name, "signed_on": "2026-10-01"}), auth,
                  "Inv. Lee")
    other = type(b)(b.ws, open_case(b.ws, "pat-roe", "kcpd-261-1-preemployment", "Inv. Lee"))
    other_item = add_item(other, "b", "Another post.")
    team = make_team(b.ws, tmp_path)
    assign_case(b.ws, b.plan.case.id, "sortiz", actor=team.account("amoreno"))
    assign_case(b.ws, other.plan.case.id, "kosei", actor=team.account("amoreno"))
    clock = Clock()
    app = create_app(b.ws, origin=ORIGIN, clock=clock)
    return WebSite(team, app, clock, b.plan.case.id, other.plan.case.id, item.id, other_item.id)
