"""The ``search`` collector: the procedure's queries through the agency's search backend."""

from __future__ import annotations

from typing import Any

from spiders.search import SearchSpider
from vetting.collectors.base import Collector, StepContext, StepFailed
from vetting.domain.procedure import Step
from vetting.engine.inputs import StepInput, expand_all


class SearchCollector(Collector):
    kind = "search"

    def plan(self, step: Step, identifiers: dict[str, Any]) -> list[StepInput]:
        return expand_all(step.queries, identifiers)

    async def collect(self, ctx: StepContext) -> None:
        backend = ctx.loaded.procedure.settings.search
        if backend is None:  # validation requires it; never search without the agency's backend
            raise StepFailed("no search backend in the procedure's settings")
        queries = [(i.value, i.found_by) for i in ctx.inputs]
        await self.crawl(ctx, SearchSpider, queries=queries, endpoint=backend.url,
                         max_results=ctx.step.limits.max_pages)
        answered = ctx.outcomes.get(("search_query", "captured"), [])
        failed = [r for (kind, outcome), reasons in ctx.outcomes.items() if kind == "search_query"
                  and outcome != "captured" for r in reasons]
        if failed and not answered:
            # Not one query answered: the step did not search, it must not pass as done.
            raise StepFailed(f"the search backend {backend.url} answered no query: {failed[0]}")
