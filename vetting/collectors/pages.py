"""The ``pages`` collector: capture the disclosed profile URLs and any URL list a step names,
and, with ``limits.max_depth``, the profiles they link to (see :mod:`spiders.links`)."""

from __future__ import annotations

from typing import Any

from spiders.capture import Capture
from spiders.pages import PagesSpider
from spiders.sites import frozen_manifest
from vetting.collectors.base import Collector, StepContext
from vetting.domain.procedure import Step
from vetting.engine.inputs import StepInput, expand_all


class PagesCollector(Collector):
    kind = "pages"

    def plan(self, step: Step, identifiers: dict[str, Any]) -> list[StepInput]:
        return expand_all(step.inputs + step.sources, identifiers)

    async def collect(self, ctx: StepContext) -> None:
        cap = ctx.step.limits.max_pages
        for extra in ctx.inputs[cap:]:
            # Over the step's limit: recorded, so the record shows what was not looked at.
            ctx.save_capture(Capture(key=f"page:{extra.value}", kind="page", url=extra.value,
                                     outcome="not_collected", reason=f"limit: step max_pages is {cap}",
                                     found_by=extra.found_by))
        urls = [(i.value, i.found_by) for i in ctx.inputs[:cap]]
        depth = ctx.step.limits.max_depth
        await self.crawl(ctx, PagesSpider, urls=urls, max_depth=depth, max_pages=cap,
                         profile_urls=site_list_profiles(ctx) if depth else [])


def site_list_profiles(ctx: StepContext) -> list[tuple[str, str]]:
    """(site name, profile URL template) of every site in the procedure's site lists, as frozen
    at approval: a followed link counts as a profile when it has one of these shapes."""
    out: list[tuple[str, str]] = []
    for step in ctx.loaded.procedure.steps:
        data = ctx.loaded.manifests.get(step.id)
        if step.sites and data is not None:
            out += [(site.name, site.profile_url) for site in frozen_manifest(data).sites]
    return out
