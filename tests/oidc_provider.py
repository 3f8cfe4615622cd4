"""A real OpenID Connect provider on loopback, built from Authlib's server classes, for the tests.

Authlib's ``AuthorizationServer`` with ``AuthorizationCodeGrant``, the ``OpenIDCode``
extension and ``CodeChallenge(required=True)`` (PKCE) runs behind Python's ``http.server``
on 127.0.0.1. It serves discovery, the JWKS, the authorization endpoint (the user is taken as
already signed in: :attr:`Provider.user_sub`) and the token endpoint. :attr:`Provider.mode`
makes it misbehave the way a hostile or broken provider would: sign with a key it does not
publish, name another audience or issuer, echo another nonce, or issue an expired token.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "vetting-cli"
MODES = ("good", "bad-signature", "wrong-audience", "wrong-issuer", "wrong-nonce", "expired")


@dataclass
class Client(ClientMixin):
    """A public native client: PKCE, no secret, any loopback port for its /callback redirect (and
    the web application's callback under Starlette's test client)."""

    client_id: str = CLIENT_ID

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile", "email"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        if redirect_uri == "https://testserver/login/oidc/callback":  # the web application under test
            return True
        return parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.path == "/callback"

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user_sub: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd", "otp"]

    def is_expired(self) -> bool:
        return time.time() - self.auth_time > 300


class Request(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: dict[str, str], query: dict[str, str], form: dict[str, str]):
        super().__init__(method=method, uri=uri, headers=headers)
        self._args, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Provider(AuthorizationServer):
    """The provider; start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(self) -> None:
        super().__init__(scopes_supported=["openid", "profile", "email"])
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.rogue_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, Code] = {}
        self.client = Client()
        self.mode = "good"
        self.user_sub = "alice-0001"
        self.issuer = ""
        self.token_requests: list[dict[str, str]] = []
        self.register_token_generator("default", BearerTokenGenerator(lambda **kw: generate_token(42)))
        self.register_grant(_CodeGrant, [CodeChallenge(required=True), _OpenIDCode(self)])
        self._http: ThreadingHTTPServer | None = None

    # -- Authlib's hooks -----------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return self.client if client_id == self.client.client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple:
        return status, body, headers

    # -- HTTP ----------------------------------------------------------------------------
    def start(self) -> Provider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, body: Any, headers: list[tuple[str, str]] = ()) -> None:
                data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
                if isinstance(data, str):
                    data = data.encode()
                self.send_response(status)
                sent = {k.lower() for k, _ in headers}
                for k, v in headers:
                    self.send_header(k, v)
                if "content-type" not in sent and isinstance(body, (dict, list)):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _request(self, form: dict[str, str]) -> Request:
                parts = urlsplit(self.path)
                return Request(self.command, provider.issuer + self.path, dict(self.headers.items()),
                               dict(parse_qsl(parts.query)), form)

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._reply(200, provider.discovery())
                elif path == "/jwks":
                    self._reply(200, KeySet([provider.key]).as_dict(private=False))
                elif path == "/authorize":
                    request = self._request({})
                    try:
                        grant = provider.get_consent_grant(request, end_user=provider.user_sub)
                    except Exception as exc:  # an OAuth2Error: shown to the user, no redirect
                        self._reply(400, {"error": getattr(exc, "error", str(exc))})
                        return
                    self._reply(*provider.create_authorization_response(request, provider.user_sub, grant))
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/token":
                    self._reply(404, {"error": "not found"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                provider.token_requests.append(form)
                self._reply(*provider.create_token_response(self._request(form)))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> Provider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def discovery(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token", "jwks_uri": self.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"]}


class _CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        provider: Provider = self.server  # type: ignore[assignment]
        data = request.payload.data
        provider.codes[code] = Code(code=code, client_id=request.client.get_client_id(),
                                    redirect_uri=data.get("redirect_uri", ""), scope=request.scope,
                                    user_sub=request.user, nonce=data.get("nonce"),
                                    code_challenge=data.get("code_challenge"),
                                    code_challenge_method=data.get("code_challenge_method"))

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        item = self.server.codes.get(code)  # type: ignore[attr-defined]
        if item and item.client_id == client.get_client_id() and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.codes.pop(authorization_code.code, None)  # type: ignore[attr-defined]

    def authenticate_user(self, authorization_code: Code) -> str:
        return authorization_code.user_sub


class _OpenIDCode(OpenIDCode):
    def __init__(self, provider: Provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self.provider.codes.values())

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.rogue_key if self.provider.mode == "bad-signature" else self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        mode, now = self.provider.mode, int(time.time())
        claims: dict[str, Any] = {"iss": self.provider.issuer, "aud": [client.get_client_id()],
                                  "iat": now, "exp": now + 300}
        if mode == "wrong-audience":
            claims["aud"] = ["some-other-client"]
        elif mode == "wrong-issuer":
            claims["iss"] = "http://127.0.0.1:1/elsewhere"
        elif mode == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        return claims

    def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
        claims = super().get_authorization_code_claims(authorization_code)
        if self.provider.mode == "wrong-nonce":
            claims["nonce"] = "a-nonce-from-another-login"
        return claims

    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return UserInfo(sub=user, name="Alice Example", email="alice@agency.example")
