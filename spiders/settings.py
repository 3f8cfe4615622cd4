"""Scrapy settings shared by every spider of the toolkit (``scrapy.cfg`` points here).

The engine starts from these and adds the procedure's guard settings (user agent, network
profile, caps) per step. Run alone (``scrapy crawl pages -a urls=...``) the spiders use these
defaults: robots.txt obeyed, cookies off, the public network profile.
"""

from __future__ import annotations

BOT_NAME = "vetting"
SPIDER_MODULES = ["spiders.pages", "spiders.accounts", "spiders.search"]
NEWSPIDER_MODULE = "spiders"

# An honest default; a procedure always sets its own agency User-Agent with a contact.
USER_AGENT = "VettingToolkit/0.1 (pre-employment background investigation; +https://github.com/vetting-toolkit)"
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19 starts, for every crawl, an HTTP server on localhost that runs Python code sent to
# it (token-protected; the token is written to a job file under ~/.local/state/scrapy): no
# place in a collector of personal data, and an aiohttp server started per step for nothing.
REMOTE_CONTROL_ENABLED = False
HTTPCACHE_ENABLED = False

# Gentle by default; the procedure's rate_limit overrides these.
CONCURRENT_REQUESTS = 16
# Each response yields at most a few captures: Scrapy's default of 100 parallel item tasks
# per response only costs CPU (measured in bench/bench_accounts.py).
CONCURRENT_ITEMS = 1
# Scrapy re-parses a generator callback's source (inspect + ast) for every response to warn
# about ``return value`` in it: its cache misses on bound methods, and it was 9% of the client's
# CPU in account discovery (docs/benchmarks.md). Our callbacks are linted instead.
WARN_ON_GENERATOR_RETURN_VALUE = False
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
DOWNLOAD_DELAY_JITTER = 0  # predictable pacing; the procedure sets the delay
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 5_000_000
DOWNLOAD_WARNSIZE = 2_000_000
REDIRECT_MAX_TIMES = 5
METAREFRESH_ENABLED = False  # a page's meta refresh is content to record, not a place to go
RETRY_ENABLED = True
RETRY_TIMES = 1
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]  # never 401/403/429: walls are not retried around

# The renderer drives Playwright's asyncio API inside the crawl (spiders.render).
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
VETTING_BROWSER_MAX_PAGES = 8  # pages rendered at once (most of a render is waiting for network idle)
VETTING_BROWSER_IDLE_MS = 10_000  # after load, the longest wait for the page's network to fall quiet

ITEM_PIPELINES = {"spiders.pipelines.EvidencePipeline": 300}
LOG_LEVEL = "WARNING"
FEED_EXPORT_ENCODING = "utf-8"


try:
    from spiders.browser import launch_options

    _LAUNCH_OPTIONS = launch_options()
except RuntimeError:  # no Chromium on this machine: `scrapy list` still works
    _LAUNCH_OPTIONS = {"headless": True}

# Every request passes the lawful guard, from `scrapy crawl` too: the public network profile,
# robots.txt, GET/HEAD only, no cookies, caps. The engine replaces these with the procedure's.
from spiders.guard import guard_settings as _guard_settings  # noqa: E402

globals().update(_guard_settings("public", USER_AGENT, [], [], None, {
    "max_bytes": DOWNLOAD_MAXSIZE, "timeout_seconds": DOWNLOAD_TIMEOUT, "max_redirects": REDIRECT_MAX_TIMES,
    "delay_seconds": DOWNLOAD_DELAY, "concurrency_per_domain": CONCURRENT_REQUESTS_PER_DOMAIN},
    launch_options=_LAUNCH_OPTIONS))
