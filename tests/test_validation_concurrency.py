"""Validation under concurrent writers and partial failure, with real processes.

* two first decisions on one item at once: exactly one wins, the other is refused in one line;
* one decision in force per item is a database constraint, not only a check in Python;
* a decisions file is applied in ONE transaction: a bad entry, a duplicate item, or a failure
  in the middle of writing changes nothing (a dump of the database is compared);
* ``vet concur`` while ``vet run`` collects: both succeed and the log verifies.

Commands act as the logged-in accounts of tests/team.py: the investigators sortiz and kosei
(both assigned to the built case) decide, the supervisor amoreno concurs.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from case_fixtures import add_item, build_case, flag
from conftest import REPO
from team import Team, make_team

from vetting.domain.yamlsource import InputError
from vetting.review.validation import DecisionRequest, apply_decisions_file, decide

pytestmark = pytest.mark.timeout(600)
GUN = "Me at the lake, pointing my rifle at the neighbours' dog for fun."


@pytest.fixture
def built(tmp_path: Path):
    return build_case(tmp_path)


@pytest.fixture
def people(built, tmp_path: Path) -> Team:
    """The built workspace's team; its case is assigned to both investigators, and every
    session has had its first use (an audit event of its own) before the test starts."""
    from vetting.people.assignments import assign_case

    team = make_team(built.ws, tmp_path)
    for login in ("sortiz", "kosei"):
        assign_case(built.ws, built.plan.case.id, login, actor=team.account("amoreno"))
    for login in team.tokens:
        team.account(login)
    return team


def dump(db: Path) -> list[str]:
    """The database's content, less the login bookkeeping (a command using a session moves its
    idle clock in the session and account rows: not a change to the casework)."""
    with sqlite3.connect(db) as con:
        return [line for line in con.iterdump()
                if not line.startswith(('INSERT INTO "authsession"', 'INSERT INTO "account"'))]


def test_two_first_decisions_at_once_exactly_one_wins(built, people: Team) -> None:
    item = add_item(built, "a", "Volunteered at the food bank today.")
    built.ws.engine.dispose()
    go = built.ws.root.parent / "go"
    script = ("import sys, time, pathlib, subprocess\n"
              "go = pathlib.Path(sys.argv[1])\n"
              "while not go.exists(): time.sleep(0.002)\n"
              "r = subprocess.run([sys.executable, '-m', 'vetting.cli.main'] + sys.argv[2:], capture_output=True, text=True)\n"
              "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); sys.exit(r.returncode)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(go), "--workspace", str(built.ws.root), "validate",
                               item.id, "--decision", decision, "--reason", "disclosed account, content reviewed"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, **people.env(login)))
             for decision, login in (("validated", "sortiz"), ("rejected", "kosei"))]
    time.sleep(0.5)
    go.touch()
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1], results
    loser = next(err for _, err, code in results if code == 1)
    assert len(loser.strip().splitlines()) == 1 and "already has decision" in loser, loser
    assert "Traceback" not in loser
    with sqlite3.connect(built.ws.root / "vetting.db") as con:
        assert con.execute("SELECT count(*) FROM decision WHERE item_id=?", (item.id,)).fetchone()[0] == 1
        (decided_by,) = con.execute("SELECT decided_by FROM decision WHERE item_id=?", (item.id,)).fetchone()
    winner = "sortiz" if results[0][2] == 0 else "kosei"
    assert decided_by == f"user:{winner}"  # the winner's account, from its own login
    assert people.vet("sortiz", "audit", "verify").returncode == 0


def test_one_decision_in_force_is_a_database_constraint(built) -> None:
    item = add_item(built, "a", "Volunteered at the food bank today.")
    first = decide(built.ws, DecisionRequest(item.id, "validated", "disclosed account, reviewed", "Inv. Lee"))
    assert first is not None
    revision = decide(built.ws, DecisionRequest(item.id, "rejected", "a namesake after all, reviewed", "Inv. Lee",
                                                supersedes=first.id))
    assert revision is not None
    built.ws.engine.dispose()
    with sqlite3.connect(built.ws.root / "vetting.db") as con:
        columns = "item_id, case_id, decision, reason, decided_by, decided_at, findings_json, " \
                  "discredit_justification, mitigating, supersedes, evidence_verified"
        # a second first decision on the item
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            con.execute(f"INSERT INTO decision ({columns}) SELECT item_id, case_id, 'rejected', reason, 'X', "
                        f"decided_at, '[]', '', '', NULL, 1 FROM decision WHERE id={first.id}")
        # a second revision of the same decision (a fork of the chain)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            con.execute(f"INSERT INTO decision ({columns}) SELECT item_id, case_id, 'rejected', reason, 'X', "
                        f"decided_at, '[]', '', '', {first.id}, 1 FROM decision WHERE id={first.id}")


def _decisions_file(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"label": "batch", "decisions": entries}, sort_keys=False))
    return path


def _entry(item_id: str, **extra) -> dict:
    """One entry of a decisions file: no ``by`` (the file decides as the logged-in account)."""
    return dict({"item": item_id, "decision": "validated", "reason": "disclosed account, reviewed"}, **extra)


def test_a_batch_with_a_duplicate_item_changes_nothing(built, people: Team, tmp_path: Path) -> None:
    a = add_item(built, "a", "Volunteered at the food bank today.")
    b = add_item(built, "b", "Coached the youth league on Saturday.")
    path = _decisions_file(tmp_path / "d.yaml", [_entry(a.id), _entry(b.id),
                                                 _entry(a.id, decision="rejected", reason="changed my mind here")])
    built.ws.engine.dispose()
    before = dump(built.ws.root / "vetting.db")
    result = people.vet("sortiz", "validate", "--file", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"item {a.id} already has an entry in this file" in result.stderr
    assert dump(built.ws.root / "vetting.db") == before


def test_a_batch_with_one_bad_entry_changes_nothing(built, people: Team, tmp_path: Path) -> None:
    a = add_item(built, "a", "Volunteered at the food bank today.")
    b = add_item(built, "b", "Coached the youth league on Saturday.")
    path = _decisions_file(tmp_path / "d.yaml", [_entry(a.id), _entry(b.id, findings=["no-such-category"])])
    built.ws.engine.dispose()
    before = dump(built.ws.root / "vetting.db")
    result = people.vet("sortiz", "validate", "--file", str(path))
    assert result.returncode == 2 and "unknown review category" in result.stderr and "Traceback" not in result.stderr
    assert dump(built.ws.root / "vetting.db") == before


def test_a_failure_while_writing_the_batch_rolls_all_of_it_back(built, tmp_path: Path) -> None:
    """The third entry's insert fails inside the database (as a full disk or a lost connection would):
    the two entries written before it in the same transaction are rolled back with it. The adverse
    finding in the batch is concurred afterwards, as its own act by a second account: a file that
    tries to concur in the batch is refused whole before anything is written."""
    from vetting.review.validation import concur

    items = [add_item(built, k, f"Volunteered at the food bank, week {k}.") for k in ("a", "b", "c")]
    gun = add_item(built, "gun", GUN, flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e")])
    adverse = dict(findings=["tactical-instruments"], discredit="Pointing a firearm at an animal.")
    entries = [_entry(i.id) for i in items[:2]] + [_entry(gun.id, **adverse), _entry(items[2].id)]
    path = _decisions_file(tmp_path / "d.yaml", entries)
    concurring = _decisions_file(tmp_path / "concurring.yaml", [
        *entries[:2], _entry(gun.id, **adverse, concur_by="Sgt. Park", concur_reason="agreed"), entries[3]])
    built.ws.engine.dispose()
    db = built.ws.root / "vetting.db"
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TRIGGER boom BEFORE INSERT ON decision WHEN NEW.item_id = '{items[2].id}' "
                    "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END")
    before = dump(db)
    with pytest.raises(InputError, match="cannot concur") as refused:
        apply_decisions_file(built.ws, concurring, "user:sortiz")
    assert "concurring.yaml" in str(refused.value.problems[0])
    with pytest.raises(InputError, match="nothing applied"):
        apply_decisions_file(built.ws, path, "user:sortiz")
    built.ws.engine.dispose()
    assert dump(db) == before
    with sqlite3.connect(db) as con:
        con.execute("DROP TRIGGER boom")
    applied = apply_decisions_file(built.ws, path, "user:sortiz")
    assert len(applied) == 4 and {d.decided_by for d in applied} == {"user:sortiz"}
    (gun_decision,) = [d for d in applied if d.item_id == gun.id]
    concurrence = concur(built.ws, gun_decision.id, "user:amoreno", "agreed")
    assert concurrence is not None and concurrence.concurred_by == "user:amoreno"


def test_concur_while_a_run_collects(tmp_path: Path, demo_web, auth_file: Path) -> None:
    """`vet concur` and `vet validate` in other processes while `vet run` appends request and capture events."""
    b = build_case(tmp_path)
    team = make_team(b.ws, tmp_path)
    gun = add_item(b, "gun", GUN, flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e")])
    decision = decide(b.ws, DecisionRequest(gun.id, "validated", "disclosed account, reviewed", "user:sortiz",
                                            ("tactical-instruments",), discredit="Pointing a firearm at an animal."))
    assert decision is not None
    # A second procedure, on loopback, fetching the demo web slowly, for a second candidate.
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    urls = [demo_web.base_url("news") + f"/no-such-article-{n}" for n in range(16)]
    data.update(id="loopback-check", title="Loopback check")
    data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.3, "concurrency_per_domain": 1})
    data["steps"] = [dict(data["steps"][0], inputs=[], sources=urls)]
    (tmp_path / "sites").mkdir(exist_ok=True)
    proc = tmp_path / "loopback.yaml"
    proc.write_text(yaml.safe_dump(data, sort_keys=False))
    ws = b.ws.root
    b.ws.engine.dispose()
    team.vet("dwhitfield", "procedure", "approve", str(proc), check=True)
    team.vet("sortiz", "candidate", "add", "--id", "kim-lee", "--name", "Kim Lee", "--authorization", str(auth_file),
             "--signed-on", "2026-10-01", check=True)
    run = subprocess.Popen([sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws), "run", "kim-lee",
                            "--procedure", "loopback-check"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, **team.env("sortiz")))

    def requests() -> int:
        try:
            with sqlite3.connect(ws / "vetting.db", timeout=5) as db:
                return db.execute("SELECT count(*) FROM audit_event WHERE action='request.allowed'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 120
    while requests() < 3 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert run.poll() is None, "the run ended before the concurrence could overlap it"
    concurred = team.vet("amoreno", "concur", str(decision.id), "--reason", "agree")
    assert concurred.returncode == 0, concurred.stdout + concurred.stderr
    assert run.poll() is None, "the concurrence did not overlap the run"
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out[-2000:] + err[-2000:]
    verify = team.vet("sortiz", "audit", "verify")
    assert verify.returncode == 0, verify.stdout
    with sqlite3.connect(ws / "vetting.db") as db:
        seqs = [s for (s,) in db.execute("SELECT seq FROM audit_event ORDER BY seq")]
        concurred_seq = db.execute("SELECT seq FROM audit_event WHERE action='item.concurred'").fetchone()[0]
        run_seqs = [s for (s,) in db.execute("SELECT seq FROM audit_event WHERE case_id LIKE 'case-kim-lee-%'")]
    assert seqs == list(range(len(seqs)))
    assert min(run_seqs) < concurred_seq < max(run_seqs)  # the concurrence landed in the middle of the run
