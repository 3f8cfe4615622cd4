"""audit.log and audit.store: appending, triggers, checkpoints, proofs, constant append cost."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

import audit.log as audit_log_module
import audit.merkle as merkle_module
from audit import AuditLog, verify_consistency, verify_inclusion, verify_log
from audit.checkpoints import (
    CHECKPOINTS_FILE,
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    load_public_key,
    parse_note,
    read_checkpoint_file,
    signature_problem,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'audit.db'}")


@pytest.fixture()
def log(engine: Engine, tmp_path: Path) -> AuditLog:
    lg = AuditLog(engine, key_dir=tmp_path / "keys", origin="vetting/ws-test")
    lg.create_schema()
    return lg


def fill(log: AuditLog, n: int, case_id: str | None = "case-1") -> None:
    log.append_many([("item.captured", "collector:pages/0.1.0", case_id, f"item-{i}",
                      {"i": i}) for i in range(n)])


# --------------------------------------------------------------------------- schema and keys


def test_create_schema_is_idempotent_and_key_is_private(log: AuditLog, tmp_path: Path) -> None:
    pub_before = (tmp_path / "keys" / PUBLIC_KEY_FILE).read_bytes()
    log.create_schema()
    AuditLog(log.engine, tmp_path / "keys", "vetting/ws-test").create_schema()
    key = tmp_path / "keys" / PRIVATE_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert (tmp_path / "keys" / PUBLIC_KEY_FILE).read_bytes() == pub_before
    with log.engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table'"))}
        triggers = {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type='trigger'"))}
    assert {"audit_event", "audit_checkpoint", "audit_node"} <= tables
    assert {f"{t}_refuse_{op}" for t in ("audit_event", "audit_checkpoint", "audit_node")
            for op in ("update", "delete")} == triggers


@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint", "audit_node"])
@pytest.mark.parametrize("sql", ["UPDATE {t} SET time = time", "DELETE FROM {t}"])
def test_triggers_refuse_update_and_delete(log: AuditLog, table: str, sql: str) -> None:
    fill(log, 4)
    log.checkpoint()
    if table == "audit_node":
        sql = sql.replace("time = time", "hash = hash")
    with pytest.raises(DBAPIError, match="append-only"), log.engine.begin() as conn:
        conn.execute(text(sql.format(t=table)))
    # and through the raw driver, as any other program would
    db = log.engine.url.database
    assert db is not None
    raw = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute(sql.format(t=table))
    raw.close()
    assert verify_log(log.engine, log.key_dir).ok


# --------------------------------------------------------------------------- appending


def test_append_returns_stored_event(log: AuditLog) -> None:
    e0 = log.append("workspace.created", actor="system:cli")
    e1 = log.append("case.opened", actor="Lt. Kim", case_id="case-9", subject="cand-1",
                    payload={"procedure": "abc", "n": [1, 2]})
    assert (e0.seq, e1.seq) == (0, 1)
    assert e1 == log.get(1)
    assert e1.leaf_hash == e1.computed_leaf_hash()
    assert e1.payload == {"procedure": "abc", "n": [1, 2]}
    assert e0.time <= e1.time and e1.time.endswith("Z")
    assert [e.seq for e in log.events()] == [0, 1]
    assert [e.seq for e in log.events(case_id="case-9")] == [1]


def test_invalid_event_writes_nothing(log: AuditLog) -> None:
    with pytest.raises(ValueError):
        log.append("item.captured", actor="x", payload={"bad": float("nan")})
    with pytest.raises(ValueError):
        log.append_many([("a.b", "x", None, None, {}), ("a.b", "", None, None, {})])
    assert log.size() == 0


def test_failed_transaction_keeps_sequence_dense(log: AuditLog) -> None:
    """A failure after the event row is written but before commit leaves no trace."""
    fill(log, 1)
    armed = {"on": True}

    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if armed["on"] and statement.startswith("INSERT INTO audit_node"):
            raise RuntimeError("disk full")

    event.listen(log.engine, "before_cursor_execute", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        log.append("item.captured", actor="x")   # seq 1 completes node (1, 0)
    armed["on"] = False
    assert log.size() == 1
    ev = log.append("item.captured", actor="x", payload={"after": "failure"})
    assert ev.seq == 1
    log.checkpoint()
    assert verify_log(log.engine, log.key_dir).ok


def test_killed_writer_leaves_a_valid_log(tmp_path: Path) -> None:
    """SIGKILL a process in the middle of appending: every event is whole, seq is dense."""
    db, keys = tmp_path / "killed.db", tmp_path / "keys"
    script = f"""
import sys; sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from sqlalchemy import create_engine
from audit import AuditLog
log = AuditLog(create_engine("sqlite:///{db}"), Path({str(keys)!r}), "vetting/kill")
log.create_schema()
print("ready", flush=True)
i = 0
while True:
    log.append("item.captured", actor="collector:x", payload={{"i": i, "pad": "x" * 500}})
    i += 1
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:         # let it get well into its stride first
        with sqlite3.connect(db, timeout=10) as probe:
            if probe.execute("SELECT count(*) FROM audit_event").fetchone()[0] >= 50:
                break
        time.sleep(0.05)
    time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    engine = create_engine(f"sqlite:///{db}")
    log = AuditLog(engine, keys, "vetting/kill")
    n = log.size()
    assert n >= 50
    assert [e.seq for e in log.events()] == list(range(n))
    log.append("audit.resumed", actor="system:test")
    log.checkpoint()
    report = verify_log(engine, keys)
    assert report.ok, report.problems
    assert report.events_checked == n + 1


def test_two_writers_in_turn_share_the_frontier(log: AuditLog) -> None:
    """A second AuditLog object (or a restart) picks up where the first left off."""
    other = AuditLog(log.engine, log.key_dir, log.origin)
    for i in range(37):
        (log if i % 3 else other).append("item.captured", actor="x", payload={"i": i})
    assert log.size() == 37
    cp = other.checkpoint()
    assert cp.tree_size == 37 and cp.root == log.root()
    assert verify_log(log.engine, log.key_dir).ok


def test_stale_writer_appends_after_the_real_head(log: AuditLog) -> None:
    """A writer whose cached frontier is out of date re-reads the head in its transaction."""
    fill(log, 3)
    stale = AuditLog(log.engine, log.key_dir, log.origin)
    with log.engine.connect() as conn:
        stale._head = log._current_head(conn)
    log.append("item.captured", actor="winner")
    ev = stale.append("item.captured", actor="second")
    assert ev.seq == 4
    log.checkpoint()
    assert verify_log(log.engine, log.key_dir).ok


def test_duplicate_seq_is_refused_by_the_primary_key(log: AuditLog) -> None:
    """Two racing writers cannot both commit the same seq: the loser gets an error, no fork."""
    ev = log.append("item.captured", actor="x")
    row = {"seq": ev.seq, "time": ev.time, "actor": "y", "action": ev.action, "case_id": None,
           "subject": None, "payload": "{}", "leaf_hash": ev.leaf_hash,
           "chain_hash": ev.chain_hash}
    from audit.store import audit_event
    with pytest.raises(DBAPIError), log.engine.begin() as conn:
        conn.execute(audit_event.insert(), row)
    assert [e.actor for e in log.events()] == ["x"]


# --------------------------------------------------------------------------- cost does not grow


class Counter:
    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements = 0
        self.rows = 0
        self.hashes = 0
        event.listen(engine, "before_cursor_execute", self._on_execute)
        for mod, name in [(merkle_module, "node_hash"), (audit_log_module, "leaf_hash"),
                          (audit_log_module, "chain_next")]:
            monkeypatch.setattr(mod, name, self._wrap(getattr(mod, name)))

    def _on_execute(self, conn: Any, cursor: Any, statement: str, params: Any,
                    context: Any, executemany: bool) -> None:
        self.statements += 1
        if statement.lstrip().upper().startswith("INSERT"):
            self.rows += len(params) if executemany else 1

    def _wrap(self, fn: Any) -> Any:
        def counted(*args: Any) -> Any:
            self.hashes += 1
            return fn(*args)
        return counted

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.rows, self.hashes


def test_append_cost_does_not_grow_with_the_log(log: AuditLog,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(log.engine, monkeypatch)

    def cost_of_256_appends() -> tuple[int, int, int]:
        before = counter.snapshot()
        per_append = []
        for i in range(256):
            s0 = counter.statements
            log.append("item.captured", actor="x", payload={"i": i})
            per_append.append(counter.statements - s0)
        assert max(per_append) <= 4   # write lock, read head, insert event, insert completed nodes
        after = counter.snapshot()
        return tuple(a - b for a, b in zip(after, before))  # type: ignore[return-value]

    small = cost_of_256_appends()                     # sizes 0..255
    fill(log, 8192 - 256)                             # bulk path to 8192 leaves
    log.append("warm.up", actor="x")                  # (re)load the frontier once
    fill(log, 8192 * 2 - 8193)                        # now at 16384 = 2**14
    large = cost_of_256_appends()                     # sizes 16384..16639
    # Same trailing-bit pattern, so identical work: nothing grows with the log size.
    assert small == large
    _statements, rows, hashes = large
    assert rows == 256 + 255          # 256 events + n - popcount(n) completed nodes
    assert hashes == 256 * 2 + 255    # leaf + chain per event, one node hash per merge


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_signed_stored_and_filed(log: AuditLog) -> None:
    fill(log, 5)
    cp = log.checkpoint()
    assert (cp.idx, cp.tree_size) == (0, 5)
    assert log.checkpoint() == cp                  # nothing new: same checkpoint back
    fill(log, 2)
    cp2 = log.checkpoint()
    assert (cp2.idx, cp2.tree_size) == (1, 7)
    note = parse_note(cp2.note)
    assert note.body == f"vetting/ws-test\n7\n{__import__('base64').b64encode(cp2.root).decode()}\n"
    assert signature_problem(note, load_public_key(log.key_dir)) is None
    entries = list(read_checkpoint_file(log.key_dir / CHECKPOINTS_FILE))
    assert [(e.idx, e.note) for e in entries] == [(0, cp.note), (1, cp2.note)]  # type: ignore[union-attr]


def test_checkpoint_file_catches_up_after_a_crash(log: AuditLog) -> None:
    fill(log, 3)
    log.checkpoint()
    (log.key_dir / CHECKPOINTS_FILE).unlink()      # as if we crashed before writing it
    report = verify_log(log.engine, log.key_dir)
    assert [str(p) for p in report.problems] == [
        "checkpoints.log: missing from " + str(log.key_dir),
        "checkpoint 0: missing from checkpoints.log"]
    fill(log, 1)
    log.checkpoint()
    assert verify_log(log.engine, log.key_dir).ok


def test_torn_checkpoint_line_is_contained(log: AuditLog) -> None:
    """A crash mid-write leaves a torn last line: later entries still start on a fresh line,
    and verify names the torn line instead of losing the entries after it."""
    fill(log, 2)
    log.checkpoint()
    with open(log.key_dir / CHECKPOINTS_FILE, "a") as f:
        f.write('{"checkpoint": 1, "no')
    fill(log, 1)
    log.checkpoint()
    entries = list(read_checkpoint_file(log.key_dir / CHECKPOINTS_FILE))
    assert isinstance(entries[1], str) and "line 2" in entries[1]
    assert [e.idx for e in entries if not isinstance(e, str)] == [0, 1]
    report = verify_log(log.engine, log.key_dir)
    assert [p.where for p in report.problems] == ["checkpoints.log"]


def test_checkpoint_file_tail_read_on_a_long_file(log: AuditLog) -> None:
    from audit.checkpoints import last_filed_index
    for _ in range(5):
        fill(log, 1)
        log.checkpoint()
    path = log.key_dir / CHECKPOINTS_FILE
    assert last_filed_index(path) == 4
    assert last_filed_index(path, tail=100) == 4       # chunk starts mid-line
    assert last_filed_index(path, tail=10) == 4        # no whole line in the tail: full scan
    assert last_filed_index(log.key_dir / "nope.log") == -1


def test_empty_log_checkpoint(log: AuditLog) -> None:
    cp = log.checkpoint()
    assert cp.tree_size == 0
    assert cp.root == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert verify_log(log.engine, log.key_dir).ok


def test_bad_origin_refused(engine: Engine, tmp_path: Path) -> None:
    for bad in ["", "has space", "a+b", "new\nline"]:
        with pytest.raises(ValueError, match="origin"):
            AuditLog(engine, tmp_path, bad)


# --------------------------------------------------------------------------- proofs


def test_proofs_verify_against_signed_roots(log: AuditLog) -> None:
    cps = []
    for n in (1, 6, 13, 32, 45):
        fill(log, n - log.size())
        cps.append(log.checkpoint())
    events = list(log.events())
    for cp in cps:
        for ev in events[:cp.tree_size]:
            proof = log.inclusion_proof(ev.seq, cp.tree_size)
            assert verify_inclusion(ev.leaf_hash, ev.seq, cp.tree_size, proof, cp.root)
            assert not verify_inclusion(ev.leaf_hash, ev.seq, cp.tree_size, proof[:-1], cp.root) \
                or not proof
    for old in cps:
        for new in cps:
            if old.tree_size <= new.tree_size:
                proof = log.consistency_proof(old.tree_size, new.tree_size)
                assert verify_consistency(old.tree_size, new.tree_size, old.root, new.root, proof)
    assert log.root(13) == cps[2].root
    with pytest.raises(ValueError):
        log.inclusion_proof(45, 45)
    with pytest.raises(ValueError):
        log.inclusion_proof(0, 46)
    with pytest.raises(ValueError):
        log.consistency_proof(10, 46)


def test_events_stream_in_order_by_case(log: AuditLog) -> None:
    for i in range(20):
        log.append("item.captured", actor="x", case_id=f"case-{i % 3}", payload={"i": i})
    got = [(e.seq, e.payload["i"]) for e in log.events(case_id="case-1")]
    assert got == [(i, i) for i in range(20) if i % 3 == 1]
    assert json.loads(json.dumps([e.document() for e in log.events()]))[19]["seq"] == 19


# --------------------------------------------------------------------------- PostgreSQL
# Run against AUDIT_TEST_PG_URL if set, else the suite's private server (tests/pg.py).
# Everything happens in a throwaway schema, dropped afterwards.


@pytest.fixture()
def pg_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    import uuid
    pg_url = os.environ.get("AUDIT_TEST_PG_URL") or request.getfixturevalue("postgres").url()
    schema = f"audit_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, connect_args={"connect_timeout": 5})
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = create_engine(pg_url, connect_args={"options": f"-c search_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_postgresql_triggers_and_roundtrip(pg_engine: Engine, tmp_path: Path) -> None:
    engine = pg_engine
    log = AuditLog(engine, tmp_path / "keys", "vetting/pg")
    log.create_schema()
    log.create_schema()
    with engine.connect() as conn:
        triggers = {r[0] for r in conn.execute(text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
            "(CAST('audit_event' AS regclass), CAST('audit_checkpoint' AS regclass), "
            "CAST('audit_node' AS regclass))"))}
    assert len(triggers) == 6
    fill(log, 20)
    log.checkpoint()
    for sql in ["UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event",
                "TRUNCATE audit_event", "DELETE FROM audit_checkpoint",
                "UPDATE audit_node SET hash = hash"]:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert verify_log(engine, tmp_path / "keys").ok


def test_postgresql_proofs_and_tamper_detection(pg_engine: Engine, tmp_path: Path) -> None:
    engine = pg_engine
    log = AuditLog(engine, tmp_path / "keys", "vetting/pg")
    log.create_schema()
    fill(log, 13)
    cp = log.checkpoint()
    restarted = AuditLog(engine, tmp_path / "keys", "vetting/pg")   # frontier reloaded from nodes
    restarted.append("item.captured", actor="y", payload={"ü": 1})
    cp2 = restarted.checkpoint()
    for seq in range(13):
        assert verify_inclusion(log.get(seq).leaf_hash, seq, 13, log.inclusion_proof(seq, 13),
                                cp.root)
    assert verify_consistency(13, 14, cp.root, cp2.root, restarted.consistency_proof(13, 14))
    # A superuser disables the triggers and edits a row: verify still sees it.
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER USER")
        conn.exec_driver_sql("UPDATE audit_event SET actor = 'forger' WHERE seq = 5")
        conn.exec_driver_sql("ALTER TABLE audit_event ENABLE TRIGGER USER")
    report = verify_log(engine, tmp_path / "keys")
    assert [(p.where, p.message) for p in report.problems] == [
        ("event 5", "leaf hash does not match its contents"),
        ("checkpoint 0", "signed root for size 13 does not match the tree of events 0..12"),
        ("checkpoint 1", "signed root for size 14 does not match the tree of events 0..13"),
    ]
