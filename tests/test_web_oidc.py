"""OpenID Connect login in the browser (vetting/web/pages/auth.py) against the loopback provider.

The browser is sent to the provider with PKCE, state and nonce, comes back to
``/login/oidc/callback`` and gets a new session; a callback whose state matches no login
started in this browser, or arriving in another browser, opens nothing.
"""

from __future__ import annotations

import re

import pytest
import requests
from oidc_provider import CLIENT_ID, Provider
from web_fixtures import ORIGIN, WebSite, web_site

from vetting.people.oidc import configure_provider
from vetting.web.websession import SESSION_COOKIE


@pytest.fixture(scope="module")
def idp():
    with Provider() as provider:
        yield provider


@pytest.fixture
def site(tmp_path, idp) -> WebSite:  # type: ignore[no-untyped-def]
    from vetting.people.accounts import add_account

    idp.mode, idp.user_sub = "good", "alice-0001"
    s = web_site(tmp_path)
    admin = s.team.account("root-admin")
    configure_provider(s.ws, issuer=idp.issuer, client_id=CLIENT_ID, actor=admin)
    add_account(s.ws, login="alice", name="Alice Example", roles=["investigator"], actor=admin,
                oidc_issuer=idp.issuer, oidc_subject="alice-0001")
    return s


def start(site: WebSite, client) -> str:  # type: ignore[no-untyped-def]
    """Press the identity-provider button; return where the browser is sent."""
    page = client.get("/login")
    assert "identity provider" in page.text
    nonce = re.search(r'name="login_nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login/oidc", data={"login_nonce": nonce, "banner": "accepted"},
                           headers={"origin": ORIGIN})
    assert response.status_code == 303, response.text[-1000:]
    return response.headers["location"]


def at_provider(url: str) -> str:
    """The person is signed in at the provider: it sends the browser back with a code."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_a_login_through_the_provider_opens_a_web_session(site: WebSite) -> None:
    client = site.client()
    back = at_provider(start(site, client))
    assert back.startswith(ORIGIN + "/login/oidc/callback?")
    response = client.get(back.removeprefix(ORIGIN))
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Alice Example" in client.get("/").text
    login = [e for e in site.ws.audit.events() if e.action == "auth.login"][-1]
    assert login.actor == "user:alice" and login.payload["method"] == "oidc" and login.payload["kind"] == "web"


def test_the_callback_in_another_browser_opens_nothing(site: WebSite) -> None:
    back = at_provider(start(site, site.client()))
    thief = site.client()
    response = thief.get(back.removeprefix(ORIGIN))
    assert response.status_code == 403 and SESSION_COOKIE not in thief.cookies


def test_a_forged_or_replayed_state_opens_nothing(site: WebSite) -> None:
    client = site.client()
    back = at_provider(start(site, client))
    state = re.search(r"state=([^&]+)", back).group(1)  # type: ignore[union-attr]
    forged = site.client()
    forged.cookies.set("__Host-vet_login", "forged", domain="testserver.local")
    assert forged.get(back.replace(state, "forged").removeprefix(ORIGIN)).status_code == 403
    assert client.get(back.removeprefix(ORIGIN)).status_code == 303  # the real one works, once
    replay = site.client()
    replay.cookies.set("__Host-vet_login", state, domain="testserver.local")
    assert replay.get(back.removeprefix(ORIGIN)).status_code == 403  # the state is used up
    assert SESSION_COOKIE not in replay.cookies and SESSION_COOKIE not in forged.cookies


def test_a_bad_id_token_is_refused_and_audited(site: WebSite, idp) -> None:  # type: ignore[no-untyped-def]
    idp.mode = "wrong-nonce"
    client = site.client()
    response = client.get(at_provider(start(site, client)).removeprefix(ORIGIN))
    assert response.status_code == 403 and "nonce" in response.text
    assert SESSION_COOKIE not in client.cookies
    assert [e for e in site.ws.audit.events() if e.action == "auth.login_failed"][-1].payload["method"] == "oidc"
