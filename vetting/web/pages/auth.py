"""Logging in and out in the browser, the logon banner, and each role's home page.

The login form shows the system-use notice (CJIS Security Policy AC-8) and is accepted only
when the person acknowledges it. A password login needs the TOTP code too; an account whose
password was reset chooses a new one in the same form. OpenID Connect sends the browser to
the agency's identity provider (PKCE, state and nonce) and comes back to ``/login/oidc/callback``.
Every login issues a new session token; the one the browser brought is ended first.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from starlette.responses import RedirectResponse, Response

from vetting.people.sessions import LoginRefused, login_password
from vetting.web.routes import PUBLIC, SIGNED_IN, BadRequest, Ctx, Page
from vetting.web.websession import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    end_browser_session,
    new_login_nonce,
    set_cookie,
)

#: The system-use notice shown before every login (CJIS Security Policy 5.5.4, AC-8).
BANNER = ("You are accessing a restricted information system of a law-enforcement agency. Use of this system "
          "is limited to authorized personnel for the pre-employment background investigations it supports. "
          "Every use is monitored, recorded and subject to audit; unauthorized use or use beyond your "
          "authorization is prohibited and may be subject to criminal and civil penalties. By logging in you "
          "consent to this monitoring and recording.")

OIDC_PENDING_SECONDS = 600


def _safe_next(value: str) -> str:
    """Where to go after login: only a path of this application (no open redirect)."""
    parts = urlsplit(value or "/")
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_form(ctx: Ctx, *, status: int = 200, problems: list[str] | None = None, login: str = "",
               must_change: bool = False) -> Response:
    nonce = new_login_nonce()
    response = ctx.render("web/login.html", status=status, banner=BANNER, nonce=nonce, problems=problems or [],
                          login=login, must_change=must_change,
                          next=_safe_next(ctx.request.query_params.get("next", "/")),
                          why_not=ctx.visitor.why_not, oidc=_provider(ctx) is not None)
    set_cookie(response, LOGIN_COOKIE, nonce)
    return response


def login_page(ctx: Ctx) -> Response:
    if ctx.account is not None:
        return ctx.redirect("/")
    return login_form(ctx)


def _login_nonce_ok(ctx: Ctx) -> bool:
    presented = ctx.form.get("login_nonce") if ctx.form is not None else None
    cookie = ctx.request.cookies.get(LOGIN_COOKIE)
    return bool(cookie) and isinstance(presented, str) and secrets.compare_digest(cookie, presented)


def _issue(ctx: Ctx, issued, next_url: str) -> Response:  # type: ignore[no-untyped-def]
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    set_cookie(response, SESSION_COOKIE, issued.token)
    clear_cookie(response, LOGIN_COOKIE)
    return response


def login_submit(ctx: Ctx) -> Response:
    if not _login_nonce_ok(ctx):
        return login_form(ctx, status=403, problems=["the login form expired or came from elsewhere: try again"])
    login = ctx.field("login", limit=200).strip()
    if ctx.form.get("banner") != "accepted":
        return login_form(ctx, status=400, login=login,
                          problems=["acknowledge the system-use notice to log in"])
    password = ctx.field("password", limit=1024)
    code = ctx.field("code", limit=20).strip()
    new_password = ctx.field("new_password", required=False, limit=1024)
    end_browser_session(ctx.request, ctx.clock)  # never promote a session the browser brought (fixation)
    from vetting.people.passwords import PasswordRuleError

    try:
        issued = login_password(ctx.ws, login, password, code, kind="web", now=ctx.clock,
                                choose_password=(lambda: new_password) if new_password else None)
    except LoginRefused as exc:
        must = "must choose a new password" in str(exc)
        return login_form(ctx, status=403 if not must else 200, login=login, must_change=must,
                          problems=[str(exc).replace("(run vet login and give one)", "(give one below)")])
    except PasswordRuleError as exc:
        return login_form(ctx, status=400, login=login, must_change=True, problems=[str(exc)])
    return _issue(ctx, issued, ctx.form.get("next") or "/")


def logout(ctx: Ctx) -> Response:
    end_browser_session(ctx.request, ctx.clock)
    response = ctx.redirect("/login")
    clear_cookie(response, SESSION_COOKIE)
    return response


# -- OpenID Connect ------------------------------------------------------------------------------
def _provider(ctx: Ctx):  # type: ignore[no-untyped-def]
    from vetting.people.oidc import OidcError, get_provider

    try:
        return get_provider(ctx.ws)
    except OidcError:
        return None


def _callback_url(ctx: Ctx) -> str:
    return ctx.request.app.state.origin + "/login/oidc/callback"


def oidc_begin(ctx: Ctx) -> Response:
    from vetting.people.oidc import OidcError, begin, discover

    if not _login_nonce_ok(ctx) or ctx.form.get("banner") != "accepted":
        return login_form(ctx, status=400, problems=["acknowledge the system-use notice to log in"])
    provider = _provider(ctx)
    if provider is None:
        raise BadRequest("no identity provider is configured here (vet user idp)")
    try:
        meta = discover(provider.issuer)
    except OidcError as exc:
        return login_form(ctx, status=502, problems=[str(exc)])
    request = begin(provider, meta, _callback_url(ctx))
    pending = ctx.request.app.state.oidc_pending
    now = time.monotonic()
    for state, (_, _, at) in list(pending.items()):
        if now - at > OIDC_PENDING_SECONDS:
            del pending[state]
    pending[request.state] = (request, meta, now)
    response = RedirectResponse(request.url, status_code=303)
    set_cookie(response, LOGIN_COOKIE, request.state)  # the callback must come back to this browser
    return response


def oidc_callback(ctx: Ctx) -> Response:
    from vetting.people.oidc import OidcError, finish

    state = ctx.request.query_params.get("state", "")
    pending = ctx.request.app.state.oidc_pending.pop(state, None)
    cookie = ctx.request.cookies.get(LOGIN_COOKIE) or ""
    provider = _provider(ctx)
    if pending is None or provider is None or not secrets.compare_digest(cookie, state):
        return login_form(ctx, status=403, problems=["this identity-provider answer matches no login started in "
                                                     "this browser: start again"])
    request, meta, at = pending
    if time.monotonic() - at > OIDC_PENDING_SECONDS:
        return login_form(ctx, status=403, problems=["the identity-provider login took too long: start again"])
    end_browser_session(ctx.request, ctx.clock)
    try:
        issued = finish(ctx.ws, provider, meta, request, _callback_url(ctx) + "?" + ctx.request.url.query,
                        kind="web", now=ctx.clock)
    except (OidcError, LoginRefused) as exc:
        return login_form(ctx, status=403, problems=[str(exc)])
    return _issue(ctx, issued, "/")


# -- home ----------------------------------------------------------------------------------------
def home(ctx: Ctx) -> Response:
    from vetting.people.permissions import PERMISSIONS

    mine = {act for act, row in PERMISSIONS.items() if any(r in row.scopes for r in ctx.account.roles)}
    return ctx.render("web/home.html", acts=mine)


PAGES = [
    Page("/login", login_page, PUBLIC, name="login"),
    Page("/login", login_submit, PUBLIC, methods=("POST",), name="login_submit"),
    Page("/login/oidc", oidc_begin, PUBLIC, methods=("POST",), name="oidc_begin"),
    Page("/login/oidc/callback", oidc_callback, PUBLIC, name="oidc_callback"),
    Page("/logout", logout, SIGNED_IN, methods=("POST",), name="logout"),
    Page("/", home, SIGNED_IN, name="home"),
]
