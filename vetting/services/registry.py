"""Every service function and the act it is (a test holds this list to the permission table)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: ``module.function`` -> the acts of :data:`vetting.people.permissions.PERMISSIONS` it checks.
SERVICES: dict[str, tuple[str, ...]] = {}


def service(*actions: str) -> Callable[[F], F]:
    """Mark ``fn`` as the service of ``actions`` (a run also opens cases); the function itself
    calls ``authorize`` before it acts."""
    from vetting.people.permissions import PERMISSIONS

    unknown = [a for a in actions if a not in PERMISSIONS]
    if unknown or not actions:
        raise KeyError(f"{', '.join(unknown) or 'no act'}: not a row of the permission table")

    def mark(fn: F) -> F:
        SERVICES[f"{fn.__module__}.{fn.__name__}"] = actions
        fn.__acts__ = actions  # type: ignore[attr-defined]
        return fn

    return mark


def load_all() -> dict[str, tuple[str, ...]]:
    """Import every service module (so each registers) and return the registry."""
    import importlib

    for name in ("procedures", "candidates", "cases", "review", "reports", "records"):
        importlib.import_module(f"vetting.services.{name}")
    return SERVICES
