"""Host slots in PostgreSQL: the guard's per-host delay and concurrency across all workers.

The :class:`~spiders.guard.pacing.HostPacer` of a PostgreSQL workspace. One transaction per
reservation locks the host's row (``SELECT ... FOR UPDATE``), so reservations for one host
are serial whichever process or machine makes them: the slot starts at
``greatest(next_at, now)``, ``next_at`` moves ``delay`` past it, and a lease row counts the
request against the host's concurrency until it is released or expires. Releasing also moves
``next_at`` to at least ``delay`` after the request ended: a request that reached the site
late (a busy process) then still leaves the site ``delay`` of quiet before the next one, so
the delay holds as the site sees it, counted from the later of a request's start and its end. Waits are computed
from the database's clock alone, so machines whose clocks disagree still keep the delay.
On SQLite there are no slots: each process keeps Scrapy's own per-process limits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from vetting.queue.database import ensure_tables

_RESERVE = (
    text("INSERT INTO queue_host_slot (host, next_at) VALUES (:h, clock_timestamp()) ON CONFLICT (host) DO NOTHING"),
    text("SELECT next_at, clock_timestamp() AS now FROM queue_host_slot WHERE host = :h FOR UPDATE"),
    text("DELETE FROM queue_host_lease WHERE host = :h AND expires_at < clock_timestamp()"),
    text("SELECT count(*) FROM queue_host_lease WHERE host = :h"),
)
_TAKE = (
    text("UPDATE queue_host_slot SET next_at = :start + make_interval(secs => :delay) WHERE host = :h"),
    text("INSERT INTO queue_host_lease (id, host, delay_s, expires_at) "
         "VALUES (:id, :h, :delay, :start + make_interval(secs => :ls))"),
)
#: Freeing a slot also holds the host's next start to at least ``delay`` after this moment.
_RELEASE = text("""
WITH gone AS (DELETE FROM queue_host_lease WHERE id = :id RETURNING host, delay_s)
UPDATE queue_host_slot AS s SET next_at = greatest(s.next_at, clock_timestamp() + make_interval(secs => gone.delay_s))
  FROM gone WHERE s.host = gone.host
""")


class PostgresHostSlots:
    """Shared per-host slots in the workspace's PostgreSQL database."""

    def __init__(self, engine: Engine):
        self.engine = engine
        ensure_tables(engine)

    def reserve(self, host: str, delay: float, concurrency: int, lease_seconds: float) -> tuple[str, float] | None:
        insert, lock, expire, count = _RESERVE
        with self.engine.begin() as conn:
            conn.execute(insert, {"h": host})
            next_at, now = conn.execute(lock, {"h": host}).one()
            conn.execute(expire, {"h": host})
            if conn.execute(count, {"h": host}).scalar_one() >= concurrency:
                return None
            start = max(next_at, now)
            lease = uuid.uuid4().hex
            conn.execute(_TAKE[0], {"start": start, "delay": float(delay), "h": host})
            conn.execute(_TAKE[1], {"id": lease, "h": host, "delay": float(delay), "start": start,
                                    "ls": float(lease_seconds)})
        return lease, (start - now).total_seconds()

    def release(self, lease: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_RELEASE, {"id": lease})


def shared_pacing(ws: Any, delay: float, concurrency: int, timeout: float) -> dict[str, Any]:
    """Scrapy settings for a step of this workspace: shared slots on PostgreSQL, nothing on SQLite."""
    if ws.engine.dialect.name != "postgresql":
        return {}
    from spiders.guard.pacing import pacing_settings
    from spiders.guard.settings import DOWNLOADER_MIDDLEWARES

    return pacing_settings(PostgresHostSlots(ws.engine), delay, concurrency, timeout, DOWNLOADER_MIDDLEWARES)
