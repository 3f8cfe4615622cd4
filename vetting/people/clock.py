"""The clock every rule about time reads: tests pass their own and move it instead of sleeping.

Only code can choose the clock (a keyword argument), never an environment variable or a
setting: a user who could set the clock could keep an expired token alive.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """A datetime read back from SQLite has lost its zone; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
