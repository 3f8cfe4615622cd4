"""OpenID Connect login against a real provider on loopback (Authlib's server classes).

The good path and every refusal the client must make: a token signed with a key the provider
does not publish, another audience, another issuer, another nonce, an expired token, an
unsigned token, a forged state, a wrong PKCE verifier, an identity bound to no account.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from oidc_provider import CLIENT_ID, Provider
from people_fixtures import FakeClock, bootstrap_admin, person

from vetting.people.accounts import AccountError, disable_account
from vetting.people.oidc import (
    Metadata,
    OidcError,
    begin,
    configure_provider,
    discover,
    finish,
    get_provider,
    verify_id_token,
)
from vetting.people.sessions import LoginRefused, account_for_token

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def idp():
    with Provider() as provider:
        yield provider


@pytest.fixture
def setup(workspace, idp):
    idp.mode, idp.user_sub = "good", "alice-0001"
    clock = FakeClock(datetime.now(UTC))
    admin, _ = bootstrap_admin(workspace, clock)
    configure_provider(workspace, issuer=idp.issuer, client_id=CLIENT_ID, actor=admin, now=clock)
    add_oidc_person(workspace, admin, clock, idp.issuer)
    return workspace, admin, clock


def add_oidc_person(ws, admin, clock, issuer, login="alice", sub="alice-0001"):
    from vetting.people.accounts import add_account

    return add_account(ws, login=login, name="Alice Example", roles=["investigator"], actor=admin,
                       oidc_issuer=issuer, oidc_subject=sub, now=clock)


def browse(url: str) -> str:
    """The user's browser at the provider: already signed in there, it is sent back with a code."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def attempt(ws, clock):
    provider = get_provider(ws)
    meta = discover(provider.issuer)
    request = begin(provider, meta, "http://127.0.0.1:8765/callback")
    return finish(ws, provider, meta, request, browse(request.url), now=clock), request


def test_good_login_through_the_provider(setup, idp) -> None:
    ws, _, clock = setup
    issued, request = attempt(ws, clock)
    assert issued.account.login == "alice" and issued.session.method == "oidc"
    assert account_for_token(ws, issued.token, now=clock).login == "alice"
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] == [request.nonce]
    assert idp.token_requests[-1]["code_verifier"] == request.code_verifier
    assert "client_secret" not in idp.token_requests[-1]
    login = [e for e in ws.audit.events() if e.action == "auth.login"][-1]
    assert login.actor == "user:alice" and login.payload["method"] == "oidc"


@pytest.mark.parametrize("mode, message", [
    ("bad-signature", "signature"),
    ("wrong-audience", "aud"),
    ("wrong-issuer", "iss"),
    ("wrong-nonce", "nonce"),
    ("expired", "expired"),
])
def test_bad_id_tokens_refused_and_audited(setup, idp, mode, message) -> None:
    ws, _, clock = setup
    idp.mode = mode
    with pytest.raises(OidcError, match=message):
        attempt(ws, clock)
    failed = [e for e in ws.audit.events() if e.action == "auth.login_failed"][-1]
    assert failed.actor == "unauthenticated" and failed.payload["method"] == "oidc"
    assert not [e for e in ws.audit.events() if e.action == "auth.login"]


def test_token_expired_by_our_clock_refused(setup, idp) -> None:
    ws, _, clock = setup
    clock.advance(hours=2)          # the provider's token lives 5 minutes; our clock is past it
    with pytest.raises(OidcError, match="expired"):
        attempt(ws, clock)


def test_forged_state_refused(setup) -> None:
    ws, _, clock = setup
    provider = get_provider(ws)
    meta = discover(provider.issuer)
    request = begin(provider, meta, "http://127.0.0.1:8765/callback")
    callback = browse(request.url).replace(f"state={request.state}", "state=forged")
    with pytest.raises(OidcError, match="state"):
        finish(ws, provider, meta, request, callback, now=clock)


def test_pkce_verifier_is_required_by_the_provider(setup) -> None:
    from dataclasses import replace

    ws, _, clock = setup
    provider = get_provider(ws)
    meta = discover(provider.issuer)
    request = begin(provider, meta, "http://127.0.0.1:8765/callback")
    callback = browse(request.url)
    with pytest.raises(OidcError, match="code exchange failed"):
        finish(ws, provider, meta, replace(request, code_verifier="x" * 64), callback, now=clock)


def test_identity_bound_to_no_account_refused(setup, idp) -> None:
    ws, _, clock = setup
    idp.user_sub = "mallory-9999"
    with pytest.raises(LoginRefused, match="no account is bound"):
        attempt(ws, clock)


def test_disabled_account_refused(setup) -> None:
    ws, admin, clock = setup
    disable_account(ws, "alice", actor=admin, now=clock)
    with pytest.raises(LoginRefused, match="disabled"):
        attempt(ws, clock)


def test_unsigned_token_refused(setup) -> None:
    ws, _, clock = setup
    provider = get_provider(ws)
    meta = discover(provider.issuer)
    now = int(time.time())

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    token = b64({"alg": "none", "typ": "JWT"}) + "." + b64(
        {"iss": provider.issuer, "aud": CLIENT_ID, "sub": "alice-0001", "nonce": "n", "iat": now,
         "exp": now + 300}) + "."
    with pytest.raises(OidcError, match="signature or format"):
        verify_id_token(token, meta, CLIENT_ID, "n", now=clock)


def test_provider_claiming_another_issuer_refused(setup, idp) -> None:
    meta = discover(idp.issuer)
    assert isinstance(meta, Metadata)
    with pytest.raises(OidcError, match="names itself"):
        discover(idp.issuer + "/")


def test_only_https_or_loopback_issuers(setup) -> None:
    ws, admin, clock = setup
    for bad in ("http://idp.agency.example", "ftp://127.0.0.1/", "https://", "javascript:alert(1)"):
        with pytest.raises(AccountError, match="https"):
            configure_provider(ws, issuer=bad, client_id=CLIENT_ID, actor=admin, now=clock)
    inv, _ = person(ws, admin, clock, "inv9", ["investigator"])
    with pytest.raises(AccountError, match="administrator"):
        configure_provider(ws, issuer="https://idp.agency.example", client_id="x", actor=inv, now=clock)


def test_vet_login_oidc_through_the_loopback_listener(setup, idp, tmp_path) -> None:
    """The real CLI: it prints the address, the 'browser' follows it, the listener receives the code."""
    ws, _, _ = setup
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), NO_COLOR="1", COLUMNS="200")
    proc = subprocess.Popen([sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws.root), "login", "--oidc",
                             "--timeout", "120"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = ""
        deadline = time.monotonic() + 120
        while not url.startswith("http") and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            url = line.strip()
        assert url.startswith(idp.issuer + "/authorize"), url
        landed = requests.get(url, timeout=30)          # follows the redirect to the CLI's listener
        assert landed.status_code == 200 and "Login received" in landed.text
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "logged in as alice" in out
    whoami = subprocess.run([sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws.root), "whoami"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert whoami.returncode == 0 and whoami.stdout.startswith("alice (Alice Example)"), whoami.stderr


def test_no_provider_configured_is_one_line(tmp_path) -> None:
    from vetting.store.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws2")
    with pytest.raises(OidcError, match="no identity provider"):
        get_provider(ws)


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "e30.e30.", "\u202e.\u202e.\u202e"])
def test_garbage_id_tokens_refused(setup, garbage) -> None:
    ws, _, clock = setup
    meta = discover(get_provider(ws).issuer)
    with pytest.raises(OidcError, match="ID token refused"):
        verify_id_token(garbage, meta, CLIENT_ID, "n", now=clock)


def test_key_set_without_keys_refused(setup) -> None:
    ws, _, clock = setup
    meta = discover(get_provider(ws).issuer)
    bad = Metadata(meta.issuer, meta.authorization_endpoint, meta.token_endpoint, {"keys": "nope"})
    with pytest.raises(OidcError, match="key set"):
        verify_id_token("a.b.c", bad, CLIENT_ID, "n", now=clock)
