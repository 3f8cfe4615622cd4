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


def run_in_reactor(main: Callable[[], Awaitable[T]]) -> T:
    """Install the asyncio reactor, run ``main()`` to completion, return its result or raise."""
    import warnings

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
