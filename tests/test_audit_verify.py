"""audit.verify: a tamper corpus. Each attack is done the way an attacker with write access to
the database file would do it (raw sqlite3, triggers dropped), and each must be reported at
exactly the right place with the right message."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine

from audit import AuditLog, verify_log
from audit.checkpoints import CHECKPOINTS_FILE, PUBLIC_KEY_FILE, load_public_key, sign_checkpoint
from audit.events import CHAIN_SEED, canonical_bytes, chain_next
from audit.merkle import CompactRange, leaf_hash
from audit.verify import safe_evidence_path

CHECKPOINT_SIZES = [5, 10, 18, 25, 30]   # checkpoints 0..4
EVIDENCE = {  # seq -> (case, path, content)
    3: ("case-A", "ab/cd/abcd01.warc.gz", b"WARC/1.1 capture three"),
    12: ("case-A", "ab/ef/abef02.png", b"\x89PNG screenshot twelve"),
    20: ("case-B", "cd/01/cd0103.txt", "extracted text: twenty, ünïcode".encode()),
}
ORIGIN = "vetting/ws-tamper"


@dataclass
class World:
    db: Path
    key_dir: Path
    evidence: Path
    log: AuditLog

    def verify(self, **kw):  # type: ignore[no-untyped-def]
        return verify_log(create_engine(f"sqlite:///{self.db}"), self.key_dir,
                          evidence_root=self.evidence, **kw)

    def problems(self, **kw) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        report = self.verify(**kw)
        assert not report.ok
        return [(p.where, p.message) for p in report.problems]

    def raw(self) -> sqlite3.Connection:
        """What an attacker does first: open the file and drop the append-only triggers."""
        con = sqlite3.connect(self.db)
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            con.execute(f"DROP TRIGGER {name}")
        return con


@pytest.fixture()
def world(tmp_path: Path) -> World:
    db, keys, ev = tmp_path / "audit.db", tmp_path / "keys", tmp_path / "evidence"
    log = AuditLog(create_engine(f"sqlite:///{db}"), keys, ORIGIN)
    log.create_schema()
    for seq in range(30):
        payload: dict = {"n": seq, "note": f"event {seq}"}
        case = "case-A" if seq % 2 else "case-B"
        if seq in EVIDENCE:
            case, rel, content = EVIDENCE[seq]
            (ev / rel).parent.mkdir(parents=True, exist_ok=True)
            (ev / rel).write_bytes(content)
            payload["artifacts"] = [{"path": rel, "sha256": hashlib.sha256(content).hexdigest()}]
        log.append("item.captured", actor="collector:pages/0.1.0", case_id=case,
                   subject=f"item-{seq}", payload=payload)
        if seq + 1 in CHECKPOINT_SIZES:
            log.checkpoint()
    return World(db, keys, ev, log)


def rows(con: sqlite3.Connection) -> list[list]:
    return [list(r) for r in con.execute(
        "SELECT seq, time, actor, action, case_id, subject, payload, leaf_hash, chain_hash "
        "FROM audit_event ORDER BY seq")]


def rewrite_events(con: sqlite3.Connection, new_rows: list[list]) -> list[bytes]:
    """Replace the whole event table with ``new_rows`` given fresh, self-consistent hashes
    (what an attacker who knows the format but lacks the key can compute). Returns leaves."""
    con.execute("DELETE FROM audit_event")
    chain, leaves = CHAIN_SEED, []
    for i, r in enumerate(new_rows):
        r[0] = i
        leaf = leaf_hash(canonical_bytes(i, r[1], r[2], r[3], r[4], r[5], json.loads(r[6])))
        chain = chain_next(chain, leaf)
        r[7], r[8] = leaf, chain
        leaves.append(leaf)
        con.execute("INSERT INTO audit_event VALUES (?,?,?,?,?,?,?,?,?)", r)
    con.commit()
    return leaves


def roots_at(leaves: list[bytes], sizes: list[int]) -> Iterator[tuple[int, bytes]]:
    cr = CompactRange()
    for lf in leaves:
        cr.append(lf)
        if cr.size in sizes:
            yield cr.size, cr.root()


def root_problem(idx: int, size: int) -> tuple[str, str]:
    return (f"checkpoint {idx}",
            f"signed root for size {size} does not match the tree of events 0..{size - 1}")


# --------------------------------------------------------------------------- the good log


def test_good_log_verifies(world: World) -> None:
    report = world.verify()
    assert report.ok, report.problems
    assert report.events_checked == 30
    assert report.files_checked == 3
    assert report.checkpoints_checked == 5
    assert report.signed_size == 30 and report.unsigned_tail == 0
    assert report.root == world.log.root()
    assert "OK: 30 events, 5 checkpoints, 3 files checked" in report.summary()


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("column,value", [
    ("actor", "Lt. Someone Else"), ("time", "2026-01-01T00:00:00.000000Z"),
    ("action", "item.rejected"), ("case_id", "case-Z"), ("subject", None),
    ("payload", '{"n":17,"note":"edited"}'),
])
def test_edit_one_field_of_one_event(world: World, column: str, value: object) -> None:
    con = world.raw()
    con.execute(f"UPDATE audit_event SET {column} = ? WHERE seq = 17", (value,))
    con.commit()
    assert world.problems() == [
        ("event 17", "leaf hash does not match its contents"),
        root_problem(2, 18), root_problem(3, 25), root_problem(4, 30),
    ]


def test_edit_with_leaf_recomputed_breaks_the_chain(world: World) -> None:
    con = world.raw()
    r = rows(con)[17]
    new_leaf = leaf_hash(canonical_bytes(17, r[1], "forger", r[3], r[4], r[5], json.loads(r[6])))
    con.execute("UPDATE audit_event SET actor='forger', leaf_hash=? WHERE seq=17", (new_leaf,))
    con.commit()
    assert world.problems() == [
        ("event 17", "chain hash does not follow from the previous event"),
        root_problem(2, 18), root_problem(3, 25), root_problem(4, 30),
    ]


def test_edit_with_everything_after_recomputed_is_caught_by_checkpoints(world: World) -> None:
    con = world.raw()
    r = rows(con)
    r[17][2] = "forger"
    rewrite_events(con, r)
    assert world.problems() == [root_problem(2, 18), root_problem(3, 25), root_problem(4, 30)]


def test_payload_not_json(world: World) -> None:
    con = world.raw()
    con.execute("UPDATE audit_event SET payload = '{not json' WHERE seq = 4")
    con.commit()
    probs = world.problems()
    # the stored leaf stands in for the tree, so only the content check fires
    assert len(probs) == 1
    assert probs[0][0] == "event 4"
    assert probs[0][1].startswith("payload is not a valid JSON object")


def test_delete_an_event(world: World) -> None:
    con = world.raw()
    con.execute("DELETE FROM audit_event WHERE seq = 17")
    con.commit()
    assert world.problems() == [
        ("event 17", "missing (sequence jumps from 16 to 18)"),
        root_problem(2, 18), root_problem(3, 25),
        ("checkpoint 4", "covers 30 events but only 29 are stored"),
    ]


def test_delete_a_run_of_events(world: World) -> None:
    con = world.raw()
    con.execute("DELETE FROM audit_event WHERE seq BETWEEN 6 AND 8")
    con.commit()
    probs = world.problems()
    assert probs[0] == ("event 6..8", "missing (sequence jumps from 5 to 9)")
    assert {w for w, _ in probs} == {"event 6..8", "checkpoint 1", "checkpoint 2", "checkpoint 3",
                                     "checkpoint 4"}


def test_insert_an_event(world: World) -> None:
    """The careful forger: a new event at 17, everything after renumbered and re-hashed."""
    con = world.raw()
    r = rows(con)
    forged = list(r[17])
    forged[2], forged[6] = "Lt. Forger", '{"note":"never happened"}'
    rewrite_events(con, r[:17] + [forged] + r[17:])
    report = world.verify()
    assert [(p.where, p.message) for p in report.problems] == [
        root_problem(2, 18), root_problem(3, 25), root_problem(4, 30)]
    assert report.events_checked == 31


def test_insert_with_naive_renumbering(world: World) -> None:
    """A copy of event 27 slipped in at 28, the rest shifted without re-hashing: the moved
    events' leaves no longer match (seq is hashed), the copy's chain link is broken, and the
    links 28->29->30 of the moved rows still hold."""
    con = world.raw()
    con.execute("UPDATE audit_event SET seq = seq + 1000 WHERE seq >= 28")
    con.execute("UPDATE audit_event SET seq = seq - 999 WHERE seq >= 1000")
    r = rows(con)[27]
    con.execute("INSERT INTO audit_event VALUES (28,?,?,?,?,?,?,?,?)", r[1:])
    con.commit()
    assert world.problems() == [
        ("event 28", "leaf hash does not match its contents"),
        ("event 28", "chain hash does not follow from the previous event"),
        ("event 29", "leaf hash does not match its contents"),   # seq is inside the leaf
        root_problem(4, 30),                                      # reported once 30 are read
        ("event 30", "leaf hash does not match its contents"),
    ]


def test_swap_two_events(world: World) -> None:
    con = world.raw()
    r = rows(con)
    for seq, src in ((10, r[11]), (11, r[10])):
        con.execute("UPDATE audit_event SET time=?, actor=?, action=?, case_id=?, subject=?, "
                    "payload=?, leaf_hash=?, chain_hash=? WHERE seq=?", (*src[1:], seq))
    con.commit()
    assert world.problems() == [
        ("event 10", "leaf hash does not match its contents"),
        ("event 10", "chain hash does not follow from the previous event"),
        ("event 11", "leaf hash does not match its contents"),
        ("event 11", "chain hash does not follow from the previous event"),
        ("event 12", "chain hash does not follow from the previous event"),
        root_problem(2, 18), root_problem(3, 25), root_problem(4, 30),
    ]


def test_truncate_the_tail_and_its_checkpoints(world: World) -> None:
    con = world.raw()
    con.execute("DELETE FROM audit_event WHERE seq >= 17")
    con.execute("DELETE FROM audit_checkpoint WHERE tree_size > 17")
    con.commit()
    assert world.problems() == [
        ("checkpoint 2", "in checkpoints.log but missing from the database"),
        ("checkpoint 3", "in checkpoints.log but missing from the database"),
        ("checkpoint 4", "in checkpoints.log but missing from the database"),
        ("event 17..end", "missing (log truncated: checkpoint 4 covers 30 events, log has 17)"),
    ]


def test_truncate_the_tail_only(world: World) -> None:
    con = world.raw()
    con.execute("DELETE FROM audit_event WHERE seq >= 25")
    con.commit()
    assert world.problems() == [
        ("event 25..end", "missing (log truncated: checkpoint 4 covers 30 events, log has 25)")]


def test_empty_the_log(world: World) -> None:
    con = world.raw()
    con.execute("DELETE FROM audit_event")
    con.execute("DELETE FROM audit_checkpoint")
    con.commit()
    probs = world.problems()
    assert probs[-1] == ("event 0..end",
                         "missing (log truncated: checkpoint 4 covers 30 events, log has 0)")
    assert len(probs) == 6


def test_append_after_last_checkpoint_is_reported_as_unsigned(world: World) -> None:
    """An event appended by anyone after the last checkpoint is intact but not yet signed:
    verify cannot tell a forged tail from a legitimate one, and says how many it is."""
    con = world.raw()
    r = rows(con)
    r.append(list(r[-1]))
    r[-1][2] = "who knows"
    rewrite_events(con, r)
    report = world.verify()
    assert report.ok
    assert report.unsigned_tail == 1 and report.signed_size == 30


# --------------------------------------------------------------------------- checkpoints


def test_rewrite_whole_log_with_a_fresh_key(world: World) -> None:
    """The attacker rewrites history consistently and re-signs every checkpoint, but with
    their own key: checkpoints.log and the real public key in key_dir contradict them."""
    con = world.raw()
    r = rows(con)
    r[5][6] = '{"n":5,"note":"rewritten"}'
    leaves = rewrite_events(con, r)
    fresh = Ed25519PrivateKey.generate()
    for idx, (size, root) in enumerate(roots_at(leaves, CHECKPOINT_SIZES)):
        con.execute("UPDATE audit_checkpoint SET root=?, note=? WHERE idx=?",
                    (root, sign_checkpoint(fresh, ORIGIN, size, root), idx))
    con.commit()
    expected = []
    for idx, size in enumerate(CHECKPOINT_SIZES):
        expected += [(f"checkpoint {idx}", "differs between the database and checkpoints.log"),
                     (f"checkpoint {idx}", "no signature by the log's public key")]
    for idx, size in enumerate(CHECKPOINT_SIZES):
        if size > 5:  # the file's (genuine) roots: event 5 changed
            expected.append(root_problem(idx, size))
    assert sorted(world.problems()) == sorted(expected)


def test_key_dir_replaced_but_published_key_pinned(world: World) -> None:
    """If the attacker can also rewrite key_dir, only a public key held elsewhere helps."""
    genuine = load_public_key(world.key_dir)
    con = world.raw()
    r = rows(con)
    r[5][6] = '{"n":5,"note":"rewritten"}'
    leaves = rewrite_events(con, r)
    fresh = Ed25519PrivateKey.generate()
    (world.key_dir / CHECKPOINTS_FILE).unlink()
    for idx, (size, root) in enumerate(roots_at(leaves, CHECKPOINT_SIZES)):
        note = sign_checkpoint(fresh, ORIGIN, size, root)
        con.execute("UPDATE audit_checkpoint SET root=?, note=? WHERE idx=?", (root, note, idx))
        with open(world.key_dir / CHECKPOINTS_FILE, "a") as f:
            f.write(json.dumps({"checkpoint": idx, "time": "t", "note": note}) + "\n")
    con.commit()
    from audit.checkpoints import public_key_pem
    (world.key_dir / PUBLIC_KEY_FILE).write_bytes(public_key_pem(fresh.public_key()))
    assert world.verify().ok          # a total compromise of key_dir is not detectable alone...
    probs = world.problems(public_key=genuine)   # ...but is against the published key
    assert probs == [(f"checkpoint {i}", "no signature by the log's public key")
                     for i in range(5)]


def test_replace_a_checkpoint_signature(world: World) -> None:
    con = world.raw()
    (note,) = con.execute("SELECT note FROM audit_checkpoint WHERE idx = 3").fetchone()
    body, sig_line = note.split("\n\n")
    name, b64 = sig_line.rstrip("\n").rsplit(" ", 1)
    import base64
    blob = bytearray(base64.b64decode(b64))
    blob[10] ^= 1  # keep the key id, break the signature
    forged = f"{body}\n\n{name} {base64.b64encode(bytes(blob)).decode()}\n"
    con.execute("UPDATE audit_checkpoint SET note = ? WHERE idx = 3", (forged,))
    con.commit()
    assert world.problems() == [
        ("checkpoint 3", "differs between the database and checkpoints.log"),
        ("checkpoint 3", "signature does not verify with the log's public key"),
    ]


def test_checkpoint_root_column_edited(world: World) -> None:
    con = world.raw()
    con.execute("UPDATE audit_checkpoint SET root = ? WHERE idx = 1", (bytes(32),))
    con.commit()
    assert world.problems() == [
        ("checkpoint 1", "stored size/root columns disagree with its signed note")]


def test_checkpoints_log_edited(world: World) -> None:
    path = world.key_dir / CHECKPOINTS_FILE
    lines = path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["note"] = entry["note"].replace("\n10\n", "\n11\n")
    lines[1] = json.dumps(entry) + "\n"
    lines.append("garbage\n")
    path.write_text("".join(lines))
    assert world.problems() == [
        ("checkpoints.log", ("line 6 of checkpoints.log is malformed: "
                            "Expecting value: line 1 column 1 (char 0)")),
        ("checkpoint 1", "differs between the database and checkpoints.log"),
        ("checkpoint 1", "signature does not verify with the log's public key"),
        root_problem(1, 11),
    ]


def test_missing_public_key_is_a_problem(world: World) -> None:
    import shutil
    shutil.rmtree(world.key_dir)
    probs = world.problems()
    assert probs[0][0] == "key" and probs[0][1].startswith("cannot check signatures")


# --------------------------------------------------------------------------- evidence


def test_change_one_byte_of_an_evidence_file(world: World) -> None:
    rel = EVIDENCE[12][1]
    data = bytearray((world.evidence / rel).read_bytes())
    data[3] ^= 0x20
    (world.evidence / rel).write_bytes(bytes(data))
    got = hashlib.sha256(bytes(data)).hexdigest()
    want = hashlib.sha256(EVIDENCE[12][2]).hexdigest()
    assert world.problems() == [
        (f"file {rel}", (f"contents changed since event 12 recorded them "
                        f"(sha256 {got}, recorded {want})"))]


def test_delete_an_evidence_file(world: World) -> None:
    rel = EVIDENCE[3][1]
    (world.evidence / rel).unlink()
    report = world.verify()
    assert [(p.where, p.message) for p in report.problems] == [
        (f"file {rel}", "missing (recorded by event 3)")]
    assert report.files_checked == 2


def test_evidence_disposed_by_a_later_event_is_not_a_problem(world: World) -> None:
    """An erasure removes a candidate's files and says so in an event: the log stays OK."""
    for seq in (3, 12):
        (world.evidence / EVIDENCE[seq][1]).unlink()
    world.log.append("candidate.erased", actor="Records Officer", subject="cand-1",
                     payload={"disposed_evidence": {"paths": [EVIDENCE[3][1]], "prefixes": ["ab/ef"]}})
    world.log.checkpoint()
    report = world.verify()
    assert report.ok, report.problems
    assert (report.files_checked, report.files_disposed) == (1, 2)
    assert "2 disposed by design" in report.summary()


def test_a_disposal_cannot_excuse_a_file_recorded_after_it(world: World) -> None:
    world.log.append("candidate.erased", actor="Records Officer", subject="cand-1",
                     payload={"disposed_evidence": {"paths": ["zz/later.txt"], "prefixes": []}})
    world.log.append("item.captured", actor="collector:pages/0.1.0", case_id="case-A", subject="item-late",
                     payload={"artifacts": [{"path": "zz/later.txt", "sha256": "0" * 64}]})
    world.log.checkpoint()
    assert world.problems() == [("file zz/later.txt", "missing (recorded by event 31)")]


def test_a_disposal_of_other_files_does_not_excuse_a_deletion(world: World) -> None:
    (world.evidence / EVIDENCE[20][1]).unlink()
    world.log.append("candidate.erased", actor="Records Officer", subject="cand-1",
                     payload={"disposed_evidence": {"paths": [EVIDENCE[3][1]], "prefixes": ["cd/0"]}})
    world.log.checkpoint()
    assert world.problems() == [(f"file {EVIDENCE[20][1]}", "missing (recorded by event 20)")]


def test_a_disposal_added_by_sql_breaks_the_log(world: World) -> None:
    """Forging an erasure event to excuse a deleted file is an insertion: the hashes catch it."""
    (world.evidence / EVIDENCE[3][1]).unlink()
    con = world.raw()
    payload = json.dumps({"disposed_evidence": {"paths": [EVIDENCE[3][1]], "prefixes": []}})
    con.execute("INSERT INTO audit_event (seq, time, actor, action, case_id, subject, payload, leaf_hash, "
                "chain_hash) VALUES (30, '2026-01-01T00:00:00.000000Z', 'x', 'candidate.erased', NULL, NULL, ?, "
                "zeroblob(32), zeroblob(32))", (payload,))
    con.commit()
    wheres = [w for w, _ in world.problems()]
    assert "event 30" in wheres


def test_case_filter_limits_evidence_only(world: World) -> None:
    (world.evidence / EVIDENCE[20][1]).write_bytes(b"changed")     # case-B's file
    a = world.verify(case_id="case-A")
    assert a.ok and a.files_checked == 2 and a.events_checked == 30
    b = world.problems(case_id="case-B")
    assert [w for w, _ in b] == [f"file {EVIDENCE[20][1]}"]
    # ...while the chain and tree are still checked in full whatever the case
    con = world.raw()
    con.execute("UPDATE audit_event SET actor = 'x' WHERE seq = 2")
    con.commit()
    assert ("event 2", "leaf hash does not match its contents") in world.problems(
        case_id="case-A")


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/passwd", "ab/../../outside.txt",
                                 "..", "", "a\\..\\b", "~root/x"])
def test_artifact_paths_escaping_the_evidence_root(tmp_path: Path, bad: str) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "k", "v/x")
    log.create_schema()
    log.append("item.captured", actor="x", payload={
        "artifacts": [{"path": bad, "sha256": hashlib.sha256(b"secret").hexdigest()}]})
    log.checkpoint()
    (tmp_path / "ev").mkdir()
    report = verify_log(log.engine, tmp_path / "k", evidence_root=tmp_path / "ev")
    assert [(p.where, p.message) for p in report.problems] == [
        ("event 0", f"artifact path {bad!r} escapes the evidence root")]
    assert report.files_checked == 0


def test_symlink_out_of_the_evidence_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ev").mkdir()
    (tmp_path / "secret").write_text("s")
    (tmp_path / "ev" / "link").symlink_to(tmp_path / "secret")
    assert safe_evidence_path(tmp_path / "ev", "link") is None
    assert safe_evidence_path(tmp_path / "ev", "ok/file") == tmp_path / "ev" / "ok" / "file"


def test_malformed_artifact_entries(tmp_path: Path) -> None:
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "k", "v/x")
    log.create_schema()
    log.append("item.captured", actor="x", payload={"artifacts": "not a list"})
    log.append("item.captured", actor="x", payload={"artifacts": [{"path": "a"}]})
    log.checkpoint()
    report = verify_log(log.engine, tmp_path / "k", evidence_root=tmp_path)
    assert [(p.where, p.message) for p in report.problems] == [
        ("event 0", "payload 'artifacts' is not a list"),
        ("event 1", "artifact #0 is not an object with string 'path' and 'sha256'")]


def test_problem_list_is_capped_but_counted(world: World) -> None:
    con = world.raw()
    con.execute("UPDATE audit_event SET actor = 'x'")
    con.commit()
    report = world.verify(max_problems=10)
    assert len(report.problems) == 10 and report.suppressed > 0 and not report.ok


def test_not_an_audit_database(tmp_path: Path) -> None:
    report = verify_log(create_engine(f"sqlite:///{tmp_path / 'empty.db'}"), tmp_path / "k")
    assert [(p.where, p.message) for p in report.problems] == [
        ("database", "no audit log here: table audit_event, audit_checkpoint missing")]


def test_field_of_the_wrong_type(world: World) -> None:
    """SQLite stores a blob even in a TEXT column: bytes cannot be the signed string."""
    con = world.raw()
    con.execute("UPDATE audit_event SET actor = X'4c742e' WHERE seq = 8")
    con.commit()
    probs = world.problems()
    assert probs[0][0] == "event 8" and probs[0][1].startswith("fields cannot be serialized")
    assert probs[1:] == []    # the stored leaf stands in for the tree


def test_verify_memory_does_not_grow_with_the_log(tmp_path: Path) -> None:
    """Streaming, not loading: the verifier's peak Python allocation over a log ten times
    longer stays about the same (tracemalloc counts bytes, so this is not a timing test)."""
    import tracemalloc

    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'm.db'}"), tmp_path / "k", "v/mem")
    log.create_schema()

    def grow_to(n: int) -> None:
        log.append_many([("request.allowed", "collector:pages/0.1.0", "case-1", f"i-{i}",
                          {"url": f"https://example.test/{i}", "pad": "x" * 200})
                         for i in range(log.size(), n)])
        log.checkpoint()

    def peak() -> int:
        tracemalloc.start()
        report = verify_log(log.engine, log.key_dir)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.ok
        return top

    grow_to(8_000)             # several fetch batches already
    small = peak()
    grow_to(32_000)
    large = peak()
    assert large < small * 1.15, (small, large)


def test_evidence_paths_answer_as_safe_evidence_path(tmp_path: Path) -> None:
    """The verifier's folder-caching resolver gives safe_evidence_path's answer for every path."""
    from audit.verify import EvidencePaths

    root = tmp_path / "ev"
    (root / "sha256" / "ab").mkdir(parents=True)
    (root / "sha256" / "ab" / "f.body").write_text("x")
    (tmp_path / "secret").write_text("s")
    (root / "sha256" / "ab" / "out").symlink_to(tmp_path / "secret")
    (root / "sha256" / "ab" / "in").symlink_to(root / "sha256" / "ab" / "f.body")
    (root / "away").symlink_to(tmp_path)                      # a folder leading out ...
    (tmp_path / "back").symlink_to(root / "sha256" / "ab" / "f.body")  # ... and a link back in
    (root / "inner").symlink_to(root / "sha256")              # a folder link that stays inside
    rels = ["sha256/ab/f.body", "sha256/ab/out", "sha256/ab/in", "sha256/ab/gone", "sha256/zz/gone",
            "away/secret", "away/back", "inner/ab/f.body", "inner/ab/out", "sha256/./ab/f.body",
            "sha256//ab/f.body", "sha256/ab/", "../secret", "sha256/../../secret", "/etc/passwd",
            "~/x", "a\\b", "a\x00b", "", "f.body", "sha256", "."]
    paths = EvidencePaths()
    for _ in range(2):  # the second round answers from the folder cache
        for rel in rels:
            assert paths(root, rel) == safe_evidence_path(root, rel), rel


def test_a_record_at_a_negative_offset_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "ev").mkdir()
    member = gzip.compress(b"WARC/1.1\r\n\r\n")
    (tmp_path / "ev" / "a.warc.gz").write_bytes(member)
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "k", "v/x")
    log.create_schema()
    digest = hashlib.sha256(b"WARC/1.1\r\n\r\n").hexdigest()
    log.append("item.captured", actor="x", payload={"warc_records": [
        {"file": "a.warc.gz", "offset": 0, "length": len(member), "sha256": digest},
        {"file": "a.warc.gz", "offset": -1, "length": len(member), "sha256": digest},
        {"file": "a.warc.gz", "offset": 0, "length": -1, "sha256": digest}]})
    log.checkpoint()
    report = verify_log(log.engine, tmp_path / "k", evidence_root=tmp_path / "ev")
    assert report.records_checked == 3
    assert [p.where for p in report.problems] == ["file a.warc.gz offset -1", "file a.warc.gz offset 0"]
    assert all("cut short" in p.message for p in report.problems)


def test_the_verifiers_payload_parser_answers_as_json_loads() -> None:
    import json

    from audit.verify import _loads

    for text in ['{"a":1}', ' {"a":1}', '{"a":1} ', '{"a":1}x', '{"a":', '[1]', '{"a":NaN}', '{"a":1,"a":2}',
                 "{}", '{"a":"\\ud800"}', b'{"a":1}', "", "{" * 100_000, '\ufeff{"a":1}']:
        def answer(parse, text=text):  # type: ignore[no-untyped-def]
            try:
                return ("ok", repr(parse(text)))
            except (ValueError, TypeError, RecursionError) as exc:
                return (type(exc).__name__, str(exc))
        assert answer(_loads) == answer(json.loads), text[:20]
