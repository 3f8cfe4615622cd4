"""Running async work inside Twisted's asyncio reactor, once per process.

Scrapy needs Twisted's reactor, scrapy-playwright needs the asyncio flavour of it, and a
reactor cannot be restarted. So a command that collects (``vet run``, ``vet demo``) runs ONE
coroutine in one reactor, and every step of every case is awaited in turn inside it
(``AsyncCrawlerRunner``), never ``CrawlerProcess.start()`` per step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc for at most ``arenas`` malloc arenas (``mallopt(M_ARENA_MAX)``).

    A crawl runs threads (the evidence writer, Twisted's thread pool for name resolution, the
    Playwright driver's watcher); by default glibc gives each thread that allocates its own
    arena, and their fragmentation was 20 to 30 MiB of the collecting process's peak in
    ``bench/bench_accounts.py`` (``docs/benchmarks.md``). Only the arenas created afterwards are
    affected; elsewhere than glibc this does nothing. Returns whether it was applied.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # M_ARENA_MAX is -8 in glibc's malloc.h
    except (OSError, AttributeError):
        return False


def run_in_reactor(main: Callable[[], Awaitable[T]]) -> T:
    """Install the asyncio reactor, run ``main()`` to completion, return its result or raise."""
    import warnings

    limit_malloc_arenas()

    from scrapy.exceptions import ScrapyDeprecationWarning
    from scrapy.utils.reactor import install_reactor

    # Deprecation notices are for developers (pytest shows them); they would break the
    # investigator's progress display.
    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning)

    install_reactor(ASYNCIO_REACTOR)
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    outcome: dict[str, Any] = {}

    def start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(main()))

        def done(result: Any) -> None:
            outcome["result"] = result
            reactor.stop()  # type: ignore[attr-defined]

        d.addBoth(done)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    result = outcome.get("result")
    from twisted.python.failure import Failure

    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[return-value]
