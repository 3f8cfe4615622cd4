"""Validation under concurrent writers and partial failure, with real processes.

* two first decisions on one item at once: exactly one wins, the other is refused in one line;
* one decision in force per item is a database constraint, not only a check in Python;
* a decisions file is applied in ONE transaction: a bad entry, a duplicate item, or a failure
  in the middle of writing changes nothing (a dump of the database is compared);
* ``vet concur`` while ``vet run`` collects: both succeed and the log verifies.
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
from conftest import REPO, vet

from vetting.domain.yamlsource import InputError
from vetting.review.validation import DecisionRequest, apply_decisions_file, decide

pytestmark = pytest.mark.timeout(600)
GUN = "Me at the lake, pointing my rifle at the neighbours' dog for fun."


@pytest.fixture
def built(tmp_path: Path):
    return build_case(tmp_path)


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return list(con.iterdump())


def test_two_first_decisions_at_once_exactly_one_wins(built) -> None:
    item = add_item(built, "a", "Volunteered at the food bank today.")
    built.ws.engine.dispose()
    go = built.ws.root.parent / "go"
    script = ("import sys, time, pathlib, subprocess\n"
              "go = pathlib.Path(sys.argv[1])\n"
              "while not go.exists(): time.sleep(0.002)\n"
              "r = subprocess.run([sys.executable, '-m', 'vetting.cli.main'] + sys.argv[2:], capture_output=True, text=True)\n"
              "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); sys.exit(r.returncode)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(go), "--workspace", str(built.ws.root), "validate",
                               item.id, "--decision", decision, "--reason", "disclosed account, content reviewed",
                               "--by", by], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for decision, by in (("validated", "Inv. Lee"), ("rejected", "Inv. Kim"))]
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
    assert vet("audit", "verify", workspace=built.ws.root).returncode == 0


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
    return dict({"item": item_id, "decision": "validated", "reason": "disclosed account, reviewed", "by": "Inv. Lee"},
                **extra)


def test_a_batch_with_a_duplicate_item_changes_nothing(built, tmp_path: Path) -> None:
    a = add_item(built, "a", "Volunteered at the food bank today.")
    b = add_item(built, "b", "Coached the youth league on Saturday.")
    path = _decisions_file(tmp_path / "d.yaml", [_entry(a.id), _entry(b.id),
                                                 _entry(a.id, decision="rejected", reason="changed my mind here")])
    built.ws.engine.dispose()
    before = dump(built.ws.root / "vetting.db")
    result = vet("validate", "--file", str(path), workspace=built.ws.root)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"item {a.id} already has an entry in this file" in result.stderr
    assert dump(built.ws.root / "vetting.db") == before


def test_a_batch_with_one_bad_entry_changes_nothing(built, tmp_path: Path) -> None:
    a = add_item(built, "a", "Volunteered at the food bank today.")
    b = add_item(built, "b", "Coached the youth league on Saturday.")
    path = _decisions_file(tmp_path / "d.yaml", [_entry(a.id), _entry(b.id, findings=["no-such-category"])])
    built.ws.engine.dispose()
    before = dump(built.ws.root / "vetting.db")
    result = vet("validate", "--file", str(path), workspace=built.ws.root)
    assert result.returncode == 2 and "unknown review category" in result.stderr and "Traceback" not in result.stderr
    assert dump(built.ws.root / "vetting.db") == before


def test_a_failure_while_writing_the_batch_rolls_all_of_it_back(built, tmp_path: Path) -> None:
    """The third entry's insert fails inside the database (as a full disk or a lost connection would):
    the two entries written before it in the same transaction are rolled back with it."""
    items = [add_item(built, k, f"Volunteered at the food bank, week {k}.") for k in ("a", "b", "c")]
    gun = add_item(built, "gun", GUN, flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e")])
    entries = [_entry(i.id) for i in items[:2]]
    entries.append(_entry(gun.id, findings=["tactical-instruments"], discredit="Pointing a firearm at an animal.",
                          concur_by="Sgt. Park", concur_reason="agreed"))
    entries.append(_entry(items[2].id))
    path = _decisions_file(tmp_path / "d.yaml", entries)
    built.ws.engine.dispose()
    db = built.ws.root / "vetting.db"
    with sqlite3.connect(db) as con:
        con.execute(f"CREATE TRIGGER boom BEFORE INSERT ON decision WHEN NEW.item_id = '{items[2].id}' "
                    "BEGIN SELECT RAISE(ABORT, 'disk full (simulated)'); END")
    before = dump(db)
    with pytest.raises(InputError, match="nothing applied"):
        apply_decisions_file(built.ws, path)
    built.ws.engine.dispose()
    assert dump(db) == before
    with sqlite3.connect(db) as con:
        con.execute("DROP TRIGGER boom")
    applied = apply_decisions_file(built.ws, path)
    assert len(applied) == 4


def test_concur_while_a_run_collects(tmp_path: Path, demo_web, auth_file: Path) -> None:
    """`vet concur` and `vet validate` in other processes while `vet run` appends request and capture events."""
    b = build_case(tmp_path)
    gun = add_item(b, "gun", GUN, flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e")])
    decision = decide(b.ws, DecisionRequest(gun.id, "validated", "disclosed account, reviewed", "Inv. Lee",
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
    vet("procedure", "approve", str(proc), "--by", "Capt. Rao", workspace=ws, check=True)
    vet("candidate", "add", "--id", "kim-lee", "--name", "Kim Lee", "--authorization", str(auth_file),
        "--signed-on", "2026-10-01", "--by", "Inv. Lee", workspace=ws, check=True)
    run = subprocess.Popen([sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws), "run", "kim-lee",
                            "--procedure", "loopback-check", "--by", "Inv. Lee"], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))

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
    concurred = vet("concur", str(decision.id), "--by", "Sgt. Park", "--reason", "agree", workspace=ws)
    assert concurred.returncode == 0, concurred.stdout + concurred.stderr
    assert run.poll() is None, "the concurrence did not overlap the run"
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out[-2000:] + err[-2000:]
    verify = vet("audit", "verify", workspace=ws)
    assert verify.returncode == 0, verify.stdout
    with sqlite3.connect(ws / "vetting.db") as db:
        seqs = [s for (s,) in db.execute("SELECT seq FROM audit_event ORDER BY seq")]
        concurred_seq = db.execute("SELECT seq FROM audit_event WHERE action='item.concurred'").fetchone()[0]
        run_seqs = [s for (s,) in db.execute("SELECT seq FROM audit_event WHERE case_id LIKE 'case-kim-lee-%'")]
    assert seqs == list(range(len(seqs)))
    assert min(run_seqs) < concurred_seq < max(run_seqs)  # the concurrence landed in the middle of the run
