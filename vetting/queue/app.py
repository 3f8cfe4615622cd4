"""The Procrastinate app of a workspace, and its one task: run one case.

Jobs carry the case id as both ``lock`` (Procrastinate never runs two jobs with one lock at
once: no two workers run a case) and ``queueing_lock`` (a case waits in the queue once). A
job that fails is retried :data:`RETRIES` times, :data:`RETRY_WAIT` seconds apart; a job whose
worker died is retried by the reaper of :mod:`vetting.queue.worker`.
"""

from __future__ import annotations

from typing import Any

from procrastinate import App, PsycopgConnector, RetryStrategy
from sqlalchemy import text

from vetting.queue.database import SCHEMA_LOCK, ensure_tables, libpq_conninfo, require_postgres
from vetting.queue.job import QUEUE, RETRIES, RETRY_WAIT, TASK_NAME, run_case_job

__all__ = ["QUEUE", "RETRIES", "RETRY_WAIT", "TASK_NAME", "ensure_schema", "make_app"]


def make_app(ws: Any) -> App:
    """The app for this workspace's PostgreSQL database (refuses any other database)."""
    require_postgres(ws)
    app = App(connector=PsycopgConnector(conninfo=libpq_conninfo(ws.database_url), min_size=1, max_size=4))
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True,
             retry=RetryStrategy(max_attempts=RETRIES, wait=RETRY_WAIT))(run_case_job)
    return app


async def ensure_schema(app: App, ws: Any) -> None:
    """Procrastinate's schema and ours, created once; concurrent first callers take turns."""
    ensure_tables(ws.engine)
    with ws.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SCHEMA_LOCK})
        try:
            present = conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar()
            if present is None:
                await app.schema_manager.apply_schema_async()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_LOCK})
            conn.commit()
