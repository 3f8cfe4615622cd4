"""OpenID Connect login through Authlib: authorization code flow with PKCE, ID token checked in full.

For agencies whose people already sign in to an identity provider (which then enforces its
own MFA and lockout). The toolkit is a *public* client (RFC 8252, a native application): no
client secret, PKCE with S256, a ``state`` against cross-site request forgery, a ``nonce``
bound into the ID token, and a redirect to a one-shot listener on the loopback interface.

The ID token is accepted only if (OpenID Connect Core 3.1.3.7): its signature verifies with a
key from the provider's published JWKS (RS256/ES256/EdDSA only, never ``none`` or HMAC);
``iss`` equals the configured issuer exactly; ``aud`` contains our client id (and ``azp`` is
ours when there are several audiences); ``nonce`` is the one we sent; ``exp`` is in the
future and ``iat`` is not (60 s of leeway for clock skew); ``at_hash`` matches the access
token when present. The account is the one an administrator bound to ``(iss, sub)``:
names and e-mail addresses in the token are never used to pick an account.
"""

from __future__ import annotations

import ipaddress
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from vetting.people.accounts import AccountError, require_admin
from vetting.people.clock import Clock, system_clock
from vetting.people.models import Account, IdentityProvider

if TYPE_CHECKING:
    from vetting.people.sessions import Issued
    from vetting.store.workspace import Workspace

ALGORITHMS = ["RS256", "ES256", "EdDSA"]
LEEWAY_SECONDS = 60
HTTP_TIMEOUT = 10


class OidcError(Exception):
    """The identity provider's answer was refused; the message says which check failed."""


def _issuer_allowed(issuer: str) -> bool:
    """https, or http on a loopback address (a test or a provider on this machine)."""
    parts = urlsplit(issuer)
    if parts.scheme == "https" and parts.hostname:
        return not parts.query and not parts.fragment
    if parts.scheme == "http" and parts.hostname:
        try:
            return ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            return parts.hostname == "localhost"
    return False


def configure_provider(ws: Workspace, *, issuer: str, client_id: str, actor: Account,
                       now: Clock = system_clock) -> IdentityProvider:
    """Set the agency's identity provider (an administrator's act, audited)."""
    require_admin(actor, ws, "idp.configure")
    issuer = issuer.strip()
    if not issuer.isprintable() or not client_id.isprintable() or not _issuer_allowed(issuer):
        raise AccountError(f"issuer {issuer!r} must be an https URL (http only on a loopback address)")
    if not client_id.strip() or len(client_id) > 200:
        raise AccountError("give the client id registered at the identity provider (at most 200 characters)")
    with ws.session() as s:
        row = s.get(IdentityProvider, 1) or IdentityProvider(issuer=issuer, client_id="", configured_by="",
                                                             configured_at=now())
        before = {"issuer": row.issuer, "client_id": row.client_id} if row.client_id else None
        row.issuer, row.client_id = issuer, client_id.strip()
        row.configured_by, row.configured_at = actor.login, now()
        s.add(row)
        s.commit()
    ws.record("auth.idp_configured", actor=actor.actor,
              payload={"issuer": issuer, "client_id": client_id.strip(), "before": before})
    ws.audit.checkpoint()
    return row


def get_provider(ws: Workspace) -> IdentityProvider:
    with ws.session() as s:
        row = s.get(IdentityProvider, 1)
    if row is None:
        raise OidcError("no identity provider is configured: an administrator runs vet user idp")
    return row


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks: dict[str, Any]


def discover(issuer: str) -> Metadata:
    """The provider's discovery document and key set; its ``issuer`` must equal ours exactly."""
    import requests

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        doc = requests.get(url, timeout=HTTP_TIMEOUT).json()
        if not isinstance(doc, dict):
            raise OidcError(f"the provider's discovery document at {url} is not a JSON object")
        if doc.get("issuer") != issuer:
            raise OidcError(f"the provider at {url} names itself {doc.get('issuer')!r}, not {issuer!r}")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(field), str) or not _issuer_allowed(doc[field]):
                raise OidcError(f"the provider's {field} is missing or not https")
        jwks = requests.get(doc["jwks_uri"], timeout=HTTP_TIMEOUT).json()
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise OidcError(f"the provider's key set at {doc['jwks_uri']} has no keys")
    except (requests.RequestException, ValueError) as exc:
        raise OidcError(f"cannot read the identity provider at {url}: {exc}") from None
    return Metadata(issuer, doc["authorization_endpoint"], doc["token_endpoint"], jwks)


@dataclass(frozen=True)
class AuthRequest:
    """What the client remembers between sending the user to the provider and the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str


def _client(provider: IdentityProvider, redirect_uri: str, state: str | None = None):  # type: ignore[no-untyped-def]
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(client_id=provider.client_id, scope="openid", redirect_uri=redirect_uri,
                         code_challenge_method="S256", state=state, token_endpoint_auth_method="none")


def begin(provider: IdentityProvider, meta: Metadata, redirect_uri: str) -> AuthRequest:
    """The authorization URL (PKCE S256, state, nonce) to open in the user's browser."""
    from authlib.common.security import generate_token

    verifier = generate_token(64)
    nonce = secrets.token_urlsafe(24)
    url, state = _client(provider, redirect_uri).create_authorization_url(
        meta.authorization_endpoint, code_verifier=verifier, nonce=nonce)
    return AuthRequest(url, state, nonce, verifier, redirect_uri)


def verify_id_token(id_token: str, meta: Metadata, client_id: str, nonce: str, *,
                    access_token: str | None = None, now: Clock = system_clock) -> dict[str, Any]:
    """The ID token's claims after every check of OpenID Connect Core 3.1.3.7; else :class:`OidcError`."""
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keys = KeySet.import_key_set(meta.jwks)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise OidcError(f"the provider's key set cannot be read: {exc}") from None
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcError(f"ID token refused: signature or format ({type(exc).__name__}: {exc})") from None
    claims = CodeIDToken(token.claims, token.header,
                         options={"iss": {"essential": True, "value": meta.issuer},
                                  "aud": {"essential": True, "value": client_id},
                                  "sub": {"essential": True}},
                         params={"nonce": nonce, "client_id": client_id, "access_token": access_token})
    try:
        claims.validate(now=int(now().timestamp()), leeway=LEEWAY_SECONDS)
    except JoseError as exc:
        raise OidcError(f"ID token refused: {exc}") from None
    if claims.get("nonce") != nonce:  # CodeIDToken checks it too; the nonce is what binds the token to us
        raise OidcError("ID token refused: nonce does not match the login request")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise OidcError("ID token refused: no subject")
    return dict(claims)


def finish(ws: Workspace, provider: IdentityProvider, meta: Metadata, request: AuthRequest, callback_url: str, *,
           kind: str = "cli", now: Clock = system_clock) -> Issued:
    """Exchange the code (with the PKCE verifier), verify the ID token, open the bound account's session.

    Every refusal is recorded as a failed login before it is raised.
    """
    from vetting.people.sessions import login_identity, record_identity_failure

    try:
        params = parse_qs(urlsplit(callback_url).query)
        if "error" in params:
            raise OidcError(f"the identity provider refused the login: {params['error'][0]} "
                            f"{params.get('error_description', [''])[0]}".strip())
        got_state = params.get("state", [""])[0]
        if not secrets.compare_digest(got_state, request.state):
            raise OidcError("the callback's state does not match the login request (possible forgery)")
        claims = _exchange_and_verify(provider, meta, request, callback_url, now)
    except OidcError as exc:
        record_identity_failure(ws, provider.issuer, str(exc))
        raise
    return login_identity(ws, claims["iss"], claims["sub"], kind=kind, now=now)


def _exchange_and_verify(provider: IdentityProvider, meta: Metadata, request: AuthRequest, callback_url: str,
                         now: Clock) -> dict[str, Any]:
    from authlib.common.errors import AuthlibBaseError
    from requests import RequestException

    try:
        token = _client(provider, request.redirect_uri, request.state).fetch_token(
            meta.token_endpoint, authorization_response=callback_url, code_verifier=request.code_verifier,
            timeout=HTTP_TIMEOUT)
    except (AuthlibBaseError, RequestException, ValueError) as exc:
        raise OidcError(f"the code exchange failed: {exc}") from None
    id_token = token.get("id_token")
    if not id_token:
        raise OidcError("the provider returned no ID token (is the openid scope allowed for this client?)")
    return verify_id_token(id_token, meta, provider.client_id, request.nonce,
                           access_token=token.get("access_token"), now=now)


# -- the loopback redirect listener (RFC 8252 section 7.3) --------------------------------------
class _Callback(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server: Any = self.server
        if urlsplit(self.path).path != "/callback":
            self.send_error(404)
            return
        server.results.put(f"http://127.0.0.1:{server.server_address[1]}{self.path}")
        body = b"<!doctype html><title>vet login</title><p>Login received. You can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # the terminal shows our own lines only


def cli_login(ws: Workspace, *, show: Callable[[str], None], timeout: float = 300,
              now: Clock = system_clock) -> Issued:
    """The whole CLI flow: listen on loopback, show the URL, wait for the callback, finish."""
    provider = get_provider(ws)
    meta = discover(provider.issuer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    server.results = queue.Queue()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        request = begin(provider, meta, f"http://127.0.0.1:{server.server_address[1]}/callback")
        show(request.url)
        try:
            callback = server.results.get(timeout=timeout)  # type: ignore[attr-defined]
        except queue.Empty:
            raise OidcError(f"no answer from the identity provider within {timeout:g} seconds") from None
    finally:
        server.shutdown()
        server.server_close()
    return finish(ws, provider, meta, request, callback, now=now)
