"""``vetting.records.retention``: periods per record kind, what is due, and disposal you can check.

A fake clock walks to each boundary day (the day before, the day, the day after); disposal
leaves no personal value of the candidate in the database, the evidence store or the reports
folder (each grepped for every value), ``vet audit verify`` stays OK, and the audit report
carries the disposal certificate; a disposal killed between two of its writes is finished by
the next ``vet retention dispose --due`` without leaving half a case.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from people_fixtures import FakeClock
from records_fixtures import DAY, Office, actions, grep, grep_ws, make_office
from report_fixtures import CLEAN, Built
from test_erasure import JANE_VALUES

from vetting.records import retention
from vetting.services import records as svc
from vetting.services.reports import render_all

REPO = Path(__file__).resolve().parent.parent
WORDS = "My response: that was a film prop, and I can prove it."
LETTER = b"%PDF-1.4\n% The film school's letter about the prop rifle, for Jane.\n%%EOF\n"
HOLD_WORDS = "EEOC charge 563-2026-00417 filed by the candidate"


@pytest.fixture
def office(built: Built, tmp_path: Path) -> Office:
    return make_office(built, tmp_path)


def _status(o: Office, clock: FakeClock) -> dict[str, retention.Due]:
    return {d.candidate_id: d for d in svc.retention_status(o.ws, o.account("amoreno"), now=clock)}


def test_the_defaults_and_their_basis() -> None:
    s = retention.Settings()
    assert (s.not_hired_days, s.hired_days, s.evidence_days, s.reports_days, s.response_days) == (730, None, 730,
                                                                                                   730, 5)
    assert "1602.31" in retention.BASIS["not_hired_days"] and "1602.14" in retention.BASIS["not_hired_days"]


def test_nonsense_periods_are_refused_with_their_lines(office: Office) -> None:
    (office.ws.root / "retention.yaml").write_text(
        "retention:\n  not_hired_days: 30\n  hired_days: -5\n  evidence_days: two years\n"
        "  reports_days: 99999999\n  emails_days: 400\nnotice:\n  response_days: 0\nextra: 1\n")
    result = office.team.vet("amoreno", "retention", "status")
    assert result.returncode == 2, result.stdout + result.stderr
    path = office.ws.root / "retention.yaml"
    for line, field, words in ((2, "retention.not_hired_days", "30 days is shorter than the federal minimum"),
                               (3, "retention.hired_days", "-5 days is shorter than the federal minimum"),
                               (4, "retention.evidence_days", "must be a whole number of days"),
                               (5, "retention.reports_days", "99999999 days is more than 36500"),
                               (6, "retention.emails_days", "unknown record kind"),
                               (8, "notice.response_days", "must be a whole number of days from 1 to 90, not 0"),
                               (9, "extra", "unknown field")):
        assert f"{path}:{line}: {field}: {words}" in result.stderr, (field, result.stderr)
    path.write_text("retention:\n  not_hired_days: 1000\n  hired_days: 3650\nbasis: Missouri RS 109.255 schedule\n")
    s = retention.load_settings(office.ws)
    assert (s.not_hired_days, s.hired_days, s.evidence_days, s.basis) == (1000, 3650, 730,
                                                                          "Missouri RS 109.255 schedule")


def test_dispose_at_each_boundary_day(office: Office) -> None:
    o, clock = office, FakeClock()
    commander = o.account("dwhitfield")
    svc.record_outcome(o.ws, o.account("amoreno"), "jane-doe", "not-hired", now=clock)
    svc.record_outcome(o.ws, o.account("hjones"), "omar-haddad", "hired", now=clock)
    start = clock.at
    due = _status(o, clock)["jane-doe"]
    assert due.state == "not due" and due.due_on == start.date() + timedelta(days=730)
    assert "not_hired_days: 730 days" in due.rule and "29 CFR 1602.31" in due.rule
    assert _status(o, clock)["omar-haddad"].state == "kept"
    for days, expected in ((729, "not due"), (730, "due")):
        clock.at = start + days * DAY
        assert _status(o, clock)["jane-doe"].state == expected, days
    clock.at = start + 729 * DAY
    run = svc.dispose_due(o.ws, commander, now=clock)
    assert run.disposed == [] and run.refused == [] and not actions(o.ws, "records.disposal_started")
    clock.at = start + 730 * DAY
    run = svc.dispose_due(o.ws, commander, now=clock)
    assert [d.candidate_id for d in run.disposed] == ["jane-doe"] and run.disposed[0].values_erased > 10
    (cert,) = actions(o.ws, "records.disposed")
    assert cert.case_id == o.jane and cert.actor == "user:dwhitfield" and cert.payload["as_of"] == str(clock().date())
    clock.at = start + 731 * DAY
    assert svc.dispose_due(o.ws, commander, now=clock).disposed == []
    status = _status(o, clock)
    assert status["jane-doe"].state == "disposed" and status["omar-haddad"].state == "kept"
    clock.at = start + 100 * 365 * DAY
    assert svc.dispose_due(o.ws, commander, now=clock).disposed == []  # hired: kept (hired_days null)


def test_the_longest_period_that_applies_decides(office: Office) -> None:
    o, clock = office, FakeClock()
    (o.ws.root / "retention.yaml").write_text("retention:\n  not_hired_days: 400\n  evidence_days: 1000\n"
                                              "  hired_days: 3650\n")
    svc.record_outcome(o.ws, o.account("amoreno"), "jane-doe", "not-hired", now=clock)
    svc.record_outcome(o.ws, o.account("amoreno"), "omar-haddad", "hired", now=clock)
    start = clock.at
    for days, jane, omar in ((999, "not due", "not due"), (1000, "due", "not due"), (3649, "due", "not due"),
                             (3650, "due", "due")):
        clock.at = start + days * DAY
        status = _status(o, clock)
        assert (status["jane-doe"].state, status["omar-haddad"].state) == (jane, omar), days
    assert "evidence_days: 1000 days" in _status(o, clock)["jane-doe"].rule


def _records_everywhere(o: Office, tmp_path: Path, clock: FakeClock) -> Path:
    """A response with an attachment, a hold placed and released, and every report rendered."""
    from datetime import date

    letter = tmp_path / "letter.pdf"
    letter.write_bytes(LETTER)
    gun = o.built.items["item-jane-doe-gun"].id
    svc.record_notice(o.ws, o.account("sortiz"), o.jane, date.today(), "letter to 12 Elm Street", now=clock)
    svc.record_response(o.ws, o.account("sortiz"), o.jane, WORDS, [letter], item_id=gun, now=clock)
    svc.place_hold(o.ws, o.account("dwhitfield"), o.jane, HOLD_WORDS, now=clock)
    svc.release_hold(o.ws, o.account("dwhitfield"), o.jane, "charge dismissed, no suit filed", now=clock)
    reports = tmp_path / "reports"
    render_all(o.ws, o.account("dwhitfield"), reports, ["html"])
    # an evidence package handed out earlier (this fixture has no WARC to package: its event stands for it)
    o.ws.record("evidence.exported", actor="user:dwhitfield", case_id=o.jane, subject="jane.wacz",
                payload={"format": "WACZ 1.1.1", "sha256": "ab" * 32})
    svc.record_outcome(o.ws, o.account("amoreno"), "jane-doe", "not-hired", now=clock)
    return reports


PERSONAL = [*JANE_VALUES, WORDS, LETTER, "letter to 12 Elm Street", HOLD_WORDS, "charge dismissed, no suit filed"]


def test_disposal_leaves_no_value_anywhere_and_the_log_verifies(office: Office, tmp_path: Path) -> None:
    o, clock = office, FakeClock()
    reports = _records_everywhere(o, tmp_path, clock)
    missing = [v for v in PERSONAL if not grep_ws(o.ws, [v]) and not grep(reports, [v])]
    assert missing == []  # the grep below can fail: every value is somewhere first
    clock.advance(days=731)
    run = svc.dispose_due(o.ws, o.account("dwhitfield"), now=clock)
    (done,) = run.disposed
    assert done.reports_removed and any("findings-" in p for p in done.reports_removed)
    assert [x["file"] for x in done.not_reached] == ["jane.wacz"]  # outside the workspace: named, not reached
    assert grep_ws(o.ws, PERSONAL) == []
    assert grep(reports, PERSONAL) == []
    assert grep_ws(o.ws, [CLEAN, "Omar Haddad"])  # the other candidate is untouched
    assert (reports / f"findings-{o.omar}.html").exists()
    verified = o.team.vet("amoreno", "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    assert "disposed by design" in verified.stdout
    audit = tmp_path / "audit.html"
    assert o.team.vet("dwhitfield", "report", "audit", "-o", str(audit)).returncode == 0
    html = audit.read_text()
    section = html[html.index('id="disposals"'):]
    assert f"Case <code>{o.jane}</code>" in section and "user:dwhitfield" in section
    assert "not_hired_days: 730 days" in section and "29 CFR 1602.31" in section
    assert "Not reached" in section and "jane.wacz" in section
    findings = tmp_path / "after.html"
    assert o.team.vet("dwhitfield", "report", "findings", o.jane, "-o", str(findings)).returncode == 0
    assert "Disposed:" in findings.read_text() and WORDS not in findings.read_text()


KILL = """
import os, signal, sys
from datetime import timedelta
from pathlib import Path
from vetting.records import retention
from vetting.people.clock import system_clock
from vetting.people.sessions import current_account
from vetting.services.records import dispose_due
from vetting.store.workspace import Workspace

ws = Workspace.open(Path(sys.argv[1]))
step = sys.argv[2]
retention.after_step = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == step else None
dispose_due(ws, current_account(ws), now=lambda: system_clock() + timedelta(days=800))
"""


@pytest.mark.parametrize("step", ["started", "files", "erased"])
def test_a_disposal_killed_midway_is_finished_by_the_next_run(office: Office, tmp_path: Path, step: str) -> None:
    o = office
    assert o.team.vet("amoreno", "candidate", "outcome", "jane-doe", "not-hired").returncode == 0
    reports = tmp_path / "reports"
    render_all(o.ws, o.account("dwhitfield"), reports, ["html"])
    killed = subprocess.run([sys.executable, "-c", KILL, str(o.ws.root), step], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, **o.team.env("dwhitfield")))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(actions(o.ws, "records.disposal_started")) == 1 and not actions(o.ws, "records.disposed")
    status = o.team.vet("amoreno", "retention", "status")
    assert status.returncode == 0 and "incomplete" in status.stdout and "1 due for disposal" in status.stdout
    resumed = o.team.vet("dwhitfield", "retention", "dispose", "--due")  # the real clock: finishing is due
    assert resumed.returncode == 0, resumed.stderr
    assert "an interrupted disposal, finished" in resumed.stdout
    assert grep_ws(o.ws, JANE_VALUES) == [] and grep(reports, JANE_VALUES) == []
    assert [e.case_id for e in actions(o.ws, "records.disposed")] == [o.jane]
    assert len(actions(o.ws, "candidate.erased")) == 1
    verified = o.team.vet("amoreno", "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    again = o.team.vet("dwhitfield", "retention", "dispose", "--due")
    assert again.returncode == 0 and "nothing is due" in again.stdout


def test_cli_refusals(office: Office) -> None:
    o = office
    supervisor = o.team.vet("amoreno", "retention", "dispose", "--due")
    assert supervisor.returncode == 1 and "needs the role commander" in supervisor.stderr
    no_due = o.team.vet("dwhitfield", "retention", "dispose")
    assert no_due.returncode == 2 and "--due: say --due" in no_due.stderr
    investigator = o.team.vet("sortiz", "retention", "status")
    assert investigator.returncode == 1 and "refused: sortiz may not" in investigator.stderr
    future = o.team.vet("amoreno", "candidate", "outcome", "jane-doe", "hired", "--on", "2999-01-01")
    assert future.returncode == 1 and "in the future" in future.stderr
    wrong = o.team.vet("amoreno", "candidate", "outcome", "jane-doe", "maybe")
    assert wrong.returncode == 1 and "one of hired, not-hired" in wrong.stderr
    nobody = o.team.vet("amoreno", "candidate", "outcome", "nobody", "hired")
    assert nobody.returncode == 2 and "no candidate 'nobody'" in nobody.stderr
    assert not actions(o.ws, "records.outcome")
    status = o.team.vet("amoreno", "retention", "status")
    assert status.returncode == 0 and "no outcome" in status.stdout and "0 due for disposal" in status.stdout
    done = o.team.vet("hjones", "candidate", "outcome", "omar-haddad", "hired", "--on", "2026-11-20")
    assert done.returncode == 0 and "omar-haddad: hired on 2026-11-20" in done.stdout
    nothing = o.team.vet("dwhitfield", "retention", "dispose", "--due")
    assert nothing.returncode == 0 and "nothing is due for disposal" in nothing.stdout


def test_demo_records(office: Office, tmp_path: Path) -> None:
    """What the demo shows: one finding with a response, one held case, one disposed case."""
    from report_fixtures import add_candidate_case

    from vetting.demo.records import RESPONSE, demo_records, retention_note

    o = office
    add_candidate_case(o.built, tmp_path, "riley-x", "Riley Xiang")
    out = tmp_path / "demo"
    out.mkdir()
    done = demo_records(o.ws, o.account, respond="jane-doe", hold="omar-haddad", dispose="riley-x", out=out,
                        formats=("html",))
    assert done.responded_case == o.jane and done.held_case == o.omar and len(done.certificates) == 1
    assert len(done.refused) == 1 and "legal hold" in done.refused[0]
    findings = (out / "reports" / f"findings-{o.jane}.html").read_text()
    assert RESPONSE in findings and done.response_sha256 in findings
    audit = (out / "reports" / "audit.html").read_text()
    assert 'data-certificate=' in audit and "riley-x" in audit and f"<code>{o.omar}</code>" in audit
    assert grep_ws(o.ws, ["Riley Xiang"]) == [] and grep_ws(o.ws, ["Omar Haddad", "Jane Doe"])
    assert o.ws.verify().ok
    note = retention_note(o.ws)
    assert "not_hired_days: 730 days: 29 CFR 1602.31" in note and "hired_days: kept" in note and "1681b" in note
