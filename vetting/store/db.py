"""The workspace database: engine creation and in-place schema upgrades.

The schema version lives in the ``meta`` table. Each later version of the toolkit appends a
migration to :data:`MIGRATIONS`; opening an older workspace applies the missing ones in
order, inside a transaction, so data is never lost and a failed upgrade changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from vetting.domain import models  # noqa: F401  (registers the tables)
from vetting.people.models import PEOPLE_TABLES
from vetting.store import personal  # noqa: F401


def make_engine(url: str) -> Engine:
    """An engine for a SQLite file or a PostgreSQL URL; SQLite gets WAL and foreign keys."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL + synchronous=FULL: a kill or power loss never loses a committed item.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            # Deleted rows (an erased candidate's values) are overwritten, not left in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

    return engine


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _v1(conn: Connection) -> None:
    """The first schema: every table of vetting.domain.models.

    A new database gets the current models' tables here, so every later migration must be
    idempotent (add a column only if it is missing): it runs on new and old databases alike.
    """
    SQLModel.metadata.create_all(conn)


def add_column_if_missing(conn: Connection, table: str, column: str, ddl: str) -> None:
    """``ALTER TABLE table ADD COLUMN column ddl``, unless the column is already there."""
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f'ALTER TABLE "{table}" ADD COLUMN {column} {ddl}'))


def _v2(conn: Connection) -> None:
    """Screening records whether an item was undated or only partly screened."""
    add_column_if_missing(conn, "assessment", "undated", "BOOLEAN NOT NULL DEFAULT FALSE")
    add_column_if_missing(conn, "assessment", "truncated", "BOOLEAN NOT NULL DEFAULT FALSE")


#: Tables the toolkit never updates nor deletes from: the log's index of who decided, concurred,
#: approved and was added. A revision is a new row citing the one it replaces.
APPEND_ONLY_TABLES = ("candidate", "procedureversion", "decision", "concurrence")


def _v3(conn: Connection) -> None:
    """The log is the authority: append-only decision tables, one decision in force per item,
    and the tables of personal values (kept apart from the log so they can be erased)."""
    from audit.store import protect_tables

    SQLModel.metadata.create_all(conn)
    protect_tables(conn, APPEND_ONLY_TABLES)
    # One first decision per item, and each decision revised at most once: the revisions of an
    # item form one chain, whose last link is the decision in force.
    conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ux_decision_first ON decision (item_id) "
                      "WHERE supersedes IS NULL"))
    conn.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ux_decision_supersedes ON decision (supersedes)"))
    # Candidates added before personal values were committed keep their values in the clear
    # (read as they are); they get a secret so that they are not taken for erased ones.
    import secrets
    from datetime import UTC, datetime

    for (candidate_id,) in conn.execute(text(
            "SELECT id FROM candidate WHERE id NOT IN (SELECT candidate_id FROM candidate_secret)")).all():
        conn.execute(text("INSERT INTO candidate_secret (candidate_id, secret, created_at) VALUES (:c, :s, :t)"),
                     {"c": candidate_id, "s": secrets.token_hex(32), "t": datetime.now(UTC)})


def _people(conn: Connection) -> None:
    """Accounts, login attempts, sessions, case assignments, report releases, the identity provider."""
    for model in PEOPLE_TABLES:
        model.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]


def _reached(conn: Connection) -> None:
    """Items record how they were reached (disclosed, a link from another page, a search
    query at a rank, a site check). Older items keep ``{}``: vetting.engine.reached derives their
    record from ``found_by`` and ``meta``, which hold the same facts."""
    add_column_if_missing(conn, "item", "reached_json", "TEXT NOT NULL DEFAULT '{}'")


#: Ordered migrations; index + 1 is the schema version each one produces.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _people, _reached]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    return int(row[0]) if row else 0


class SchemaTooNew(RuntimeError):
    """The workspace was written by a newer toolkit; opening it could corrupt it."""


def upgrade(engine: Engine) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; return the version found before."""
    with engine.begin() as conn:
        found = current_version(conn)
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(f"workspace schema version {found} is newer than this toolkit's "
                               f"({SCHEMA_VERSION}); upgrade the toolkit")
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
            conn.execute(text("DELETE FROM meta WHERE key = 'schema_version'"))
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
                         {"v": str(version + 1)})
    return found
