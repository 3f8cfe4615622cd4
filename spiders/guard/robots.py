"""robots.txt under the guard: RFC 9309, always on, refusals recorded; and the robots.txt
product token of the procedure's User-Agent."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler, load_object
from twisted.internet.defer import Deferred

from spiders.guard.reasons import exception_reason
from spiders.guard.sink import _META_ROBOTS_FETCH, GuardRefusal, RequestSink, _sink_from, record

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least the first 500 KiB


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
        if netloc not in self._parsers and _reuse(self, url.scheme, netloc):
            return self._parsers[netloc]
        if netloc not in self._parsers:
            self._parsers[netloc] = Deferred()
            robotsreq = Request(f"{url.scheme}://{netloc}/robots.txt", priority=self.DOWNLOAD_PRIORITY,
                                meta={"dont_obey_robotstxt": True, _META_ROBOTS_FETCH: True},
                                callback=NO_CALLBACK)
            parser: Any = None
            try:
                assert self.crawler.engine is not None
                resp = await self.crawler.engine.download_async(robotsreq)
                _keep(self, url.scheme, netloc, resp.status, resp.body[:ROBOTS_MAX_BYTES])
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


# -- reuse within a day (the sink may offer a ``robots_cache``: see vetting/engine/daycache.py) ----------
def _reuse(mw: LawfulRobotsTxtMiddleware, scheme: str, netloc: str) -> bool:
    """Take this host's robots.txt from the sink's cache, if it has one from today."""
    cache = getattr(mw.sink, "robots_cache", None)
    hit = cache.get(f"{scheme}://{netloc}") if cache is not None else None
    if hit is None:
        return False
    status, body = hit
    mw._parsers[netloc] = (build_from_crawler(mw._parserimpl, mw.crawler, body[:ROBOTS_MAX_BYTES])
                           if 200 <= status < 300 else None)  # a kept 4xx: no restrictions
    return True


def _keep(mw: LawfulRobotsTxtMiddleware, scheme: str, netloc: str, status: int, body: bytes) -> None:
    cache = getattr(mw.sink, "robots_cache", None)
    if cache is not None:
        cache.put(f"{scheme}://{netloc}", status, body)


def robots_token(user_agent: str) -> str:
    """The product token of a User-Agent (``Agency-Vetting/1.0 (+url)`` -> ``Agency-Vetting``)."""
    token = user_agent.strip().split("/", 1)[0].split()[0] if user_agent.strip() else ""
    return re.sub(r"[^A-Za-z0-9_-]", "", token)
