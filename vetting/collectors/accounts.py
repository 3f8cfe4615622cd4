"""The ``accounts`` collector: the candidate's usernames across the procedure's site manifest.

Site health (known account + random name) and robots.txt are properties of a site on a day,
not of a candidate: results from an earlier case of the same day are reused
(:mod:`vetting.engine.daycache`) and every reuse is an audit event saying which result, from when.
"""

from __future__ import annotations

from typing import Any

from spiders.accounts import AccountsSpider, SiteHealth
from spiders.sites import Manifest, frozen_manifest
from vetting.collectors.base import Collector, StepContext
from vetting.domain.procedure import Step
from vetting.engine.daycache import DEFINITE, DayCache, RobotsCache, health_key
from vetting.engine.inputs import StepInput, expand_all


class AccountsCollector(Collector):
    kind = "accounts"

    def plan(self, step: Step, identifiers: dict[str, Any]) -> list[StepInput]:
        return expand_all(step.inputs, identifiers)

    async def collect(self, ctx: StepContext) -> None:
        # The frozen manifest approved with the procedure, never the file on disk.
        manifest = frozen_manifest(ctx.loaded.manifests[ctx.step.id])
        usernames = [(i.value, i.found_by) for i in ctx.inputs]
        settings = ctx.loaded.procedure.settings
        health_cache = DayCache(ctx.ws.engine, "health")
        keys = {s.name: health_key(s.to_json(), settings.network, settings.user_agent) for s in manifest.sites}
        kept = health_cache.load()
        known = {name: _site_health(kept[key]) for name, key in keys.items() if key in kept}
        ctx.robots_cache = RobotsCache(DayCache(ctx.ws.engine, "robots"), settings.user_agent, ctx.case.id,
                                       ctx.step.id)
        try:
            spider = await self.crawl(ctx, AccountsSpider, usernames=usernames, manifest=manifest,
                                      known_health=known)
        finally:
            ctx.robots_cache.cache.flush()
            _record_robots_reuse(ctx)
        _record_health(ctx, manifest, spider, keys, kept, health_cache)


def _site_health(entry: Any) -> SiteHealth:
    v = entry.value
    note = (f"health reused: checked {entry.fetched_at} by case {entry.case_id}, step {entry.step_id} "
            f"(random name {v['random_name']!r})")
    return SiteHealth(known=v["known"], random=v["random"], notes=[*v.get("notes", []), note],
                      random_name=v["random_name"], reused=True)


def _record_robots_reuse(ctx: StepContext) -> None:
    reused = ctx.robots_cache.reused if ctx.robots_cache is not None else {}
    if reused:
        # A subdomain site's host carries the candidate's username: the event names it by its
        # commitment, like every requested URL (the value is stored apart and can be erased).
        roots = list(reused)
        committed = ctx.ws.commit_values(ctx.case.candidate_id, roots)
        ctx.ws.record("robots.reused", actor=ctx.actor, case_id=ctx.case.id, subject=ctx.step.id,
                      payload={"step": ctx.step.id, "hosts": {c: reused[r] for c, r in zip(committed, roots,
                                                                                          strict=True)}})


def _record_health(ctx: StepContext, manifest: Manifest, spider: Any, keys: dict[str, str], kept: dict[str, Any],
                   cache: DayCache) -> None:
    """One audit event for the health checks run now, one for those reused (with their origin)."""
    fresh: dict[str, list[str | None]] = {}
    reused: dict[str, dict[str, Any]] = {}
    for name, health in spider.health.items():
        if health.reused:
            entry = kept[keys[name]]
            reused[name] = {"known": health.known, "random": health.random, **entry.origin()}
            continue
        fresh[name] = [health.known, health.random]
        if health.known in DEFINITE and health.random in DEFINITE:
            cache.keep(keys[name], {"known": health.known, "random": health.random, "notes": health.notes,
                                    "random_name": spider.random_name}, None, ctx.case.id, ctx.step.id)
    cache.flush()
    if fresh:
        ctx.ws.record("sites.health_checked", actor=ctx.actor, case_id=ctx.case.id, subject=ctx.step.id,
                      payload={"step": ctx.step.id, "random_name": spider.random_name, "sites": fresh})
    if reused:
        ctx.ws.record("sites.health_reused", actor=ctx.actor, case_id=ctx.case.id, subject=ctx.step.id,
                      payload={"step": ctx.step.id, "sites": reused})
