"""The Scrapy settings a crawl runs under the guard: :func:`guard_settings` returns the
middlewares, caps, TLS verification and the browser's launch options in one dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spiders.guard.robots import robots_token
from spiders.guard.sink import RequestSink, SinkRef

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


def guard_settings(profile: str, user_agent: str, allow: Iterable[str], deny: Iterable[str],
                   sink: RequestSink | None, limits: Mapping[str, Any],
                   launch_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything a crawl needs to run under the guard, as Scrapy settings (merge at a priority
    above the project's, e.g. ``settings.setdict(guard_settings(...), priority="cmdline")``).

    ``limits``: ``max_bytes``, ``timeout_seconds``, ``max_redirects``, ``delay_seconds``,
    ``concurrency_per_domain`` (all optional; defaults 5 MB, 30 s, 5, 1 s, 2), and optionally
    ``warn_bytes`` and ``ca_file`` (trust store for TLS verification).

    ``launch_options`` (Playwright's, e.g. ``spiders.browser.launch_options()``): when given,
    ``VETTING_BROWSER_LAUNCH_OPTIONS`` is returned without any proxy or host-resolver flag of
    the caller's and with the procedure's User-Agent; the renderer adds the flags that leave
    Chromium no network of its own (:func:`spiders.browser.no_network_args`), and every request
    the browser makes passes this same guard (:mod:`spiders.guard.browser`).
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
    }
    if limits.get("ca_file"):
        settings["VETTING_TLS_CA_FILE"] = str(limits["ca_file"])
    if launch_options is not None:
        options = dict(launch_options)
        options["args"] = [a for a in options.get("args", [])
                           if not a.startswith(("--proxy-", "--user-agent", "--host-resolver-rules"))]
        options["args"].append(f"--user-agent={user_agent}")
        options.pop("proxy", None)  # the renderer shuts the browser's own network itself
        settings["VETTING_BROWSER_LAUNCH_OPTIONS"] = options
    return settings
