"""The lawful-collection guard: every request the toolkit makes passes these rules, or is refused.

DESIGN.md invariant 2 (policy 261-1 IV.B.8.b, public content only) in code. A request is
refused, with a short stable reason recorded to the ``VETTING_REQUEST_SINK``, when it:

* is not ``http``/``https``, not GET/HEAD (``method: POST not allowed``), carries a body
  (a form submission), credentials in the URL, a Cookie / Authorization header or cookies,
  a proxy, a User-Agent other than the procedure's honest one, or scripted browser actions
  that type, click or submit;
* goes to a denied domain, or outside a non-empty allow list (suffix match on whole labels);
* goes to an address the network profile forbids, in any encoding, after resolving the name
  (every address; ANY refused address refuses) in a worker thread so the reactor never waits
  on DNS (:mod:`spiders.addresses`). Redirect hops are new requests that pass here again;
* is disallowed by robots.txt per RFC 9309 (:class:`LawfulRobotsTxtMiddleware`: a 4xx
  robots.txt allows all, a 5xx or unreachable one disallows all);
* is answered by a login wall or a block/challenge page (:mod:`spiders.pagekind`): the page is
  flagged in ``response.meta['vetting_page_kind']``, recorded as ``not public`` / ``blocked``
  and never retried, so the collector records the verdict and nothing works around it;
* would exceed the size cap (also after decompression: gzip bombs), the time cap, or the
  redirect cap.

Reason codes (stable prefix, then detail) are those of ``docs/architecture.md``; see
``docs/lawful-collection.md`` for the full list and for what happens with hostile input.

Wiring: :func:`guard_settings` returns the Scrapy settings (middlewares, caps, TLS
verification, Playwright hook) in one dict. The middlewares take plain values in ``__init__``
so they can be unit-tested without a crawler; ``from_crawler`` reads the settings.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scrapy import signals
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred

from spiders.addresses import (
    AddressError,
    Decision,
    Resolver,
    decide_host,
    has_userinfo,
    parse_host,
)
from spiders.pagekind import PageKind, classify_page, is_login_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "HEAD")
#: Browser page actions that type, click or submit: a person acting on the page, not reading it.
INTERACTIVE_PAGE_METHODS = frozenset({
    "click", "dblclick", "tap", "fill", "type", "press", "check", "uncheck", "select_option",
    "set_input_files", "set_checked", "drag_and_drop", "dispatch_event", "focus", "hover",
})
FORBIDDEN_HEADERS = ("cookie", "authorization", "proxy-authorization")
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least the first 500 KiB

_META_RECORDED = "_vetting_recorded"  # per attempt: has this attempt been recorded to the sink?
_META_APPROVED = "_vetting_approved"  # the URL the guard approved for this attempt
_META_ROBOTS_FETCH = "_vetting_robots_fetch"
PAGE_KIND_META = "vetting_page_kind"
REASON_META = "vetting_reason"  # the reason recorded for the attempt (what an errback reports)


class RequestSink(Protocol):
    """Where every allowed and refused request is reported (the engine's audit trail)."""

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None: ...


class GuardRefusal(IgnoreRequest):
    """A request the guard refused; ``str(exc)`` and ``exc.reason`` are the recorded reason."""

    def __init__(self, reason: str, recorded: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.recorded = recorded


# -- recording -----------------------------------------------------------------------------------

def record(sink: RequestSink | None, request: Request, allowed: bool, reason: str,
           status: int | None = None) -> None:
    """Report one attempt to the sink, once: later calls for the same attempt do nothing."""
    if request.meta.get(_META_RECORDED):
        return
    request.meta[_META_RECORDED] = True
    request.meta[REASON_META] = reason
    if sink is None:
        return
    try:
        sink.record_request(request.url, request.method, allowed, reason, status)
    except Exception:  # the audit trail failing must stop the crawl, not vanish
        logger.exception("request sink failed for %s", request.url)
        raise


class SinkRef:
    """Carries the sink through Scrapy's settings, which deep-copy their values: without this
    the crawler would record into a copy of the engine's context, not the context itself."""

    def __init__(self, sink: RequestSink | None):
        self.sink = sink

    def __deepcopy__(self, memo: dict[int, Any]) -> SinkRef:
        return self

    def __copy__(self) -> SinkRef:
        return self

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None:
        if self.sink is not None:
            self.sink.record_request(url, method, allowed, reason, status)


def _sink_from(crawler: Crawler) -> RequestSink | None:
    sink = crawler.settings.get("VETTING_REQUEST_SINK")
    if isinstance(sink, str):
        sink = load_object(sink)
    if isinstance(sink, SinkRef):
        return sink.sink
    return sink


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


# -- the middlewares -----------------------------------------------------------------------------

class LawfulGuardMiddleware:
    """First downloader middleware: the request-side rules and the address check.

    Runs before robots.txt (so a refused host never even gets its robots.txt fetched) and
    again for every redirect hop, retry and robots.txt fetch, because each is a new request
    through the downloader middlewares.
    """

    def __init__(self, profile: str = "public", user_agent: str = "", allow_domains: Iterable[str] = (),
                 deny_domains: Iterable[str] = (), sink: RequestSink | None = None,
                 resolver: Resolver | None = None, max_bytes: int = 5_000_000, max_redirects: int = 5,
                 timeout: float = 0.0):
        self.policy = GuardPolicy(profile=profile, user_agent=user_agent,
                                  allow_domains=tuple(allow_domains), deny_domains=tuple(deny_domains),
                                  max_bytes=max_bytes, max_redirects=max_redirects, timeout=timeout,
                                  resolver=resolver or Resolver())
        self.sink = sink

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulGuardMiddleware:
        s = crawler.settings
        mw = cls(profile=s.get("VETTING_NETWORK_PROFILE", "public"), user_agent=s.get("USER_AGENT", ""),
                 allow_domains=s.getlist("VETTING_ALLOW_DOMAINS"), deny_domains=s.getlist("VETTING_DENY_DOMAINS"),
                 sink=_sink_from(crawler), max_bytes=s.getint("DOWNLOAD_MAXSIZE"),
                 max_redirects=s.getint("REDIRECT_MAX_TIMES"), timeout=s.getfloat("DOWNLOAD_TIMEOUT"))
        _ACTIVE.policy = mw.policy
        _ACTIVE.sink = mw.sink
        if s.getbool("VETTING_GUARD_RESOLVER", True):
            from twisted.internet import reactor

            install_guarded_resolver(reactor)
        crawler.signals.connect(mw._spider_closed, signal=signals.spider_closed)
        return mw

    def _spider_closed(self) -> None:
        if _ACTIVE.policy is self.policy:
            _ACTIVE.policy = None
            _ACTIVE.sink = None

    async def process_request(self, request: Request) -> None:
        request.meta[_META_RECORDED] = False  # a new attempt (first try, redirect hop, retry)
        request.meta.pop(_META_APPROVED, None)
        request.meta.pop(PAGE_KIND_META, None)
        reason = static_refusal(request, self.policy)
        if not reason:
            host = parse_host(request.url)
            if host.ip is not None:
                reason = decide_host(host, self.policy.profile).reason
            else:
                decision = await _off_reactor(decide_host, host, self.policy.profile, self.policy.resolver)
                reason = decision.reason
        if reason:
            record(self.sink, request, False, reason)
            raise GuardRefusal(reason)
        clamp_caps(request, self.policy)
        request.meta[_META_APPROVED] = request.url


class LawfulWireMiddleware:
    """Last downloader middleware before the network: nothing unapproved leaves.

    Checks that the exact URL was approved by :class:`LawfulGuardMiddleware` (so a middleware
    in between cannot change it), removes nothing silently: a Cookie, Authorization or proxy
    added by another component after the guard is a refusal. Its ``process_exception`` is the
    first to see download errors, which it records with their reason code.
    """

    def __init__(self, user_agent: str = "", sink: RequestSink | None = None, max_bytes: int = 0):
        self.user_agent = user_agent
        self.sink = sink
        self.max_bytes = max_bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulWireMiddleware:
        s = crawler.settings
        return cls(user_agent=s.get("USER_AGENT", ""), sink=_sink_from(crawler), max_bytes=s.getint("DOWNLOAD_MAXSIZE"))

    def process_request(self, request: Request) -> None:
        reason = ""
        if request.meta.get(_META_APPROVED) != request.url:
            reason = "guard: request not approved by the lawful guard"
        elif request.method.upper() not in ALLOWED_METHODS:
            reason = f"method: {request.method.upper()} not allowed"
        elif request.body:
            reason = "form: request body not allowed (no form submission)"
        elif any(name in _header_names(request) for name in FORBIDDEN_HEADERS):
            reason = "credentials: Cookie/Authorization header added after the guard"
        elif request.meta.get("proxy"):
            reason = "proxy: not allowed"
        elif self.user_agent and (request.headers.get(b"User-Agent") or b"").decode("latin-1") != self.user_agent:
            reason = "user-agent: differs from the procedure's (no disguise)"
        if reason:
            record(self.sink, request, False, reason)
            raise GuardRefusal(reason)

    def process_exception(self, request: Request, exception: Exception) -> None:
        if isinstance(exception, GuardRefusal):
            return
        record(self.sink, request, False, exception_reason(exception, request, self.max_bytes))
        return


class LawfulResponseMiddleware:
    """Classifies every response (after decompression, before retries) and records it.

    Login walls and block pages are flagged in ``request.meta['vetting_page_kind']`` (a
    :class:`~spiders.pagekind.PageKind`, also reachable as ``response.meta[...]``), get
    ``dont_retry`` so nothing retries around them, and are recorded as refused with their
    reason and status. Public responses are recorded as allowed with their status.
    """

    def __init__(self, sink: RequestSink | None = None):
        self.sink = sink

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulResponseMiddleware:
        return cls(sink=_sink_from(crawler))

    def process_response(self, request: Request, response: Response) -> Response:
        kind = classify_page(response.status, response.headers, response.body, response.url)
        request.meta[PAGE_KIND_META] = kind
        if kind.public:
            record(self.sink, request, True, f"fetched: status {response.status}", response.status)
        else:
            request.meta["dont_retry"] = True
            record(self.sink, request, False, kind.reason, response.status)
        return response


class LawfulRedirectMiddleware(RedirectMiddleware):
    """Scrapy's redirects, with each hop and the redirect cap recorded.

    A followed redirect is recorded as allowed (``redirect: to URL``); the new request then
    passes the whole guard again (address, domain, robots.txt), so a redirect into a refused
    place is refused at the hop, before any socket is opened. Over ``REDIRECT_MAX_TIMES``:
    ``redirects: over N``.
    """

    sink: RequestSink | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulRedirectMiddleware:
        mw = super().from_crawler(crawler)
        mw.sink = _sink_from(crawler)
        return mw

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        try:
            new = super()._redirect(redirected, request, reason)
        except IgnoreRequest as exc:
            why = f"redirects: over {self.max_redirect_times}"
            record(self.sink, request, False, why, _status_of(reason))
            raise GuardRefusal(why) from exc
        kind = classify_page(_status_of(reason) or 302, {"Location": redirected.url}, b"", request.url)
        record(self.sink, request, True, f"redirect: to {redirected.url}"
               + (" (login page)" if not kind.public else ""), _status_of(reason))
        return new


def _status_of(reason: Any) -> int | None:
    return reason if isinstance(reason, int) else None


class LawfulHttpCompressionMiddleware(HttpCompressionMiddleware):
    """Scrapy's decompression (which stops at ``DOWNLOAD_MAXSIZE`` while inflating), with the
    compression-bomb refusal recorded as ``size: over N bytes (decompressed)``."""

    sink: RequestSink | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulHttpCompressionMiddleware:
        mw = super().from_crawler(crawler)
        mw.sink = _sink_from(crawler)
        return mw

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            limit = request.meta.get("download_maxsize", self._max_size)
            why = f"size: over {limit} bytes (decompressed)"
            record(self.sink, request, False, why, response.status)
            raise GuardRefusal(why) from exc


class LawfulRobotsTxtMiddleware(RobotsTxtMiddleware):
    """robots.txt per RFC 9309, always on, with refusals recorded.

    Differences from Scrapy's middleware: it cannot be switched off by ``ROBOTSTXT_OBEY`` or a
    spider's ``dont_obey_robotstxt`` (only its own robots.txt fetches skip the check); an
    unreachable robots.txt (5xx, network error, refused) means complete disallow, a 4xx one
    means no restrictions (RFC 9309 2.3.1.3-4); only the first 500 KiB are parsed.
    """

    def __init__(self, crawler: Crawler, sink: RequestSink | None = None):
        self._default_useragent = crawler.settings["USER_AGENT"]
        self._robotstxt_useragent = crawler.settings["ROBOTSTXT_USER_AGENT"]
        self.crawler = crawler
        self._stats = crawler.stats
        self._parsers: dict[str, Any] = {}
        self._unreachable: dict[str, str] = {}
        self._parserimpl = load_object(crawler.settings.get("ROBOTSTXT_PARSER"))
        build_from_crawler(self._parserimpl, self.crawler, b"")
        self.sink = sink

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LawfulRobotsTxtMiddleware:
        return cls(crawler, _sink_from(crawler))

    async def process_request(self, request: Request, spider: Any = None) -> None:
        if request.meta.get(_META_ROBOTS_FETCH):
            return
        netloc = urlparse_cached(request).netloc
        rp = await self.robot_parser(request)
        if netloc in self._unreachable:
            cause = self._unreachable[netloc]
            if cause.startswith("status "):
                why = f"robots.txt: unreachable ({cause}), complete disallow"
            else:  # the site itself cannot be reached safely: say why first (tls:, timeout, ...)
                why = f"{cause} (robots.txt unreachable, complete disallow)"
            record(self.sink, request, False, why)
            raise GuardRefusal(why)
        if rp is None:
            return
        useragent = self._robotstxt_useragent or request.headers.get(b"User-Agent", self._default_useragent)
        if not rp.allowed(request.url, useragent):
            if self._stats:
                self._stats.inc_value("robotstxt/forbidden")
            record(self.sink, request, False, "robots.txt: disallowed")
            raise GuardRefusal("robots.txt: disallowed")

    async def robot_parser(self, request: Request) -> Any:
        url = urlparse_cached(request)
        netloc = url.netloc
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robotsreq = Request(f"{url.scheme}://{netloc}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                                meta={"dont_obey_robotstxt": True, _META_ROBOTS_FETCH: True},
                                callback=NO_CALLBACK)
            parser: Any = None
            try:
                assert self.crawler.engine is not None
                resp = await self.crawler.engine.download_async(robotsreq)
                if 200 <= resp.status < 300:
                    parser = build_from_crawler(self._parserimpl, self.crawler, resp.body[:ROBOTS_MAX_BYTES])
                elif resp.status >= 500:
                    self._unreachable[netloc] = f"status {resp.status}"
                # 3xx left after redirects and 4xx: "unavailable", no restrictions (RFC 9309 2.3.1.3)
            except Exception as exc:  # noqa: BLE001 - any failure: "unreachable" (RFC 9309 2.3.1.4)
                self._unreachable[netloc] = exception_reason(exc, robotsreq, 0)
            except BaseException:  # cancelled: later requests must not wait forever on this host
                self._unreachable[netloc] = "robots.txt: fetch cancelled"
                raise
            finally:
                dfd = self._parsers[netloc]
                self._parsers[netloc] = parser
                if isinstance(dfd, Deferred) and not dfd.called:
                    dfd.callback(parser)
        pending = self._parsers[netloc]
        if isinstance(pending, Deferred):
            # A Deferred hands its result to the first awaiter only (asFuture's callback returns
            # None for the next); every waiter reads the parser stored before the callback fired.
            await maybe_deferred_to_future(pending)
        return self._parsers[netloc]


# -- errors --------------------------------------------------------------------------------------

def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.append(cur)
        for attr in ("__cause__", "__context__"):
            nxt = getattr(cur, attr, None)
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        for sub in getattr(cur, "reasons", None) or []:  # twisted ResponseNeverReceived & co.
            value = getattr(sub, "value", sub)
            if isinstance(value, BaseException):
                todo.append(value)
        for arg in getattr(cur, "args", ()):
            if isinstance(arg, BaseException):
                todo.append(arg)
            elif isinstance(arg, list):
                todo.extend(getattr(a, "value", a) for a in arg if isinstance(getattr(a, "value", a), BaseException))
    return seen


def exception_reason(exc: BaseException, request: Request | None = None, max_bytes: int = 0) -> str:
    """A short stable reason for a download error (timeout, size cap, DNS, TLS, refused...)."""
    if isinstance(exc, GuardRefusal):
        return exc.reason
    chain = _exception_chain(exc)
    names = " ".join(type(e).__name__ for e in chain)
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    limit = (request.meta.get("download_maxsize") if request is not None else None) or max_bytes
    # Scrapy's HTTP/1.1 handler cancels a streamed body past DOWNLOAD_MAXSIZE and reports a bare
    # DownloadCancelledError (a Content-Length over the cap gets a message naming the max size).
    bare_cancel = "DownloadCancelledError" in names and not str(exc).strip()
    if bare_cancel or "max size" in lowered or "maxsize" in lowered or "download_maxsize" in lowered:
        return f"size: over {limit} bytes" if limit else "size: over the download cap"
    if "Timeout" in names or "took longer than" in lowered or "timed out" in lowered:
        return "timeout"
    if "max redirections" in lowered:
        return "redirects: over the limit"
    tls_markers = ("certificate verify failed", "ssl routines", "tlsv1 alert", "sslv3 alert",
                   "wrong version number", "handshake failure", "certificate has expired")
    if "SSL" in names or "VerificationError" in names or any(m in lowered for m in tls_markers):
        if "mismatch" in lowered:
            return "tls: certificate does not match the host name"
        match = re.search(r"certificate verify failed[^'\")\]]*", text, re.IGNORECASE)
        return "tls: " + (match.group(0).strip() if match else "handshake failed")
    if "DNSLookupError" in names or "CannotResolveHost" in names:
        return "dns: lookup failed"
    if "ConnectionRefused" in names:
        return "connection refused"
    if isinstance(exc, IgnoreRequest):
        return str(exc) or "refused"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"error: {type(exc).__name__}" + (f": {first[:200]}" if first else "")


def failure_reason(failure: Failure) -> str:
    """The recorded reason for a spider errback's failure (see :func:`record_failure`)."""
    request = getattr(failure, "request", None)
    if isinstance(failure.value, GuardRefusal):
        return failure.value.reason
    if request is not None and request.meta.get(_META_RECORDED) and request.meta.get(REASON_META):
        return str(request.meta[REASON_META])  # what the middlewares recorded for this attempt
    return exception_reason(failure.value, request)


def record_failure(failure: Failure, sink: RequestSink | None) -> str:
    """Spider errback helper: turn a download error into a recorded reason and return it.

    Guard refusals and errors the middlewares already recorded are not recorded twice; an
    ``HttpError`` (a non-2xx response the spider did not ask for) is recorded with the page's
    classification when it is a wall or block page.
    """
    request = getattr(failure, "request", None)
    value = failure.value
    response = getattr(value, "response", None)
    if response is not None:
        kind = response.meta.get(PAGE_KIND_META) if hasattr(response, "meta") else None
        if not isinstance(kind, PageKind):
            kind = classify_page(response.status, response.headers, response.body, response.url)
        reason = kind.reason or f"status {response.status}"
    else:
        reason = failure_reason(failure)
    if request is not None and not (isinstance(value, GuardRefusal) and value.recorded):
        record(sink, request, False, reason, getattr(response, "status", None))
    return reason


# -- the browser (scrapy-playwright) -------------------------------------------------------------

@dataclass
class _ActivePolicy:
    policy: GuardPolicy | None = None
    sink: RequestSink | None = None


#: The policy of the crawl running in this process (crawls run one after another, DESIGN.md).
_ACTIVE = _ActivePolicy()


async def playwright_abort_request(playwright_request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: the guard's rules for every request the browser makes.

    Subresources (images, scripts, XHR) of a rendered page are not Scrapy requests; this hook
    applies the method, scheme, domain and address rules to them too and records each one.
    Without an active guard policy every network request is aborted.
    """
    url: str = playwright_request.url
    method = str(playwright_request.method).upper()
    if url.startswith(("data:", "blob:", "about:")):
        return False
    active = _ACTIVE.policy
    if active is None:
        return True
    reason = ""
    if method not in ALLOWED_METHODS:
        reason = f"method: {method} not allowed"
    else:
        try:
            host = parse_host(url)
        except AddressError as exc:
            reason = exc.reason
        else:
            if has_userinfo(url):
                reason = "credentials: user info in URL not allowed"
            elif active.deny_domains and domain_matches(host.name, active.deny_domains):
                reason = "domain: denied"
            elif active.allow_domains and not domain_matches(host.name, active.allow_domains):
                reason = "domain: not in the allow list"
            else:
                reason = (await _off_reactor(decide_host, host, active.profile, active.resolver)).reason
    sink = _ACTIVE.sink
    if sink is not None and (reason or not _is_main_navigation(playwright_request)):
        # (an allowed main-frame navigation is the Scrapy request itself, recorded with its status)
        sink.record_request(url, method, not reason, reason or "browser: subresource", None)
    return bool(reason)


def _is_main_navigation(playwright_request: Any) -> bool:
    try:
        return bool(playwright_request.is_navigation_request()
                    and playwright_request.frame.parent_frame is None)
    except Exception:  # noqa: BLE001 - service-worker requests have no frame
        return False


# -- the browser's own network (PAC) --------------------------------------------------------------

#: Where the browser sends what it must not fetch: a proxy on the discard port, where nothing
#: listens, so the request fails without leaving the machine.
BLOCKING_PROXY = "PROXY 127.0.0.1:9"
_PAC_REFUSED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "168.63.129.16/32",
    "::/127", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)
_PAC_TEMPLATE = """
var PROFILE = %(profile)s, ALLOW = %(allow)s, DENY = %(deny)s, REFUSED = %(refused)s;
var BLOCK = %(block)s;
function under(h, d) { return h == d || dnsDomainIs(h, "." + d); }
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  var i, j;
  for (i = 0; i < DENY.length; i++) if (under(host, DENY[i])) return BLOCK;
  if (ALLOW.length) {
    var ok = false;
    for (i = 0; i < ALLOW.length; i++) if (under(host, ALLOW[i])) ok = true;
    if (!ok) return BLOCK;
  }
  var literal = /^[0-9.]+$/.test(host) || host.indexOf(":") >= 0;
  var ips;
  if (host == "localhost" || dnsDomainIs(host, ".localhost")) ips = ["127.0.0.1"];
  else if (PROFILE == "loopback" && !literal) return BLOCK;
  else {
    var resolved = dnsResolveEx(host);
    if (!resolved) return BLOCK;
    ips = resolved.split(";");
  }
  for (i = 0; i < ips.length; i++) {
    var ip = ips[i];
    if (!ip) continue;
    if (PROFILE == "loopback") {
      if (!(isInNetEx(ip, "127.0.0.0/8") || isInNetEx(ip, "::1/128") || isInNetEx(ip, "::ffff:127.0.0.0/104")))
        return BLOCK;
    } else {
      for (j = 0; j < REFUSED.length; j++) if (isInNetEx(ip, REFUSED[j])) return BLOCK;
    }
  }
  return "DIRECT";
}
"""


def browser_pac(profile: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> str:
    """A proxy auto-config script applying the profile and domain lists inside Chromium.

    Chromium consults it for every request, including each hop of a redirect it follows by
    itself (which Playwright's routing, and so :func:`playwright_abort_request`, never sees).
    Refused requests go to :data:`BLOCKING_PROXY` and fail. Stricter than the Python side on
    IPv6 embeddings: all of 6to4, Teredo and NAT64 are refused.
    """
    import json

    return _PAC_TEMPLATE % {
        "profile": json.dumps(profile), "allow": json.dumps(list(normalise_domains(allow))),
        "deny": json.dumps(list(normalise_domains(deny))), "refused": json.dumps(list(_PAC_REFUSED)),
        "block": json.dumps(BLOCKING_PROXY),
    }


def browser_launch_args(profile: str, allow: Iterable[str] = (), deny: Iterable[str] = (),
                        user_agent: str = "") -> list[str]:
    """Chromium flags that route every browser request through :func:`browser_pac`
    (``<-loopback>`` removes Chromium's implicit proxy bypass for loopback, so the ``public``
    profile refuses 127.0.0.1 in the browser too), and give every request the procedure's
    User-Agent (scrapy-playwright sets it only on the requests it routes)."""
    import base64

    pac = base64.b64encode(browser_pac(profile, allow, deny).encode()).decode()
    args = [f"--proxy-pac-url=data:application/x-ns-proxy-autoconfig;base64,{pac}",
            "--proxy-bypass-list=<-loopback>"]
    if user_agent:
        args.append(f"--user-agent={user_agent}")
    return args


# -- the connection's own name resolution --------------------------------------------------------

def _resolver_interfaces() -> tuple[Any, Any]:
    from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver

    return IHostnameResolver, IResolutionReceiver


_IHostnameResolver, _IResolutionReceiver = _resolver_interfaces()


class _FilteringReceiver:
    """Collects a resolution and passes it on only if every address is allowed."""

    def __init__(self, receiver: Any, host: str, policy: GuardPolicy):
        self.receiver = receiver
        self.host = host
        self.policy = policy
        self.addresses: list[Any] = []

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        from spiders.addresses import decide_address

        refused = [a for a in self.addresses
                   if not decide_address(str(getattr(a, "host", "")).split("%", 1)[0], self.policy.profile).allowed]
        if refused:
            logger.warning("guard: %s resolved at connect time to refused %s; not connecting",
                           self.host, ", ".join(str(a.host) for a in refused))
        else:
            for address in self.addresses:
                self.receiver.addressResolved(address)
        self.receiver.resolutionComplete()


class GuardedNameResolver:
    """The reactor's name resolver, filtered by the active crawl's network profile.

    The guard decides on the addresses *it* resolved; Twisted then resolves the name again to
    connect. A DNS server that answers differently the second time (DNS rebinding) could send
    the connection to 169.254.169.254. Installed on the reactor by the guard, this filter makes
    the connection's own resolution obey the same profile: if any address is refused, none is
    returned and the download fails as a DNS error. With no crawl active it passes through.
    """

    def __init__(self, wrapped: Any):
        self.wrapped = wrapped

    def resolveHostName(self, resolutionReceiver: Any, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        policy = _ACTIVE.policy
        receiver = resolutionReceiver if policy is None else _FilteringReceiver(resolutionReceiver, hostName, policy)
        return self.wrapped.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)


from zope.interface import classImplements as _classImplements

_classImplements(GuardedNameResolver, _IHostnameResolver)
_classImplements(_FilteringReceiver, _IResolutionReceiver)


def install_guarded_resolver(reactor: Any) -> bool:
    """Wrap ``reactor.nameResolver`` once; True if it is (now) guarded."""
    current = getattr(reactor, "nameResolver", None)
    if current is None or not hasattr(reactor, "installNameResolver"):
        return False
    if not isinstance(current, GuardedNameResolver):
        reactor.installNameResolver(GuardedNameResolver(current))
    return True


# -- TLS -----------------------------------------------------------------------------------------

def _tls_imports() -> tuple[Any, Any, Any]:
    from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
    from twisted.internet._sslverify import IOpenSSLTrustRoot
    from twisted.internet.ssl import optionsForClientTLS

    return _ScrapyClientContextFactory, IOpenSSLTrustRoot, optionsForClientTLS


_BaseContextFactory, _IOpenSSLTrustRoot, _optionsForClientTLS = _tls_imports()


class CAFileTrustRoot:
    """Trust the certificates of one PEM bundle (certifi's by default, or the agency's own)."""

    def __init__(self, ca_file: str):
        self.ca_file = ca_file

    def _addCACertsToContext(self, context: Any) -> None:
        context.load_verify_locations(self.ca_file)


from zope.interface import classImplements

classImplements(CAFileTrustRoot, _IOpenSSLTrustRoot)


def default_ca_file() -> str:
    import certifi

    return certifi.where()


class VerifyingContextFactory(_BaseContextFactory):  # type: ignore[misc,valid-type]
    """``DOWNLOADER_CLIENTCONTEXTFACTORY`` that always verifies the certificate chain and the
    host name (Scrapy's default does neither). Trust: ``VETTING_TLS_CA_FILE`` if set, else
    certifi's Mozilla bundle."""

    ca_file: str = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> VerifyingContextFactory:
        factory = super().from_crawler(crawler, *args, **kwargs)
        factory.ca_file = crawler.settings.get("VETTING_TLS_CA_FILE") or default_ca_file()
        return factory

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        ca_file = self.ca_file or default_ca_file()
        if not Path(ca_file).is_file():
            raise OSError(f"tls: CA file {ca_file} does not exist")
        return _optionsForClientTLS(hostname=hostname.decode("ascii"), trustRoot=CAFileTrustRoot(ca_file),
                                    extraCertificateOptions=self._get_cert_options_kwargs())


# -- settings ------------------------------------------------------------------------------------

DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    "spiders.guard.LawfulGuardMiddleware": 40,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "spiders.guard.LawfulRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "spiders.guard.LawfulResponseMiddleware": 585,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "spiders.guard.LawfulHttpCompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "spiders.guard.LawfulRedirectMiddleware": 600,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": None,
    "spiders.guard.LawfulWireMiddleware": 990,
}


def robots_token(user_agent: str) -> str:
    """The product token of a User-Agent (``Agency-Vetting/1.0 (+url)`` -> ``Agency-Vetting``)."""
    token = user_agent.strip().split("/", 1)[0].split()[0] if user_agent.strip() else ""
    return re.sub(r"[^A-Za-z0-9_-]", "", token)


def guard_settings(profile: str, user_agent: str, allow: Iterable[str], deny: Iterable[str],
                   sink: RequestSink | None, limits: Mapping[str, Any],
                   launch_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a crawl needs to run under the guard, as Scrapy settings (merge at a priority
    above the project's, e.g. ``settings.setdict(guard_settings(...), priority="cmdline")``).

    ``limits``: ``max_bytes``, ``timeout_seconds``, ``max_redirects``, ``delay_seconds``,
    ``concurrency_per_domain`` (all optional; defaults 5 MB, 30 s, 5, 1 s, 2), and optionally
    ``warn_bytes`` and ``ca_file`` (trust store for TLS verification).

    ``launch_options`` (Playwright's, e.g. ``spiders.browser.launch_options()``): when given,
    ``PLAYWRIGHT_LAUNCH_OPTIONS`` is returned with :func:`browser_launch_args` appended, so the
    browser obeys the same profile and domain lists. ``VETTING_BROWSER_ARGS`` is always returned.
    """
    allow, deny = list(allow), list(deny)
    if profile not in ("public", "loopback"):
        raise ValueError(f"unknown network profile {profile!r}")
    if not user_agent.strip():
        raise ValueError("an honest User-Agent naming the agency and a contact is required")
    max_bytes = int(limits.get("max_bytes", 5_000_000))
    settings: dict[str, Any] = {
        "VETTING_NETWORK_PROFILE": profile,
        "VETTING_ALLOW_DOMAINS": list(allow),
        "VETTING_DENY_DOMAINS": list(deny),
        "VETTING_REQUEST_SINK": SinkRef(sink),
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": True,
        "ROBOTSTXT_USER_AGENT": robots_token(user_agent),
        "COOKIES_ENABLED": False,
        "HTTPPROXY_ENABLED": False,
        "METAREFRESH_ENABLED": False,
        "REDIRECT_ENABLED": True,
        "DOWNLOAD_MAXSIZE": max_bytes,
        "DOWNLOAD_WARNSIZE": int(limits.get("warn_bytes", max(1, max_bytes // 2))),
        "DOWNLOAD_TIMEOUT": float(limits.get("timeout_seconds", 30)),
        "REDIRECT_MAX_TIMES": int(limits.get("max_redirects", 5)),
        "DOWNLOAD_DELAY": float(limits.get("delay_seconds", 1.0)),
        "CONCURRENT_REQUESTS_PER_DOMAIN": int(limits.get("concurrency_per_domain", 2)),
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        "DOWNLOAD_VERIFY_CERTIFICATES": True,
        "DOWNLOADER_CLIENTCONTEXTFACTORY": "spiders.guard.VerifyingContextFactory",
        "DOWNLOADER_MIDDLEWARES": dict(DOWNLOADER_MIDDLEWARES),
        "PLAYWRIGHT_ABORT_REQUEST": "spiders.guard.playwright_abort_request",
    }
    if limits.get("ca_file"):
        settings["VETTING_TLS_CA_FILE"] = str(limits["ca_file"])
    browser_args = browser_launch_args(profile, allow, deny, user_agent)
    settings["VETTING_BROWSER_ARGS"] = browser_args
    if launch_options is not None:
        options = dict(launch_options)
        options["args"] = [a for a in options.get("args", [])
                           if not a.startswith(("--proxy-", "--user-agent"))] + browser_args
        options.pop("proxy", None)  # no proxy other than the guard's
        settings["PLAYWRIGHT_LAUNCH_OPTIONS"] = options
    return settings


__all__ = [
    "DOWNLOADER_MIDDLEWARES",
    "PAGE_KIND_META",
    "REASON_META",
    "GuardPolicy",
    "GuardRefusal",
    "GuardedNameResolver",
    "LawfulGuardMiddleware",
    "LawfulHttpCompressionMiddleware",
    "LawfulRedirectMiddleware",
    "LawfulResponseMiddleware",
    "LawfulRobotsTxtMiddleware",
    "LawfulWireMiddleware",
    "RequestSink",
    "SinkRef",
    "VerifyingContextFactory",
    "clamp_caps",
    "decide_request",
    "domain_matches",
    "exception_reason",
    "failure_reason",
    "guard_settings",
    "install_guarded_resolver",
    "playwright_abort_request",
    "record",
    "record_failure",
    "static_refusal",
]
