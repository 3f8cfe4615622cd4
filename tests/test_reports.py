"""The findings report: the gate, the same sections for everyone, details, determinism, receipts."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import (
    CLEAN,
    DRUGS,
    GUN,
    PRIVATE_NOTE,
    REJECTED,
    SECOND,
    Built,
    build_reports_workspace,
)

from vetting.reports.render import build_document, read_receipts, render_report, verify_receipts

FIXED = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


def fixed_clock() -> datetime:
    return FIXED


def findings_soup(b: Built, candidate: str) -> tuple[str, BeautifulSoup]:
    html = build_document(b.ws, "findings", b.case_id(candidate), fixed_clock).html
    return html, BeautifulSoup(html, "html.parser")


def test_only_validated_concurred_items_are_reported(built: Built) -> None:
    html, soup = findings_soup(built, "jane-doe")
    shown = {s["data-item"] for s in soup.select("section.finding")}
    assert shown == {"item-jane-doe-gun", "item-jane-doe-hostile", "item-jane-doe-clean"}
    text = soup.get_text(" ")
    for absent in (PRIVATE_NOTE, REJECTED, DRUGS, "keg stand", "Pie contest", "Undecided"):
        assert absent not in html and absent not in text  # unvalidated, rejected, unconcurred adverse
    assert GUN in text and CLEAN in text


#: Runs of hex or base64 (hashes, signatures, proofs, embedded pictures) hold any short digit string
#: by chance (a fresh key and clock each run), so they are taken out before looking for identifiers.
OPAQUE_RUN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")


def readable_parts(soup: BeautifulSoup) -> str:
    """Every text node and attribute value of the page, with opaque encoded runs removed."""
    parts = [soup.get_text(" ")]
    for tag in soup.find_all(True):
        for value in tag.attrs.values():
            parts.extend(value if isinstance(value, list) else [str(value)])
    return OPAQUE_RUN.sub(" ", " ".join(parts))


def test_readable_parts_keep_what_a_reader_sees() -> None:
    soup = BeautifulSoup('<p title="born 1996">Kansas City</p><img src="data:image/png;base64,'
                         'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxOTk2"><span>a1996b2c3d4e5f60718293a4b5c6d7e8f</span>',
                         "html.parser")
    text = readable_parts(soup)
    assert "born 1996" in text and "Kansas City" in text and "1996b2c3" not in text


def test_candidate_is_named_by_name_and_id_only(built: Built) -> None:
    html, soup = findings_soup(built, "jane-doe")
    facts = {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True)
             for dt in soup.select("#candidate ~ dl.facts dt")[:6]}
    assert facts["Candidate"] == "Jane Doe" and facts["Candidate id"] == "jane-doe"
    readable = readable_parts(soup)
    for identifier in ("1996", "04-12", "Kansas City", "date of birth", "janedoe"):
        assert identifier not in readable
    assert soup.title is not None and "Jane Doe" in soup.title.get_text()


def test_every_category_is_summarised_and_empty_ones_say_so(built: Built) -> None:
    _, soup = findings_soup(built, "jane-doe")
    rows = [[td.get_text(" ", strip=True) for td in tr.find_all("td")] for tr in soup.select("table.categories tbody tr")]
    assert len(rows) == 9  # every category of the shipped procedure
    counts = {policy: count for policy, _, count in rows}
    assert counts["IV.C.1.e"] == "2"
    assert counts["IV.C.1.c"] == "no findings"  # the unconcurred adverse finding does not count
    assert sum(1 for r in rows if r[2] == "no findings") == 8
    _, other = findings_soup(built, "omar-haddad")
    assert all(td.get_text(strip=True) == "no findings"
               for td in other.select("table.categories tbody tr td:nth-of-type(3)"))


def test_same_sections_for_two_candidates(built: Built) -> None:
    _, a = findings_soup(built, "jane-doe")
    _, b = findings_soup(built, "omar-haddad")
    assert [h["id"] for h in a.select("h2")] == [h["id"] for h in b.select("h2")]
    assert [h["id"] for h in a.select("h2")] == ["candidate", "summary", "findings", "unreached", "checkpoint"]

    def categories(s: BeautifulSoup) -> list[str]:
        return [tr.find_all("td")[1].get_text(strip=True) for tr in s.select("table.categories tbody tr")]

    assert categories(a) == categories(b)


def test_finding_shows_its_evidence_validation_and_context(built: Built) -> None:
    _, soup = findings_soup(built, "jane-doe")
    sec = soup.find("section", attrs={"data-item": "item-jane-doe-gun"})
    text = sec.get_text(" ", strip=True)
    assert "IV.C.1.e" in text and "Brandishing tactical instruments" in text
    assert "pointing my rifle" in sec.select_one("blockquote.excerpt").get_text()
    item = built.items["item-jane-doe-gun"]
    shot = next(a for a in item.artifacts() if a["kind"] == "screenshot")
    src = sec.select_one("img.screenshot")["src"]
    assert src.startswith("data:image/png;base64,")
    shown = base64.b64decode(src.split(",", 1)[1])
    # hiring staff see the redacted picture drawn from the archived page, never the screenshot
    assert shown != built.ws.evidence_path(shot["path"]).read_bytes()
    redacted = [e.payload for e in built.ws.audit.events() if e.action == "evidence.redacted"
                and e.subject == "item-jane-doe-gun"]
    assert redacted and redacted[-1]["redacted"]["sha256"] == hashlib.sha256(shown).hexdigest()
    assert redacted[-1]["redacted"]["sha256"] in text and redacted[-1]["source"]["sha256"] in text
    assert shot["sha256"] in text
    assert sec.find("code", class_="url").get_text() == item.url
    assert not sec.find_all("a")  # the address is text, not a link
    for expected in ("confirmed", "disclosed account", "Det. Sam Ortiz", SECOND, "Posted when she was 21.",
                     "Pointing a firearm at an animal", "UTC"):
        assert expected in text
    clean = soup.find("section", attrs={"data-item": "item-jane-doe-clean"}).get_text(" ", strip=True)
    assert "shows no review category" in clean and "not needed" in clean


def test_unreached_pages_and_failed_steps_are_reported(built: Built) -> None:
    _, jane = findings_soup(built, "jane-doe")
    rows = [tr.get_text(" ", strip=True) for tr in jane.select("#unreached ~ table tbody tr")]
    assert any("posts/walled" in r and "login wall" in r for r in rows)
    _, omar = findings_soup(built, "omar-haddad")
    failed = omar.find("h3", string="Failed steps").find_next("table").get_text(" ", strip=True)
    assert "web-search" in failed and "did not answer" in failed


def test_rendering_is_deterministic_apart_from_the_generation_time(built: Built) -> None:
    case = built.case_id("jane-doe")
    one = build_document(built.ws, "findings", case, fixed_clock).html
    two = build_document(built.ws, "findings", case, fixed_clock).html
    assert one == two
    later = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    three = build_document(built.ws, "findings", case, lambda: later).html
    assert one.count("2026-11-24 10:00:00 UTC") == 1  # the generation time is in one place
    assert three.replace("2027-01-02 03:04:05 UTC", "2026-11-24 10:00:00 UTC") == one
    for kind, subject in (("process", "kcpd-261-1-preemployment"), ("audit", None)):
        assert build_document(built.ws, kind, subject, fixed_clock).html == \
            build_document(built.ws, kind, subject, fixed_clock).html


def test_report_rendered_event_carries_the_files_sha256(built: Built, tmp_path: Path) -> None:
    case = built.case_id("jane-doe")
    out = render_report(built.ws, "findings", case, "html", tmp_path / "out" / "f.html", "Capt. X", fixed_clock)
    event = [e for e in built.ws.audit.events(case_id=case) if e.action == "report.rendered"][-1]
    assert event.payload == {"kind": "findings", "format": "html", "path": str(out),
                             "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    assert event.actor == "Capt. X" and event.subject == str(out)
    assert built.ws.audit.latest_checkpoint().tree_size > event.seq  # signed right away


def _rendered(built: Built, tmp_path: Path) -> Path:
    return render_report(built.ws, "findings", built.case_id("jane-doe"), "html", tmp_path / "r.html", "Capt. X")


def test_receipts_verify_against_the_log(built: Built, tmp_path: Path) -> None:
    path = _rendered(built, tmp_path)
    result = verify_receipts(built.ws, path)
    assert result.ok, result.problems
    assert result.checked == 8  # two adverse (validated + concurred), one clean, candidate, procedure, unreached
    data = read_receipts(path.read_text())
    roles = sorted((r["item_id"], r["role"]) for r in data["receipts"])
    assert ("item-jane-doe-gun", "concurred") in roles and ("item-jane-doe-clean", "validated") in roles
    for r in data["receipts"]:
        if r["role"] in ("candidate", "procedure", "captured"):
            assert r["event"]["action"] in ("candidate.added", "procedure.approved", "item.captured")
            continue
        decision = built.decisions[r["item_id"]]
        assert r["event"]["payload"]["decision_id"] == decision
    built.ws.record("settings.changed", actor="Capt. X", payload={"note": "the log grows"})
    built.ws.audit.checkpoint()
    assert verify_receipts(built.ws, path).ok  # a receipt stays valid as the log grows


def _tamper(html: str, change) -> str:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(html, "html.parser")
    block = soup.find("script", id="receipts")
    data = json.loads(block.string)
    change(data)
    block.string = json.dumps(data)
    return str(soup)


def _flip(hexstr: str) -> str:
    return ("0" if hexstr[0] != "0" else "1") + hexstr[1:]


@pytest.mark.parametrize("name,change", [
    ("proof hash", lambda d: d["receipts"][0]["proof"].__setitem__(0, _flip(d["receipts"][0]["proof"][0]))),
    ("event reason", lambda d: d["receipts"][0]["event"]["payload"].__setitem__("reason", "nothing to see")),
    ("event subject", lambda d: d["receipts"][0]["event"].__setitem__("subject", "item-jane-doe-drugs")),
    ("seq", lambda d: d["receipts"][0].__setitem__("seq", d["receipts"][0]["seq"] + 1)),
    ("checkpoint root", lambda d: d["checkpoint"].__setitem__("root", _flip(d["checkpoint"]["root"]))),
    ("checkpoint size", lambda d: d["checkpoint"].__setitem__("tree_size", d["checkpoint"]["tree_size"] - 1)),
    ("public key", lambda d: d.__setitem__("public_key_sha256", _flip(d["public_key_sha256"]))),
    ("signature", lambda d: d["checkpoint"].__setitem__("note", d["checkpoint"]["note"].replace("\n\u2014 ", "\n\u2014 x"))),
    ("dropped receipt", lambda d: d.__setitem__("receipts", [r for r in d["receipts"] if r["role"] != "validated"
                                                             or r["item_id"] != "item-jane-doe-clean"])),
])
def test_tampered_receipt_fails(built: Built, tmp_path: Path, name: str, change) -> None:  # type: ignore[no-untyped-def]
    html = _rendered(built, tmp_path).read_text()
    assert verify_receipts(built.ws, html).ok
    result = verify_receipts(built.ws, _tamper(html, change))
    assert not result.ok, name
    assert result.problems


def test_receipts_of_another_workspace_fail(built: Built, tmp_path: Path) -> None:
    html = _rendered(built, tmp_path).read_text()
    other = build_reports_workspace(tmp_path / "other")
    result = verify_receipts(other.ws, html)
    assert not result.ok and any("checkpoint" in p for p in result.problems or [])


def test_a_report_without_receipts_fails(built: Built) -> None:
    result = verify_receipts(built.ws, "<html><body><p>forged</p></body></html>")
    assert not result.ok and "receipts" in (result.problems or [""])[0]


def test_batched_proofs_equal_the_logs_own(built: Built) -> None:
    from vetting.reports.data import inclusion_proofs

    size = built.ws.audit.checkpoint().tree_size
    seqs = list(range(size))
    assert inclusion_proofs(built.ws, seqs, size) == {s: built.ws.audit.inclusion_proof(s, size) for s in seqs}
    with pytest.raises(ValueError):
        inclusion_proofs(built.ws, [0], size + 100)


def test_superseded_decision_reports_the_one_in_force(built: Built, tmp_path: Path) -> None:
    from vetting.review.validation import DecisionRequest, decide

    item = "item-jane-doe-clean"
    old = built.decisions[item]
    new = decide(built.ws, DecisionRequest(item, "validated", "re-reviewed: still the candidate's account",
                                           "Det. Kim Ode", supersedes=old))
    path = _rendered(built, tmp_path)
    data = read_receipts(path.read_text())
    mine = [r for r in data["receipts"] if r["item_id"] == item]
    assert [r["event"]["payload"]["decision_id"] for r in mine] == [new.id]
    assert verify_receipts(built.ws, path).ok
