"""Per-host politeness shared by several processes: the guard's rate limit across workers.

Scrapy's own ``DOWNLOAD_DELAY`` and ``CONCURRENT_REQUESTS_PER_DOMAIN`` hold inside one
process. When several processes collect at once (job-queue workers, on one machine or many),
:class:`SharedPacingMiddleware` makes the procedure's per-host delay and concurrency hold for
all of them together: before each request leaves, it reserves a slot for the request's host
from a :class:`HostPacer` (the engine gives one backed by the shared database), waits until the
slot's start time, and frees the slot when the response (or the error) comes back.

It is off unless the ``VETTING_HOST_PACER`` setting carries a pacer; :func:`pacing_settings`
turns it on. It sits just before :class:`~spiders.guard.LawfulWireMiddleware`, so that every
attempt (robots.txt, redirect hops, retries, browser renders) is paced, and as close to the
wire as a middleware can be. The process's own delay is then 0: the shared slot is the delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response
from scrapy.utils.httpobj import urlparse_cached

from spiders.guard.policy import _off_reactor

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger("spiders.guard.pacing")

LEASE_META = "_vetting_host_lease"
#: How often a request waiting for a free slot (all of the host's concurrency in use) asks again.
FULL_POLL_SECONDS = 0.05
ORDER = 980  # after every other guard middleware, before LawfulWireMiddleware (990)
#: Added to the delay between two reservations: a request reaches the wire a little after its
#: slot starts (thread hand-off, scheduling), by an amount that varies; the margin absorbs the
#: variation so the host sees at least the procedure's delay. More polite, never less.
JITTER_MARGIN = 0.03
#: A request that wakes up later than the margin past its slot gives the slot up and takes a new
#: one, at most this many times.
MAX_LATE_RETRIES = 3


class HostPacer(Protocol):
    """Shared slots per host. ``reserve`` is atomic across every process using the pacer."""

    def reserve(self, host: str, delay: float, concurrency: int, lease_seconds: float) -> tuple[str, float] | None:
        """A lease id and the seconds to wait before sending; None if the host's concurrency
        is in use (ask again later). The next reservation for the host starts ``delay`` later."""

    def release(self, lease: str) -> None:
        """The request is over: its concurrency slot is free (a lease also lapses by itself)."""


class PacerRef:
    """Carries the pacer through Scrapy's settings, which deep-copy their values."""

    def __init__(self, pacer: HostPacer):
        self.pacer = pacer

    def __deepcopy__(self, memo: dict[int, Any]) -> PacerRef:
        return self

    def __copy__(self) -> PacerRef:
        return self


def pacing_settings(pacer: HostPacer, delay: float, concurrency: int, timeout: float,
                    middlewares: dict[str, int | None]) -> dict[str, Any]:
    """Settings that switch shared pacing on (merge at ``cmdline`` priority after the guard's)."""
    return {
        "VETTING_HOST_PACER": PacerRef(pacer),
        "VETTING_HOST_DELAY": float(delay) + JITTER_MARGIN if delay > 0 else 0.0,
        "VETTING_HOST_CONCURRENCY": int(concurrency),
        # A lease outlives any request: the download timeout twice (a browser render is a second
        # download), plus a margin; a worker that dies mid-request frees its slot after this.
        "VETTING_HOST_LEASE_SECONDS": 2 * float(timeout) + 30.0,
        "DOWNLOAD_DELAY": 0,
        "DOWNLOADER_MIDDLEWARES": dict(middlewares, **{"spiders.guard.pacing.SharedPacingMiddleware": ORDER}),
    }


async def _sleep(seconds: float) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        await deferLater(reactor, seconds, lambda: None)
        return
    await asyncio.sleep(seconds)


class SharedPacingMiddleware:
    """Wait for the host's shared slot before each request; free it when the request ends."""

    def __init__(self, pacer: HostPacer, delay: float, concurrency: int, lease_seconds: float):
        self.pacer = pacer
        self.delay = delay
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPacingMiddleware:
        s = crawler.settings
        ref = s.get("VETTING_HOST_PACER")
        if not isinstance(ref, PacerRef):
            raise NotConfigured("no shared host pacer")
        return cls(ref.pacer, s.getfloat("VETTING_HOST_DELAY"), s.getint("VETTING_HOST_CONCURRENCY", 1),
                   s.getfloat("VETTING_HOST_LEASE_SECONDS", 90.0))

    async def process_request(self, request: Request) -> None:
        self._release(request)  # a retry or redirect of a request that held a slot
        host = urlparse_cached(request).hostname or ""
        for attempt in range(MAX_LATE_RETRIES + 1):
            lease, wait = await self._reserve(host)
            due = time.monotonic() + wait
            request.meta[LEASE_META] = lease
            if wait > 0:
                await _sleep(wait)
            if attempt == MAX_LATE_RETRIES or time.monotonic() - due <= JITTER_MARGIN:
                return
            # Woke up late (the process was busy): sent now, it could follow the next slot's
            # request too closely. Give the slot up and take a new one.
            self._release(request)

    async def _reserve(self, host: str) -> tuple[str, float]:
        while True:
            got = await _off_reactor(self.pacer.reserve, host, self.delay, self.concurrency, self.lease_seconds)
            if got is not None:
                return got
            await _sleep(FULL_POLL_SECONDS)  # the host's concurrency is in use: ask again

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        self._release(request)

    def _release(self, request: Request) -> None:
        lease = request.meta.pop(LEASE_META, None)
        if lease is None:
            return
        from twisted.internet.threads import deferToThread

        deferToThread(self.pacer.release, lease).addErrback(
            lambda f: logger.warning("could not free host slot %s: %s", lease, f.getErrorMessage()))
