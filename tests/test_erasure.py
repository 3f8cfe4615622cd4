"""``vetting.store.erasure``: a candidate's personal data is erased and the log still verifies.

After ``vet candidate erase``: ``vet audit verify`` is OK, the candidate's findings report says
it was disposed, an old report's receipts still check (its personal fields no longer can), and
no erased value remains anywhere in the workspace: the database file (after VACUUM), its WAL,
the evidence store and the keys folder are grepped for every value.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from report_fixtures import CLEAN, DRUGS, GUN, HOSTILE_TEXT, PRIVATE_NOTE, REJECTED, Built
from team import Team, make_team

from audit import verify_log
from vetting.engine.steps import RunError, open_case
from vetting.reports.render import render_report, verify_receipts
from vetting.review.validation import DecisionRequest, ValidationRefused, decide
from vetting.store.erasure import ErasureError, erase_candidate
from vetting.store.log_index import check_index

#: Jane's values that no other candidate of the fixture shares.
JANE_VALUES = ["Jane Doe", "janedoe", "https://social.example/u/jane-doe", GUN, DRUGS, HOSTILE_TEXT[:40],
               PRIVATE_NOTE, REJECTED, "Pointing a firearm at an animal in public", "Posted when she was 21.",
               "Drug use in public before a work shift", "a different person of the same name",
               "agree with the finding", "I authorize the background investigation. Jane Doe"]


def workspace_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def grep(root: Path, values: list[str]) -> list[tuple[str, str]]:
    """(file, value) for every value found in any file under ``root``."""
    found = []
    for name, data in workspace_bytes(root).items():
        for value in values:
            if value.encode("utf-8") in data:
                found.append((name, value))
    return found


def people(built: Built, tmp_path: Path) -> Team:
    """The logged-in team of the built workspace (token folders apart from the reports in tmp_path)."""
    return make_team(built.ws, tmp_path / "people")


def test_every_value_is_somewhere_before_erasure(built: Built) -> None:
    """The grep below can fail: before erasure each value is in the workspace."""
    missing = [v for v in JANE_VALUES if not grep(built.ws.root, [v])]
    assert missing == []


def test_erasure_leaves_no_value_and_the_log_verifies(built: Built, tmp_path: Path) -> None:
    ws = built.ws
    old_report = render_report(ws, "findings", built.case_id("jane-doe"), "html", tmp_path / "before.html", "Capt. X")
    result = erase_candidate(ws, "jane-doe", "Records Officer Ames", "retention period ended")
    assert result.values_erased > 10 and result.event_seq is not None
    assert result.files_removed and "sha256" in result.files_removed[0]
    # The clean post's content is also Omar's evidence (same bytes, one content-addressed file): kept.
    assert result.files_kept_shared
    assert grep(ws.root, JANE_VALUES) == []
    assert grep(ws.root, [CLEAN, "Omar Haddad"])  # the other candidate is untouched
    # the log: still OK, the removed files accounted for by the erasure event
    report = verify_log(ws.engine, ws.key_dir, evidence_root=ws.evidence_root)
    assert report.ok, report.problems
    assert report.files_disposed >= len([f for f in result.files_removed if f.startswith("sha256/")])
    assert check_index(ws) == []
    team = people(built, tmp_path)
    cli = team.vet("sortiz", "audit", "verify")
    assert cli.returncode == 0, cli.stdout
    assert "disposed by design" in cli.stdout
    # the reports: the new one says disposed; the old one's receipts still check, except personal fields
    new = render_report(ws, "findings", built.case_id("jane-doe"), "html", tmp_path / "after.html", "Capt. X")
    html = new.read_text()
    assert "Disposed:" in html and "Records Officer Ames" in html and 'class="finding"' not in html
    assert grep(tmp_path, ["Jane Doe"]) == [("before.html", "Jane Doe")]
    check = verify_receipts(ws, old_report)
    assert check.ok and "erased by Records Officer Ames" in check.disposed
    out = team.vet("sortiz", "report", "verify-receipts", str(old_report))
    assert out.returncode == 0 and "DISPOSED" in out.stdout
    audit_html = render_report(ws, "audit", None, "html", tmp_path / "audit.html", "Capt. X").read_text()
    assert "Disposed" in audit_html and "[erased]" in audit_html
    # Omar's report is unaffected
    other = render_report(ws, "findings", built.case_id("omar-haddad"), "html", tmp_path / "omar.html", "Capt. X")
    assert verify_receipts(ws, other).ok and "Disposed:" not in other.read_text()


def test_nothing_more_is_recorded_about_an_erased_candidate(built: Built) -> None:
    erase_candidate(built.ws, "jane-doe", "Records Officer Ames")
    with pytest.raises(RunError, match="erased"):
        open_case(built.ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    with pytest.raises(ValidationRefused):
        decide(built.ws, DecisionRequest("item-jane-doe-pending", "rejected", "nothing to see here", "Inv. Lee"))
    again = erase_candidate(built.ws, "jane-doe", "Records Officer Ames")  # idempotent
    assert again.already_erased and again.event_seq is None


def test_erasure_refusals(built: Built, tmp_path: Path) -> None:
    with pytest.raises(ErasureError, match="no candidate"):
        erase_candidate(built.ws, "nobody", "Records Officer Ames")
    with pytest.raises(ErasureError, match="must name the account erasing"):
        erase_candidate(built.ws, "jane-doe", " ")
    result = people(built, tmp_path).vet("dwhitfield", "candidate", "erase", "nobody")
    # issue 10.2: an unknown name is exit 2, saying how to list the real ones
    assert result.returncode == 2 and result.stderr.startswith("error: no candidate 'nobody'")
    assert "vet candidate list" in result.stderr


def test_a_file_missing_without_an_erasure_is_still_a_problem(built: Built) -> None:
    erase_candidate(built.ws, "jane-doe", "Records Officer Ames")
    omar = built.items["item-omar-haddad-clean"]
    shot = next(a for a in omar.artifacts() if a["kind"] == "screenshot")
    built.ws.evidence_path(shot["path"]).unlink()
    report = verify_log(built.ws.engine, built.ws.key_dir, evidence_root=built.ws.evidence_root)
    assert any(p.where == f"file {shot['path']}" and "missing" in p.message for p in report.problems)


def test_the_erasure_event_carries_no_value(built: Built) -> None:
    result = erase_candidate(built.ws, "jane-doe", "Records Officer Ames")
    with sqlite3.connect(built.ws.root / "vetting.db") as con:
        (payload,) = con.execute("SELECT payload FROM audit_event WHERE seq=?", (result.event_seq,)).fetchone()
        left = con.execute("SELECT count(*) FROM personal_value WHERE candidate_id='jane-doe'").fetchone()[0]
        secret = con.execute("SELECT count(*) FROM candidate_secret WHERE candidate_id='jane-doe'").fetchone()[0]
    assert (left, secret) == (0, 0)
    assert not [v for v in JANE_VALUES if v in payload]


def test_no_concurrence_with_an_erased_candidates_decision(built: Built) -> None:
    from vetting.review.validation import concur

    drugs = built.decisions["item-jane-doe-drugs"]  # adverse, not yet concurred
    erase_candidate(built.ws, "jane-doe", "Records Officer Ames")
    with pytest.raises(ValidationRefused, match="erased"):
        concur(built.ws, drugs, "Sgt. Lee Park", "agree")
    with sqlite3.connect(built.ws.root / "vetting.db") as con:
        assert con.execute("SELECT count(*) FROM candidate_secret WHERE candidate_id='jane-doe'").fetchone()[0] == 0


def test_erasure_in_a_workspace_opened_by_a_relative_path(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """``vet --workspace demo-output/workspace`` (a relative path, as ``make demo`` gives it): the
    case's WARC folder is removed and listed, not a ValueError from comparing a resolved path
    with a relative one."""
    from vetting.store.workspace import Workspace

    case_id = built.case_id("jane-doe")
    warc = built.ws.evidence_root / "warc" / case_id
    warc.mkdir(parents=True, exist_ok=True)
    (warc / "01-disclosed.warc.gz").write_bytes(b"stand-in")
    monkeypatch.chdir(built.ws.root.parent)
    ws = Workspace.open(Path(built.ws.root.name), create=False)
    result = erase_candidate(ws, "jane-doe", "Records Officer Ames", "retention period ended")
    assert f"warc/{case_id}/01-disclosed.warc.gz" in result.files_removed
    assert not warc.exists()
