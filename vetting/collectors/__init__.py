"""The registry of collectors: procedure kinds -> implementations (imported on demand)."""

from __future__ import annotations

import importlib

from vetting.collectors.base import Collector, StepContext, StepFailed

_IMPLEMENTATIONS = {
    "pages": "vetting.collectors.pages:PagesCollector",
    "accounts": "vetting.collectors.accounts:AccountsCollector",
    "search": "vetting.collectors.search:SearchCollector",
}


def get_collector(kind: str) -> Collector:
    module_name, _, class_name = _IMPLEMENTATIONS[kind].partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


__all__ = ["Collector", "StepContext", "StepFailed", "get_collector"]
