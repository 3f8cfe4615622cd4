"""Browser sessions: the server-side session of :mod:`vetting.people.sessions` in a cookie.

The cookie holds only an opaque random token (``__Host-`` prefix: Secure, Path=/, no Domain;
HttpOnly; SameSite=Lax). The server keeps the SHA-256 of the token in the ``authsession``
table with ``kind="web"``, so the same rules as the CLI's tokens apply: 12 hours absolute,
30 minutes idle, ended at logout on the server, ended when the account is disabled, every
refusal audited.

- **No fixation:** a login always issues a new token; a token the browser brought before the
  login is ended on the server, never promoted.
- **Login CSRF:** the login form carries a random value that must equal the pre-login cookie
  (double submit), and a foreign ``Origin`` is refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from vetting.people.clock import Clock
from vetting.people.models import Account
from vetting.people.sessions import NotAuthenticated, account_for_token, logout_token
from vetting.web.security import csrf_token

SESSION_COOKIE = "__Host-vet_session"
LOGIN_COOKIE = "__Host-vet_login"


@dataclass(frozen=True)
class Visitor:
    """Who is asking: the account and its session token (for the CSRF token), or nobody."""

    account: Account | None
    token: str | None
    why_not: str = ""  # why a presented cookie was refused (expired, idle, ended)

    @property
    def csrf(self) -> str:
        return csrf_token(self.token) if self.token else ""


def visitor(request: Request, clock: Clock, touch: bool = True) -> Visitor:
    """The account of the request's session cookie, or nobody; ``touch``: the request is the
    person's, and refreshes the session's idle clock (a background poll is not)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return Visitor(None, None)
    ws = request.app.state.ws
    try:
        return Visitor(account_for_token(ws, token, now=clock, touch=touch), token)
    except NotAuthenticated as exc:
        return Visitor(None, None, str(exc).replace("run vet login", "log in again"))


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def end_browser_session(request: Request, clock: Clock) -> Account | None:
    """End the session of the request's cookie on the server (logout, or a new login)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return logout_token(request.app.state.ws, token, now=clock)
