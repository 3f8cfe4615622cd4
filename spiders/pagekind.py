"""Is a response public content, a login wall, or a block/challenge page?

Policy 261-1 IV.B.8.b allows public content only, and DESIGN.md invariant 2 says a login wall
or a bot wall is *recorded* (``not public`` / ``blocked``), never worked around: no logging in,
no retrying until the wall goes away, no solving a CAPTCHA. This module is the one place that
decides which is which, as a pure function of what the server sent, so the guard middleware,
the spiders and the tests all agree and the decision can be re-run on stored evidence.

Rules (first match wins):

* 401 / 407 (authentication demanded): ``not public: login wall``.
* a redirect (3xx) whose ``Location`` is a login/sign-in URL: ``not public: login wall``.
* challenge markers (CAPTCHA widgets, "checking your browser", Cloudflare ``cf-chl`` /
  ``cf-mitigated``, DataDome, PerimeterX, Imperva, AWS WAF) on a 403/429/503, or the
  unmistakable interstitial markers on any status: ``blocked: challenge page``.
* 429 without markers: ``blocked: rate limited``.
* a page with a password input, when the page is a login page (login URL or title, or little
  other text, or a 401/403): ``not public: login wall``. A long public page that merely has a
  small sign-in box in its sidebar stays public.
* 403 without either: ``blocked: forbidden``.
* anything else: ``public`` (including 404s and 5xx errors: those are outcomes the spider
  records itself).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

#: How much of a body is scanned for markers: walls put them at the top, and a 5 MB page is
#: not worth a full scan.
SCAN_BYTES = 512 * 1024

PUBLIC = "public"
NOT_PUBLIC = "not public"
BLOCKED = "blocked"

LOGIN_WALL = "not public: login wall"
CHALLENGE = "blocked: challenge page"
RATE_LIMITED = "blocked: rate limited"
FORBIDDEN = "blocked: forbidden"

_LOGIN_PATH = re.compile(
    r"/(log[-_]?in|sign[-_]?in|signin|logon|auth(enticate|orize)?|sso|session/new|sessions/new|"
    r"accounts/login|i/flow/login|checkpoint|users/sign_in|account/login|oauth2?/authorize)"
    r"(/|\.[a-z]+|$|\?)",
    re.IGNORECASE,
)
_LOGIN_QUERY = re.compile(r"[?&](action=login|login=1|return_to=|returnurl=|redirect_to=.*login)",
                          re.IGNORECASE)
_PASSWORD_INPUT = re.compile(rb"<input\b[^>]*\btype\s*=\s*[\"']?password\b", re.IGNORECASE)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_LOGIN_TITLE = re.compile(rb"\b(log ?in|sign ?in|log on|sign on|authenticat)", re.IGNORECASE)
_TAGS = re.compile(rb"<(script|style|noscript|template)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)

#: Markers that only appear on bot walls: they classify a page as blocked whatever its status.
_INTERSTITIAL_MARKERS = (
    b"checking your browser", b"cf-challenge", b"cf_chl_", b"challenge-platform",
    b"cf-turnstile", b"verify you are human", b"verifying you are human",
    b"captcha-delivery.com", b"px-captcha", b"_incapsula_resource", b"ddos protection by",
    b"please enable cookies and javascript", b"please enable js and disable any ad blocker",
    b"awswaf", b"are you a robot", b"unusual traffic from your computer",
)
#: Markers that, on a refusal status (403/429/503), say the refusal is a challenge.
_CHALLENGE_MARKERS = _INTERSTITIAL_MARKERS + (
    b"captcha", b"g-recaptcha", b"h-captcha", b"hcaptcha", b"recaptcha", b"just a moment",
    b"attention required", b"access denied", b"bot detection", b"security check",
    b"request unsuccessful", b"datadome",
)
_CHALLENGE_HEADERS = (
    ("cf-mitigated", "challenge"), ("x-amzn-waf-action", "captcha"),
    ("x-amzn-waf-action", "challenge"), ("x-datadome", ""), ("x-sucuri-block", ""),
)
_REFUSAL_STATUSES = (403, 429, 503)
#: What sites say, in a page's own short text, when an account exists but is not public:
#: a private account is recorded ``not public``, never worked around (no follow request).
_PRIVATE_ACCOUNT = re.compile(
    rb"\b(this (account|profile) is private|account is (set to )?private|only approved followers can see|"
    rb"follow this account to see)", re.IGNORECASE)
PRIVATE_ACCOUNT = "not public: private account"
_SHORT_TEXT = 2000  # characters of visible text under which a password page is a login page


@dataclass(frozen=True)
class PageKind:
    """The verdict on one response; ``reason`` is "" for public pages."""

    kind: str  # public | not public | blocked
    reason: str
    detail: str = ""  # what triggered the verdict, for the audit trail

    @property
    def public(self) -> bool:
        return self.kind == PUBLIC


def _header(headers: Any, name: str) -> str:
    """A header value from Scrapy ``Headers``, a mapping, or a list of pairs; "" if absent."""
    if headers is None:
        return ""
    wanted = name.lower()
    items: Iterable[tuple[Any, Any]]
    items = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if k.lower() != wanted:
            continue
        if isinstance(value, (list, tuple)):
            value = value[0] if value else b""
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return ""


def is_login_url(url: str) -> bool:
    """Does ``url`` look like a login / sign-in / SSO page?"""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    path = parts.path or "/"
    return bool(_LOGIN_PATH.search(path + ("?" if parts.query else ""))
                or _LOGIN_QUERY.search("?" + parts.query if parts.query else ""))


def _visible_text_length(body: bytes) -> int:
    return len(b" ".join(_TAGS.sub(b" ", body).split()))


def classify_page(status: int, headers: Any, body: bytes | None, url: str) -> PageKind:
    """Classify one response (see the module docstring for the rules)."""
    body = (body or b"")[:SCAN_BYTES]
    lowered = body.lower()
    if status in (401, 407):
        return PageKind(NOT_PUBLIC, LOGIN_WALL, f"status {status}")
    if 300 <= status < 400:
        location = _header(headers, "Location")
        if location and is_login_url(urljoin(url, location)):
            return PageKind(NOT_PUBLIC, LOGIN_WALL, f"status {status} redirect to {urljoin(url, location)}")
    for name, value in _CHALLENGE_HEADERS:
        got = _header(headers, name).lower()
        if got and (not value or value in got) and (status in _REFUSAL_STATUSES or value):
            return PageKind(BLOCKED, CHALLENGE, f"status {status} header {name}: {got}")
    markers = _CHALLENGE_MARKERS if status in _REFUSAL_STATUSES else _INTERSTITIAL_MARKERS
    for marker in markers:
        if marker in lowered:
            return PageKind(BLOCKED, CHALLENGE, f"status {status} marker {marker.decode()!r}")
    if status == 429:
        return PageKind(BLOCKED, RATE_LIMITED, "status 429")
    if _PASSWORD_INPUT.search(body):
        title = _TITLE.search(body)
        login_title = bool(title and _LOGIN_TITLE.search(title.group(1)))
        if (status in (401, 403) or is_login_url(url) or login_title
                or _visible_text_length(body) < _SHORT_TEXT):
            return PageKind(NOT_PUBLIC, LOGIN_WALL, f"status {status} password input")
    if status == 403:
        return PageKind(BLOCKED, FORBIDDEN, "status 403")
    if _PRIVATE_ACCOUNT.search(body) and _visible_text_length(body) < _SHORT_TEXT:
        return PageKind(NOT_PUBLIC, PRIVATE_ACCOUNT, f"status {status} private-account notice")
    return PageKind(PUBLIC, "", f"status {status}")
