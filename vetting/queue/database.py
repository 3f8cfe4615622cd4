"""What the job queue needs of the workspace's database: PostgreSQL, a libpq connection
string for Procrastinate, and the queue's own small tables.

Procrastinate's tables (``procrastinate_jobs``, ``procrastinate_workers``...) are its own,
created once by :func:`vetting.queue.app.ensure_schema`. Ours, created here:

* ``queue_host_slot``: per host, the earliest time the next request may start, all workers
  together (the guard's delay, :mod:`vetting.queue.hostslots`);
* ``queue_host_lease``: one row per request in flight to a host, with an expiry so a dead
  worker's leases lapse (the guard's concurrency per host);
* ``queue_cancel``: who cancelled a case, and why, read by the worker that ends its process.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url


class QueueNeedsPostgres(Exception):
    """The job queue was asked for on a workspace whose database is not PostgreSQL."""


NEEDS_POSTGRES = ("the job queue needs a PostgreSQL workspace: set "
                  "VETTING_DATABASE_URL=postgresql+psycopg://USER@HOST/DATABASE (this workspace's database "
                  "is {dialect}); see docs/deploy.md")


def require_postgres(ws: Any) -> None:
    dialect = ws.engine.dialect.name
    if dialect != "postgresql":
        raise QueueNeedsPostgres(NEEDS_POSTGRES.format(dialect="SQLite" if dialect == "sqlite" else dialect))


def libpq_conninfo(database_url: str) -> str:
    """``postgresql+psycopg://u@/db?host=/sock`` (SQLAlchemy) -> ``postgresql://u@/db?host=/sock`` (libpq)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


#: Advisory lock keys (one namespace for the toolkit's queue).
SCHEMA_LOCK = 0x76657474_0001
REAPER_LOCK = 0x76657474_0002

_TABLES = (
    "CREATE TABLE IF NOT EXISTS queue_host_slot (host TEXT PRIMARY KEY, next_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS queue_host_lease (id TEXT PRIMARY KEY, host TEXT NOT NULL, "
    "delay_s DOUBLE PRECISION NOT NULL, expires_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS queue_host_lease_host ON queue_host_lease (host)",
    "CREATE TABLE IF NOT EXISTS queue_cancel (case_id TEXT PRIMARY KEY, requested_by TEXT NOT NULL, "
    "reason TEXT NOT NULL, requested_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
)


def ensure_tables(engine: Engine) -> None:
    """Create the queue's tables if missing (idempotent; concurrent callers take turns)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        for ddl in _TABLES:
            conn.execute(text(ddl))


def record_cancel_request(engine: Engine, case_id: str, by: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO queue_cancel (case_id, requested_by, reason) VALUES (:c, :b, :r) "
                          "ON CONFLICT (case_id) DO UPDATE SET requested_by = :b, reason = :r, "
                          "requested_at = clock_timestamp()"), {"c": case_id, "b": by, "r": reason})


def cancel_request(engine: Engine, case_id: str) -> tuple[str, str] | None:
    """(who, why) if someone asked to cancel the case."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT requested_by, reason FROM queue_cancel WHERE case_id = :c"),
                           {"c": case_id}).first()
    return None if row is None else (row[0], row[1])
