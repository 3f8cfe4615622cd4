"""The guard's downloader middlewares (robots.txt aside: :mod:`spiders.guard.robots`).

:class:`LawfulGuardMiddleware` first (the request-side rules and the address check),
:class:`LawfulWireMiddleware` last before the network (nothing unapproved leaves),
:class:`LawfulResponseMiddleware` (login walls and block pages), and Scrapy's redirect and
decompression middlewares with their caps recorded. They take plain values in ``__init__``
so they can be unit-tested without a crawler; ``from_crawler`` reads the settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

from spiders.addresses import Resolver, decide_host, parse_host
from spiders.exchange import keep_hop, keep_received
from spiders.guard.policy import (
    _ACTIVE,
    ALLOWED_METHODS,
    FORBIDDEN_HEADERS,
    GuardPolicy,
    _header_names,
    _off_reactor,
    clamp_caps,
    static_refusal,
)
from spiders.guard.reasons import exception_reason
from spiders.guard.resolver import install_guarded_resolver
from spiders.guard.sink import (
    _META_APPROVED,
    _META_RECORDED,
    PAGE_KIND_META,
    GuardRefusal,
    RequestSink,
    _sink_from,
    record,
)
from spiders.pagekind import classify_page

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

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

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Any:
        result = super().process_response(request, response)
        if isinstance(result, Request) and result is not request:
            keep_hop(request, response, result)  # the 3xx as received, for the WARC
        return result

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
        keep_received(request, response)  # the payload as the server sent it, for the WARC
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            limit = request.meta.get("download_maxsize", self._max_size)
            why = f"size: over {limit} bytes (decompressed)"
            record(self.sink, request, False, why, response.status)
            raise GuardRefusal(why) from exc
