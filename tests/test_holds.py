"""``vetting.records.holds``: a case on legal hold is never disposed of, and every attempt is refused and audited.

A commander places and releases holds (the real CLI); anyone else is refused in one line with
nothing changed. A held case survives every disposal run, whatever the date (fake clock), each
run recording its refusal, and ``vet candidate erase`` is refused too; once released, the next
run disposes of it, and the hold's reason (the candidate's personal data) goes with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from people_fixtures import FakeClock
from records_fixtures import DAY, Office, actions, grep_ws, make_office
from report_fixtures import GUN, Built
from sqlmodel import select

from vetting.records.models import LegalHold
from vetting.services import records as svc

REASON = "Doe v. Kansas City, No. 4:26-cv-00123 (W.D. Mo.)"


@pytest.fixture
def office(built: Built, tmp_path: Path) -> Office:
    return make_office(built, tmp_path)


def _holds(o: Office) -> list[LegalHold]:
    with o.ws.session() as s:
        return list(s.exec(select(LegalHold)))


def test_only_a_commander_places_and_releases_and_refusals_change_nothing(office: Office) -> None:
    o, case = office, office.jane
    for login, words in (("amoreno", "needs the role commander"), ("sortiz", "needs the role commander"),
                         ("hjones", "needs the role commander")):
        refused = o.team.vet(login, "hold", "place", case, "--reason", REASON)
        assert refused.returncode == 1 and words in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert _holds(o) == []
    placed = o.team.vet("dwhitfield", "hold", "place", case, "--reason", REASON)
    assert placed.returncode == 0 and f"case {case} is on legal hold" in placed.stdout
    twice = o.team.vet("dwhitfield", "hold", "place", case, "--reason", REASON)
    assert twice.returncode == 1 and "already on legal hold" in twice.stderr and len(_holds(o)) == 1
    (event,) = actions(o.ws, "records.hold_placed")
    assert event.actor == "user:dwhitfield" and REASON not in str(event.payload)  # the reason is committed
    short = o.team.vet("dwhitfield", "hold", "release", case, "--reason", "ok")
    assert short.returncode == 1 and "at least 5 characters" in short.stderr
    assert o.team.vet("amoreno", "hold", "release", case, "--reason", "the suit was settled").returncode == 1
    released = o.team.vet("dwhitfield", "hold", "release", case, "--reason", "the suit was settled")
    assert released.returncode == 0 and "released" in released.stdout
    none = o.team.vet("dwhitfield", "hold", "release", case, "--reason", "the suit was settled")
    assert none.returncode == 1 and "is not on legal hold" in none.stderr
    unknown = o.team.vet("dwhitfield", "hold", "place", "no-such-case", "--reason", REASON)
    assert unknown.returncode == 2 and "no case 'no-such-case'" in unknown.stderr
    assert len(actions(o.ws, "records.hold_placed")) == 1 and len(actions(o.ws, "records.hold_released")) == 1
    refusals = [e.payload["act"] for e in actions(o.ws, "access.refused")]
    assert refusals.count("hold.place") == 4 and refusals.count("hold.release") == 3


def test_a_held_case_survives_every_disposal_run(office: Office, tmp_path: Path) -> None:
    o, clock = office, FakeClock()
    commander = o.account("dwhitfield")
    svc.record_outcome(o.ws, o.account("amoreno"), "jane-doe", "not-hired", now=clock)
    svc.record_outcome(o.ws, o.account("amoreno"), "omar-haddad", "not-hired", now=clock)
    svc.place_hold(o.ws, commander, o.jane, REASON, now=clock)
    start = clock.at
    runs = 0
    for days in (729, 730, 731, 1000, 5000, 36500):
        clock.at = start + days * DAY
        run = svc.dispose_due(o.ws, commander, now=clock)
        runs += days >= 730
        assert [c for c, _ in run.refused] == (["jane-doe"] if days >= 730 else []), days
        assert grep_ws(o.ws, [GUN, "Jane Doe"]), days  # still all there
    assert len(actions(o.ws, "records.disposal_refused")) == runs
    assert all(e.case_id == o.jane and e.actor == "user:dwhitfield" for e in actions(o.ws, "records.disposal_refused"))
    assert [e.payload["candidate_id"] for e in actions(o.ws, "records.disposed")] == ["omar-haddad"]  # not held
    status = {d.candidate_id: d for d in svc.retention_status(o.ws, commander, now=clock)}
    assert status["jane-doe"].state == "held" and status["jane-doe"].holds == [_holds(o)[0].id]
    # erasing the candidate by hand is refused as well, through the CLI, with nothing changed
    erase = o.team.vet("dwhitfield", "candidate", "erase", "jane-doe", "--reason", "retention")
    assert erase.returncode == 1 and "on legal hold" in erase.stderr and len(actions(o.ws, "candidate.erased")) == 1
    assert grep_ws(o.ws, [GUN])
    # the audit report lists the hold in force
    audit = tmp_path / "audit.html"
    assert o.team.vet("amoreno", "report", "audit", "-o", str(audit)).returncode == 0
    assert REASON in audit.read_text() and f'data-hold="{_holds(o)[0].id}"' in audit.read_text()
    assert f"legal hold {_holds(o)[0].id} placed: {REASON}" in audit.read_text()  # in the case's timeline
    assert "disposal refused: on legal hold" in audit.read_text()
    audit.unlink()
    # released: the next run disposes of it, the hold's words with it
    svc.release_hold(o.ws, commander, o.jane, "the suit was dismissed with prejudice", now=clock)
    run = svc.dispose_due(o.ws, commander, now=clock)
    assert [d.candidate_id for d in run.disposed] == ["jane-doe"] and run.refused == []
    assert grep_ws(o.ws, [GUN, "Jane Doe", REASON, "the suit was dismissed with prejudice"]) == []
    verified = o.team.vet("amoreno", "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    placed = o.team.vet("dwhitfield", "hold", "place", o.jane, "--reason", REASON)
    assert placed.returncode == 1 and "already disposed of" in placed.stderr


def test_hold_and_disposal_on_postgres(tmp_path: Path, postgres, auth_file: Path) -> None:
    """The same rules on PostgreSQL: the held candidate stays, the other goes, the log verifies."""
    import sqlalchemy
    from test_engine import local_procedure

    from vetting.domain.approvals import approve
    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.engine.steps import open_case
    from vetting.records import holds, retention
    from vetting.store.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws", database_url=postgres.new_database())
    proc = approve(ws, local_procedure(tmp_path), "Capt. Rao")[0]
    cases = {}
    for name in ("Jane Doe", "Omar Haddad"):
        row = add_candidate(ws, CandidateInput(full_name=name, usernames=[name.split()[0].lower()],
                                               authorization={"file": "a", "signed_on": "2026-10-01"}),
                            auth_file, "Inv. Lee")
        cases[row.id] = open_case(ws, row.id, proc.procedure_id, "Inv. Lee").case.id
    clock = FakeClock()
    for cid in cases:
        retention.record_outcome(ws, cid, "not-hired", clock().date(), "Sgt. Park", now=clock)
    holds.place_hold(ws, cases["jane-doe"], REASON, "Capt. Rao", now=clock)
    clock.advance(days=730)
    run = retention.dispose_due(ws, "Capt. Rao", now=clock)
    assert [d.candidate_id for d in run.disposed] == ["omar-haddad"] and [c for c, _ in run.refused] == ["jane-doe"]
    with ws.engine.connect() as conn:
        values = {v for (v,) in conn.execute(sqlalchemy.text("SELECT value FROM personal_value"))}
    assert "Jane Doe" in values and "Omar Haddad" not in values and REASON in values
    assert ws.verify().ok


def test_a_hold_placed_on_an_interrupted_disposal_wins(office: Office) -> None:
    """A disposal killed after it started, then a hold: the next run refuses it (exit 1, one line, recorded)."""
    import os
    import signal
    import subprocess
    import sys

    from test_retention import KILL, REPO

    o = office
    assert o.team.vet("amoreno", "candidate", "outcome", "jane-doe", "not-hired").returncode == 0
    killed = subprocess.run([sys.executable, "-c", KILL, str(o.ws.root), "started"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, **o.team.env("dwhitfield")))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert o.team.vet("dwhitfield", "hold", "place", o.jane, "--reason", REASON).returncode == 0
    run = o.team.vet("dwhitfield", "retention", "dispose", "--due")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "on legal hold" in run.stderr, run.stderr
    assert len(actions(o.ws, "records.disposal_refused")) == 1 and not actions(o.ws, "records.disposed")
    assert grep_ws(o.ws, [GUN, "Jane Doe"])
    assert o.team.vet("dwhitfield", "hold", "release", o.jane, "--reason", "the request was withdrawn").returncode == 0
    done = o.team.vet("dwhitfield", "retention", "dispose", "--due")
    assert done.returncode == 0 and "an interrupted disposal, finished" in done.stdout
    assert grep_ws(o.ws, [GUN, "Jane Doe"]) == []
