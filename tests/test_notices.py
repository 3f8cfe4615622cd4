"""``vetting.records.notices``: the candidate's notice before findings are used, and their response.

Through the real CLI as the assigned investigator: the notice (date, how), then a response
(text and an attachment, each stored in the evidence store and hashed in the log) to one
finding. The findings report shows the response beside that finding with its sha256, marks the
findings while the response window is open, and its receipts bind the response: a report
whose shown response is edited fails ``vet report verify-receipts``. A response recorded after
the report was released appears in the next rendering.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from records_fixtures import Office, actions, make_office
from report_fixtures import Built

from vetting.reports.receipts import verify_receipts

WORDS = "That photo was staged for a film class; the rifle is a prop, see the attached letter."
LETTER = b"%PDF-1.4\n% Letter from the film school: the rifle in the photo is a prop.\n%%EOF\n"


@pytest.fixture
def office(built: Built, tmp_path: Path) -> Office:
    return make_office(built, tmp_path)


def _gun(o: Office) -> str:
    return o.built.items["item-jane-doe-gun"].id


def test_notice_then_response_beside_the_finding_with_its_hash(office: Office, tmp_path: Path) -> None:
    o, case = office, office.jane
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(LETTER)
    before = tmp_path / "before.html"
    assert o.team.vet("amoreno", "report", "findings", case, "-o", str(before)).returncode == 0
    html = before.read_text()
    assert "The candidate has not been notified" in html and 'data-window=' not in html

    notified = (date.today() - timedelta(days=1)).isoformat()
    done = o.team.vet("sortiz", "notice", "record", case, "--on", notified, "--how", "letter by certified mail")
    assert done.returncode == 0, done.stderr
    assert "response window 5 day(s)" in done.stdout
    # the report is released to hiring before the candidate answers
    assert o.team.vet("amoreno", "report", "release", case, "hjones").returncode == 0
    released = tmp_path / "released.html"
    assert o.team.vet("hjones", "report", "findings", case, "-o", str(released)).returncode == 0
    assert WORDS not in released.read_text() and 'data-window="open"' in released.read_text()

    answered = o.team.vet("sortiz", "notice", "respond", case, "--finding", _gun(o), "--text", WORDS,
                          "--attach", str(letter))
    assert answered.returncode == 0, answered.stderr
    (event,) = actions(o.ws, "records.response")
    doc = event.payload["document"]
    assert f"sha256 {doc['sha256']}" in answered.stdout
    assert event.payload["attachments"][0]["sha256"] == hashlib.sha256(LETTER).hexdigest()
    assert WORDS not in str(event.payload) and "letter.pdf" not in str(event.payload)  # the log holds hashes
    assert o.ws.evidence_path(doc["path"]).is_file()

    after = tmp_path / "after.html"
    assert o.team.vet("hjones", "report", "findings", case, "-o", str(after)).returncode == 0
    html = after.read_text()
    section = html[html.index(f'data-item="{_gun(o)}"'):]
    section = section[:section.index("</section>")]
    assert WORDS in section and doc["sha256"] in section and hashlib.sha256(LETTER).hexdigest() in section
    assert "letter.pdf" in section
    assert 'data-window="open"' in html and "still open" in html
    assert verify_receipts(o.ws, after).ok, verify_receipts(o.ws, after).problems
    check = o.team.vet("hjones", "report", "verify-receipts", str(after))
    assert check.returncode == 0, check.stdout + check.stderr
    # an edited response is caught by the receipts
    forged = tmp_path / "forged.html"
    forged.write_text(html.replace(WORDS, "I admit everything."))
    bad = verify_receipts(o.ws, forged)
    assert not bad.ok and any("response_text" in p for p in bad.problems)
    moved = tmp_path / "moved.html"
    moved.write_text(html.replace(doc["sha256"], "0" * 64, 1))
    assert not verify_receipts(o.ws, moved).ok
    # the audit log verifies, the response's files re-hashed with the rest of the evidence
    verified = o.team.vet("amoreno", "audit", "verify")
    assert verified.returncode == 0, verified.stdout


def test_a_closed_window_is_not_marked_and_a_case_response_sits_in_the_notice(office: Office, tmp_path: Path) -> None:
    o, case = office, office.jane
    old = (date.today() - timedelta(days=30)).isoformat()
    assert o.team.vet("sortiz", "notice", "record", case, "--on", old, "--how", "e-mail").returncode == 0
    words = tmp_path / "words.txt"
    words.write_text("I disagree with the whole report.\nIt is not me in two of the posts.\n")
    assert o.team.vet("sortiz", "notice", "respond", case, "--text-file", str(words)).returncode == 0
    out = tmp_path / "f.html"
    assert o.team.vet("amoreno", "report", "findings", case, "-o", str(out)).returncode == 0
    html = out.read_text()
    assert 'data-window="open"' not in html and "(closed)" in html
    notice = html[html.index('id="notice"'):html.index('id="findings"')]
    assert "It is not me in two of the posts." in notice
    assert verify_receipts(o.ws, out).ok


def test_refusals_change_nothing(office: Office, tmp_path: Path) -> None:
    o, case = office, office.jane
    before = len(actions(o.ws, "records.notice")), len(actions(o.ws, "records.response"))
    respond_first = o.team.vet("sortiz", "notice", "respond", case, "--text", WORDS)
    assert respond_first.returncode == 1 and "record the notice first" in respond_first.stderr
    assert len(respond_first.stderr.strip().splitlines()) == 1
    future = (date.today() + timedelta(days=2)).isoformat()
    ahead = o.team.vet("sortiz", "notice", "record", case, "--on", future, "--how", "letter")
    assert ahead.returncode == 1 and "in the future" in ahead.stderr
    not_his = o.team.vet("kosei", "notice", "record", case, "--on", "2026-11-01", "--how", "letter")
    assert not_his.returncode == 1 and "only on cases assigned to them" in not_his.stderr
    supervisor = o.team.vet("amoreno", "notice", "record", case, "--on", "2026-11-01", "--how", "letter")
    assert supervisor.returncode == 1 and "needs the role investigator" in supervisor.stderr
    bad_date = o.team.vet("sortiz", "notice", "record", case, "--on", "yesterday", "--how", "letter")
    assert bad_date.returncode == 2 and "--on: 'yesterday' is not a date" in bad_date.stderr
    assert (len(actions(o.ws, "records.notice")), len(actions(o.ws, "records.response"))) == before
    refused = [e.payload["act"] for e in actions(o.ws, "access.refused")]
    assert refused.count("response.record") == 1 and refused.count("notice.record") == 3
    # an item of another case
    assert o.team.vet("sortiz", "notice", "record", case, "--on", "2026-11-01", "--how", "letter").returncode == 0
    other = o.team.vet("sortiz", "notice", "respond", case, "--finding", "item-omar-haddad-clean", "--text", "x y z")
    assert other.returncode == 1 and "no item 'item-omar-haddad-clean' in case" in other.stderr
    empty = o.team.vet("sortiz", "notice", "respond", case)
    assert empty.returncode == 1 and "needs its text" in empty.stderr
    assert len(actions(o.ws, "records.response")) == before[1]


def test_erasing_the_candidate_by_hand_takes_the_response_too(office: Office, tmp_path: Path) -> None:
    from records_fixtures import grep_ws

    o, case = office, office.jane
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(LETTER)
    assert o.team.vet("sortiz", "notice", "record", case, "--on", "2026-11-01", "--how", "letter").returncode == 0
    assert o.team.vet("sortiz", "notice", "respond", case, "--text", WORDS, "--attach", str(letter)).returncode == 0
    assert grep_ws(o.ws, [WORDS, LETTER])
    erased = o.team.vet("dwhitfield", "candidate", "erase", "jane-doe", "--reason", "the candidate asked")
    assert erased.returncode == 0, erased.stderr
    assert grep_ws(o.ws, [WORDS, LETTER]) == []
    verified = o.team.vet("amoreno", "audit", "verify")
    assert verified.returncode == 0, verified.stdout
