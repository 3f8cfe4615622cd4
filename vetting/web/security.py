"""Response headers, CSRF tokens and the Origin check: what every request and response passes.

- Every response carries a strict Content-Security-Policy (scripts and styles only from the
  application's own ``/static``, no inline script, no ``eval``, no frames, forms only to itself),
  ``nosniff``, a same-origin referrer policy and ``no-store``: a page of the application is never cached by
  a shared browser, and nothing it shows can run.
- A state-changing request (any method but GET and HEAD) needs the session's CSRF token, in a
  form field ``csrf`` or the ``X-CSRF-Token`` header (htmx), and is refused when its ``Origin``
  is another site's, or when the browser says it comes from another site (``Sec-Fetch-Site``).
- The CSRF token is an HMAC of the session token: another session's token does not fit, and
  nothing has to be stored for it.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

#: Headers on every response (evidence files add their own, stricter, CSP).
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make a form post's Origin "null"
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}

#: The CSP of a captured file (a screenshot) or a generated document served inline: no script,
#: no requests, a unique origin.
SANDBOX_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"

SAFE_METHODS = {"GET", "HEAD"}


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session (the same for the whole session)."""
    return hmac.new(session_token.encode(), b"vetting-web-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented or "")


def origin_problem(headers, own_origin: str) -> str | None:  # type: ignore[no-untyped-def]
    """Why a state-changing request looks cross-site, or None."""
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    if origin == "null" and site == "same-origin":
        # Under a no-referrer policy (the application sends same-origin, but a browser setting or
        # an extension may impose it) a browser sends ``Origin: null`` with its own form posts
        # (Fetch standard); Sec-Fetch-Site, set by the browser alone, says whose they are.
        return None
    if origin is not None and origin != own_origin:
        return f"request from another origin ({origin[:100]})"
    if site is not None and site not in ("same-origin", "none"):
        return f"request from another site (Sec-Fetch-Site: {site[:40]})"
    return None


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` to every response that did not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)
