"""A case's audit trail, for display to commanders (``vet audit timeline``)."""
from __future__ import annotations

from sqlalchemy import Engine

from audit.events import Event
from audit.log import iter_events


def case_timeline(engine: Engine, case_id: str) -> list[Event]:
    """Every event of ``case_id`` in log order (a case's trail is small enough to list)."""
    return list(iter_events(engine, case_id=case_id))


def describe(event: Event, width: int = 60) -> str:
    """One line for a table: time, actor, action, subject, and the payload abbreviated."""
    details = ", ".join(f"{k}={v!r}" for k, v in sorted(event.payload.items())
                        if k != "artifacts")
    if "artifacts" in event.payload:
        details = (details + ", " if details else "") + \
            f"{len(event.payload['artifacts'])} artifact(s)"
    if len(details) > width:
        details = details[:width - 1] + "\u2026"
    subject = f" {event.subject}" if event.subject else ""
    return f"#{event.seq} {event.time} {event.actor}: {event.action}{subject} {details}".rstrip()
