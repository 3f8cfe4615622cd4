"""Jinja filters of the web pages: how dates, actors and JSON columns are shown."""

from __future__ import annotations

from datetime import datetime

from jinja2 import Environment


def when(value: datetime | str | None) -> str:
    """A moment as ``YYYY-MM-DD HH:MM`` UTC (what the reports print)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return value.strftime("%Y-%m-%d %H:%M")


def who(actor: str | None) -> str:
    """An audit actor without its kind prefix (``user:sortiz`` -> ``sortiz``)."""
    if not actor:
        return ""
    return actor.split(":", 1)[1] if actor.startswith("user:") else actor


def install(env: Environment) -> None:
    env.filters.update(when=when, who=who)
