"""``vet sites health``: WhatsMyName's own known/random check over a site list, outside any case.

A site's check can go bad at any time (a redesign moves the "not found" text, a bot wall
appears). Before each case the accounts collector checks every site with its known account
(it must be found) and a random name (it must not be); this module runs the same check over
the whole list on demand, so a commander sees which sites are degraded today and can keep the
department's list honest. It collects nothing about anyone: the only names requested are the
manifest's known accounts and one random name.

The crawl runs under the procedure's guard settings (network profile, honest User-Agent,
rate limits, caps), with no browser: a health check never renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spiders.capture import Capture
from spiders.sites import Manifest, Site


class ListContext:
    """A spider context that keeps captures and request decisions in lists (no workspace)."""

    render = False

    def __init__(self) -> None:
        self.captures: list[Capture] = []
        self.requests: list[tuple[str, str, bool, str, int | None]] = []

    def is_captured(self, key: str) -> bool:
        return False

    def save_capture(self, capture: Capture) -> None:
        self.captures.append(capture)

    def record_request(self, url: str, method: str, allowed: bool, reason: str, status: int | None = None) -> None:
        self.requests.append((url, method, allowed, reason, status))


def crawl_settings(settings: Any, sink: Any) -> dict[str, Any]:
    """Scrapy settings for an accounts crawl under a procedure's ``settings`` (no browser)."""
    from spiders.guard import guard_settings

    limits = {"max_bytes": settings.limits.max_bytes, "timeout_seconds": settings.limits.timeout_seconds,
              "max_redirects": settings.limits.max_redirects, "delay_seconds": settings.rate_limit.delay_seconds,
              "concurrency_per_domain": settings.rate_limit.concurrency_per_domain}
    out = guard_settings(settings.network, settings.user_agent, list(settings.allow_domains),
                         list(settings.deny_domains), sink, limits)
    out.update({"CONCURRENT_REQUESTS": settings.rate_limit.concurrency_total, "LOG_LEVEL": "WARNING",
                "TELNETCONSOLE_ENABLED": False, "CONCURRENT_ITEMS": 1,
                "ITEM_PIPELINES": {"spiders.pipelines.EvidencePipeline": 300}})
    return out


async def crawl_accounts(manifest: Manifest, usernames: list[tuple[str, str]], settings: Any,
                         context: ListContext, health_only: bool = False, random_name: str | None = None,
                         extra: dict[str, Any] | None = None) -> Any:
    """Run the accounts spider once (inside a running reactor); return the spider."""
    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.settings import Settings

    from spiders.accounts import AccountsSpider

    scrapy_settings = Settings()
    scrapy_settings.setmodule("spiders.settings", priority="project")
    scrapy_settings.setdict(crawl_settings(settings, context), priority="cmdline")
    for key, value in (extra or {}).items():
        scrapy_settings.set(key, value, priority="cmdline")
    runner = AsyncCrawlerRunner(scrapy_settings)
    crawler = runner.create_crawler(AccountsSpider)
    await runner.crawl(crawler, usernames=usernames, manifest=manifest, context=context, render=False,
                       random_name=random_name, health_only=health_only)
    return crawler.spider


@dataclass
class HealthRow:
    """One site's result: ``ok``, ``degraded`` (known account not found), ``unreliable`` (the
    random name found), ``not_checked`` (needs what the guard never does) or ``unknown``."""

    site: str
    state: str
    known: str
    random: str
    detail: str


def health_rows(manifest: Manifest, spider: Any) -> list[HealthRow]:
    from spiders.accounts import unchecked_reason

    rows = [HealthRow(name, "refused", "-", "-", f"manifest entry refused: {reason}")
            for name, reason in manifest.rejected]
    for site in manifest.sites:
        rows.append(_row(site, spider.health.get(site.name), unchecked_reason(site)))
    return rows


def _row(site: Site, health: Any, unchecked: tuple[str, str] | None) -> HealthRow:
    if unchecked is not None:
        return HealthRow(site.name, "not_checked", "-", "-", unchecked[1])
    if health is None:
        return HealthRow(site.name, "unknown", "-", "-", "no check ran")
    known, random = health.known or "-", health.random or "-"
    detail = "; ".join(health.notes)
    if health.unreliable:
        state = "unreliable"
        detail = detail or "the random name was found: the site answers yes to everything"
    elif health.known is None:
        state = "unknown"
        detail = detail or "no known account to check"
    elif health.degraded:
        state = "degraded"
        detail = detail or f"the known account {site.known_account!r} was {health.known}"
    else:
        state = "ok"
    return HealthRow(site.name, state, known, random, detail)


def check_health(procedure_path: Path, sites_path: Path | None) -> tuple[list[HealthRow], str]:
    """Run the health check of ``sites_path`` (default: the procedure's accounts step manifest)
    under the procedure's settings; return the rows and the random name used."""
    from spiders.sites import ManifestError, parse_manifest, read_manifest_file
    from vetting.domain.procedure import load_procedure
    from vetting.domain.yamlsource import InputError, Problem
    from vetting.engine.reactor import run_in_reactor

    loaded = load_procedure(procedure_path)
    if sites_path is not None:
        try:
            data = read_manifest_file(sites_path)
        except OSError as exc:
            raise InputError([Problem(str(sites_path), None, "", f"cannot read: {exc.strerror}")]) from None
        except ManifestError as exc:
            raise InputError([Problem(str(sites_path), None, "", str(exc))]) from None
        source = str(sites_path)
    else:
        steps = [s for s in loaded.procedure.steps if s.collector == "accounts"]
        if not steps:
            raise InputError([Problem(str(procedure_path), None, "steps", "no accounts step: give a site list")])
        data, source = loaded.manifests[steps[0].id], str(steps[0].sites)
    try:
        manifest = parse_manifest(data)
    except ManifestError as exc:
        raise InputError([Problem(source, None, "", str(exc))]) from None
    context = ListContext()

    async def main() -> Any:
        return await crawl_accounts(manifest, [], loaded.procedure.settings, context, health_only=True)

    spider = run_in_reactor(main)
    return health_rows(manifest, spider), spider.random_name
