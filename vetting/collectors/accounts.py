"""The ``accounts`` collector: the candidate's usernames across the procedure's site manifest."""

from __future__ import annotations

from typing import Any

from spiders.accounts import AccountsSpider
from spiders.sites import parse_manifest
from vetting.collectors.base import Collector, StepContext
from vetting.inputs import StepInput, expand_all
from vetting.procedure import Step


class AccountsCollector(Collector):
    kind = "accounts"

    def plan(self, step: Step, identifiers: dict[str, Any]) -> list[StepInput]:
        return expand_all(step.inputs, identifiers)

    async def collect(self, ctx: StepContext) -> None:
        # The frozen manifest approved with the procedure, never the file on disk.
        manifest = parse_manifest(ctx.loaded.manifests[ctx.step.id])
        usernames = [(i.value, i.found_by) for i in ctx.inputs]
        await self.crawl(ctx, AccountsSpider, usernames=usernames, manifest=manifest)
