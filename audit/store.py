"""Database schema of the audit log (SQLAlchemy Core) and the triggers that keep it append-only.

Three tables:

* ``audit_event``: one row per event, ``seq`` dense from 0 (the leaf index).
* ``audit_checkpoint``: one row per signed checkpoint, numbered densely from 0.
* ``audit_node``: every completed perfect-subtree node of the Merkle tree (level >= 1),
  written once when its last leaf arrives. Derived data: it makes proofs O(log n)
  lookups and lets the log reload its frontier; the verifier never trusts it.

Database triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on all
three, so the toolkit itself cannot rewrite history by accident or by a bug. A
person with raw access to the database file can still drop the triggers; that is
what the hashes, the signatures and the out-of-database ``checkpoints.log`` catch.
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# SQLite only makes "INTEGER PRIMARY KEY" an alias of the rowid (the fast, compact form).
_SeqType = BigInteger().with_variant(Integer(), "sqlite")

audit_event = Table(
    "audit_event", metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(128), nullable=False),
    Column("case_id", Text, nullable=True),
    Column("subject", Text, nullable=True),
    Column("payload", Text, nullable=False),          # canonical JSON of the payload object
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("chain_hash", LargeBinary(32), nullable=False),
    Index("ix_audit_event_case_id", "case_id"),
)

audit_checkpoint = Table(
    "audit_checkpoint", metadata,
    Column("idx", _SeqType, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),             # the full signed note, body + signature
)

audit_node = Table(
    "audit_node", metadata,
    Column("level", SmallInteger, nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    PrimaryKeyConstraint("level", "idx"),
)

PROTECTED_TABLES = ("audit_event", "audit_checkpoint", "audit_node")



class UnsupportedDatabase(RuntimeError):
    """The database has no append-only triggers here: the log refuses to run on it."""

def sqlite_trigger_ddl(table: str) -> list[str]:
    """Triggers aborting any UPDATE or DELETE on ``table`` (SQLite)."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_refuse_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


POSTGRES_FUNCTION_DDL = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- (no percent placeholders here: DB-API drivers would take them for parameters)
    RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused',
                          ERRCODE = 'insufficient_privilege';
END
$$
"""


def postgres_trigger_ddl(table: str) -> list[tuple[str, str]]:
    """(trigger name, DDL) pairs refusing UPDATE, DELETE and TRUNCATE on ``table`` (PostgreSQL)."""
    return [
        (f"{table}_refuse_change",
         (f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
         f"FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()")),
        (f"{table}_refuse_truncate",
         (f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
         f"FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()")),
    ]


#: Key of the PostgreSQL advisory lock that serializes the log's writers (any constant bigint
#: that no other application sharing the database uses; this one is b"auditlog" as an integer).
POSTGRES_LOCK_KEY = int.from_bytes(b"auditlog", "big") & 0x7FFF_FFFF_FFFF_FFFF


def take_write_lock(conn: Connection) -> None:
    """Begin ``conn``'s transaction holding the log's write lock (until commit or rollback).

    SQLite: ``BEGIN IMMEDIATE`` takes the database's single write lock up front, so the
    last event read next cannot change before this transaction commits. PostgreSQL: a
    transaction-scoped advisory lock, taken before the last event is read (under READ
    COMMITTED every later statement sees what the previous holder committed).
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        if conn.in_transaction():
            conn.rollback()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": POSTGRES_LOCK_KEY})
    else:
        raise UnsupportedDatabase(f"no write lock for {dialect}")


def protect_tables(conn: Connection, tables: tuple[str, ...]) -> None:
    """Install the append-only triggers (no UPDATE, DELETE, TRUNCATE) on ``tables``; idempotent."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for table in tables:
            for ddl in sqlite_trigger_ddl(table):
                conn.exec_driver_sql(ddl)
    elif dialect == "postgresql":
        conn.exec_driver_sql(POSTGRES_FUNCTION_DDL)
        for table in tables:
            for name, ddl in postgres_trigger_ddl(table):
                exists = conn.execute(
                    text("SELECT 1 FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal "
                         "AND tgrelid = CAST(:t AS regclass)"),
                    {"n": name, "t": table}).first()
                if not exists:
                    conn.exec_driver_sql(ddl)
    else:
        raise UnsupportedDatabase(
            f"append-only triggers are written for sqlite and postgresql, not {dialect}")


def create_schema(conn: Connection) -> None:
    """Create tables and triggers if missing (idempotent), inside the caller's transaction."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # Two processes opening one new workspace at once must not race on the DDL.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": POSTGRES_LOCK_KEY})
    metadata.create_all(conn, checkfirst=True)
    if dialect == "sqlite":
        for table in PROTECTED_TABLES:
            for ddl in sqlite_trigger_ddl(table):
                conn.exec_driver_sql(ddl)
    elif dialect == "postgresql":
        conn.exec_driver_sql(POSTGRES_FUNCTION_DDL)
        for table in PROTECTED_TABLES:
            for name, ddl in postgres_trigger_ddl(table):
                # Scoped to this table (resolved through search_path): another schema's
                # audit tables may have triggers of the same name.
                exists = conn.execute(
                    text("SELECT 1 FROM pg_trigger WHERE tgname = :n AND NOT tgisinternal "
                         "AND tgrelid = CAST(:t AS regclass)"),
                    {"n": name, "t": table}).first()
                if not exists:
                    conn.exec_driver_sql(ddl)
    else:
        raise UnsupportedDatabase(
            f"audit log triggers are written for sqlite and postgresql, not {dialect}")
