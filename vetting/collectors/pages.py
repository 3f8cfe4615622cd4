"""The ``pages`` collector: capture the disclosed profile URLs and any URL list a step names."""

from __future__ import annotations

from typing import Any

from spiders.capture import Capture
from spiders.pages import PagesSpider
from vetting.collectors.base import Collector, StepContext
from vetting.inputs import StepInput, expand_all
from vetting.procedure import Step


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
        await self.crawl(ctx, PagesSpider, urls=urls)
