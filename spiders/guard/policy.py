"""The guard's request-side rules: the policy one crawl runs under and the decisions on it.

Method, body, credentials, cookies, proxy, User-Agent, scripted browser actions, domain lists
and the network profile (through :mod:`spiders.addresses`), pure except for name resolution;
plus the size and time caps a request may only lower, and the policy of the crawl now running
(which the browser hook and the connection's name resolver read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scrapy.http import Request

from spiders.addresses import (
    AddressError,
    Decision,
    Resolver,
    decide_host,
    has_userinfo,
    parse_host,
)
from spiders.guard.sink import RequestSink
from spiders.pagekind import is_login_url

ALLOWED_METHODS = ("GET", "HEAD")
#: Browser page actions that type, click or submit: a person acting on the page, not reading it.
INTERACTIVE_PAGE_METHODS = frozenset({
    "click", "dblclick", "tap", "fill", "type", "press", "check", "uncheck", "select_option",
    "set_input_files", "set_checked", "drag_and_drop", "dispatch_event", "focus", "hover",
})
FORBIDDEN_HEADERS = ("cookie", "authorization", "proxy-authorization")


# -- domains -------------------------------------------------------------------------------------

def normalise_domains(domains: Iterable[str]) -> tuple[str, ...]:
    out = []
    for d in domains:
        d = str(d).strip().lower().lstrip("*").lstrip(".").rstrip(".")
        if d:
            out.append(d)
    return tuple(out)


def domain_matches(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or under one of them, on whole labels.

    ``example.com`` matches ``example.com`` and ``www.example.com``, never ``badexample.com``.
    """
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in normalise_domains(domains))


# -- the request-side decision (pure except for name resolution) -------------------------------

@dataclass
class GuardPolicy:
    """The rules one crawl runs under (from the procedure)."""

    profile: str = "public"
    user_agent: str = ""
    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    timeout: float = 0.0  # seconds; 0 = leave Scrapy's DOWNLOAD_TIMEOUT alone
    resolver: Resolver = field(default_factory=Resolver)

    def __post_init__(self) -> None:
        self.allow_domains = normalise_domains(self.allow_domains)
        self.deny_domains = normalise_domains(self.deny_domains)


def _header_names(request: Request) -> set[str]:
    return {(k.decode("latin-1") if isinstance(k, bytes) else str(k)).lower() for k in request.headers}


def static_refusal(request: Request, policy: GuardPolicy) -> str:
    """Every rule that needs no DNS; "" when none refuses. Sets the User-Agent if missing."""
    try:
        host = parse_host(request.url)
    except AddressError as exc:
        return exc.reason
    method = request.method.upper()
    if method not in ALLOWED_METHODS:
        return f"method: {method} not allowed"
    if request.body:
        return "form: request body not allowed (no form submission)"
    if has_userinfo(request.url):
        return "credentials: user info in URL not allowed"
    names = _header_names(request)
    for name in FORBIDDEN_HEADERS:
        if name in names:
            kind = "cookie" if name == "cookie" else "credentials"
            return f"{kind}: {name.title()} header not allowed"
    if getattr(request, "cookies", None):
        return "cookie: cookies not allowed"
    if request.meta.get("proxy"):
        return "proxy: not allowed"
    if policy.user_agent:
        ua = request.headers.get(b"User-Agent")
        if ua is None:
            request.headers[b"User-Agent"] = policy.user_agent
        elif ua.decode("latin-1") != policy.user_agent:
            return "user-agent: differs from the procedure's (no disguise)"
    elif not request.headers.get(b"User-Agent"):
        return "user-agent: none set (an honest User-Agent is required)"
    if request.meta.get("playwright"):
        for method_obj in request.meta.get("playwright_page_methods") or ():
            name = getattr(method_obj, "method", method_obj if isinstance(method_obj, str) else "")
            if isinstance(name, str) and name in INTERACTIVE_PAGE_METHODS:
                return f"browser: page action {name} not allowed"
    if policy.deny_domains and domain_matches(host.name, policy.deny_domains):
        return "domain: denied"
    if policy.allow_domains and not domain_matches(host.name, policy.allow_domains):
        return "domain: not in the allow list"
    if request.meta.get("redirect_urls") and is_login_url(request.url):
        return "not public: login wall (redirect to a login page)"
    return ""


def clamp_caps(request: Request, policy: GuardPolicy) -> None:
    """A request may ask for a smaller size or time cap, never a larger one (or none: 0)."""
    if policy.max_bytes > 0:
        asked = request.meta.get("download_maxsize")
        if not isinstance(asked, int) or asked <= 0 or asked > policy.max_bytes:
            request.meta["download_maxsize"] = policy.max_bytes
    if policy.timeout > 0:
        asked_t = request.meta.get("download_timeout")
        if not isinstance(asked_t, (int, float)) or asked_t <= 0 or asked_t > policy.timeout:
            request.meta["download_timeout"] = policy.timeout


def decide_request(request: Request, policy: GuardPolicy) -> Decision:
    """The full request-side decision, resolving names (blocking: call it off the reactor)."""
    reason = static_refusal(request, policy)
    if reason:
        return Decision(False, reason)
    return decide_host(parse_host(request.url), policy.profile, policy.resolver)


async def _off_reactor(fn: Any, *args: Any) -> Any:
    """Run blocking ``fn`` in a thread, under the asyncio reactor or a plain Twisted one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        from twisted.internet.threads import deferToThread

        return await deferToThread(fn, *args)
    return await asyncio.to_thread(fn, *args)


# -- the crawl now running ----------------------------------------------------------------------

@dataclass
class _ActivePolicy:
    policy: GuardPolicy | None = None
    sink: RequestSink | None = None


#: The policy of the crawl running in this process (crawls run one after another, DESIGN.md).
_ACTIVE = _ActivePolicy()
