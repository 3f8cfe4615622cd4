"""The commanders' reports: the written process (with its versions) and audit & uniformity."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import SHIPPED, Built
from sqlmodel import select

from vetting.domain.approvals import approve
from vetting.domain.models import StepRun
from vetting.domain.procedure import load_procedure
from vetting.reports.render import build_document

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PID = "kcpd-261-1-preemployment"


def soup_of(b: Built, kind: str, subject: str | None) -> BeautifulSoup:
    return BeautifulSoup(build_document(b.ws, kind, subject, lambda: AT).html, "html.parser")


def approve_v2(b: Built, tmp_path: Path) -> str:
    text = SHIPPED.read_text().replace("version: 1", "version: 2", 1).replace(
        "title: Pre-employment internet search of job candidates", "title: Pre-employment internet search, revised", 1)
    path = tmp_path / "kcpd-261-1-v2.yaml"
    path.write_text(text)
    (tmp_path / "sites").mkdir(exist_ok=True)
    for manifest in (SHIPPED.parent / "sites").iterdir():
        (tmp_path / "sites" / manifest.name).write_bytes(manifest.read_bytes())
    version, new = approve(b.ws, path, "Maj. Ana Reyes")
    assert new
    return version.fingerprint


def test_process_report_is_the_procedure_as_a_document(built: Built) -> None:
    soup = soup_of(built, "process", PID)
    text = soup.get_text(" ", strip=True)
    proc = load_procedure(SHIPPED)
    assert proc.fingerprint in text and "Capt. Dana Whitfield" in text
    steps = soup.select("section.step")
    assert [s.h3.code.get_text() for s in steps] == [s.id for s in proc.procedure.steps]
    for section, step in zip(steps, proc.procedure.steps):
        body = section.get_text(" ", strip=True)
        assert " ".join(step.purpose.split()) in body and step.policy in body and step.collector in body
    assert "sha256" in steps[1].get_text() and "up to 200 page(s)" in steps[1].get_text()
    cats = soup.select("section.category")
    assert len(cats) == len(proc.procedure.categories) == 9
    assert "brings discredit" in soup.find(id="category-tactical-instruments").get_text()
    settings = soup.select_one("table.settings").get_text(" ", strip=True)
    for fact in ("7 years", "confirmed", "KCPD-BackgroundInvestigations/1.0", "5000000 bytes", "all public domains"):
        assert fact in settings
    assert soup.find("dt", string="Cases run under it").find_next("dd").get_text(strip=True) == "2"


def test_process_report_lists_every_version(built: Built, tmp_path: Path) -> None:
    v1 = load_procedure(SHIPPED).fingerprint
    v2 = approve_v2(built, tmp_path)
    latest = soup_of(built, "process", PID)
    assert latest.h1.get_text() == "Pre-employment internet search, revised"
    rows = [tr.get_text(" ", strip=True) for tr in latest.select("#history ~ table tbody tr")]
    assert len(rows) == 2 and v1 in rows[0] and v2 in rows[1] and "(this document)" in rows[1]
    assert "Maj. Ana Reyes" in rows[1] and "Capt. Dana Whitfield" in rows[0]
    first = soup_of(built, "process", f"{PID}@{v1}")
    assert "(this document)" in first.select("#history ~ table tbody tr")[0].get_text()
    with pytest.raises(LookupError):
        build_document(built.ws, "process", "no-such-procedure", lambda: AT)


def test_audit_report_verification_timeline_refusals_and_matrix(built: Built) -> None:
    soup = soup_of(built, "audit", None)
    assert soup.select_one("#verification ~ p").get_text().startswith("Intact")
    jane = soup.find("section", id=f"case-{built.case_id('jane-doe')}")
    actions = [tr.find_all("td")[3].get_text() for tr in jane.select("table.timeline tbody tr")]
    assert actions[0] == "case.opened" and actions.count("step.started") == 3 and actions.count("step.finished") == 3
    assert actions.count("item.validated") == 4 and "item.rejected" in actions and actions.count("item.concurred") == 2
    assert "request.allowed" not in actions
    refused = [tr.get_text(" ", strip=True) for tr in jane.select("table.refused tbody tr")]
    assert len(refused) == 2 and "address: 10.0.0.1 is private" in refused[0] and "GET" in refused[0]
    omar = soup.find("section", id=f"case-{built.case_id('omar-haddad')}")
    assert "No request was refused" in omar.get_text()
    matrix = soup.select_one("table.uniformity")
    rows = {tr.td.get_text(): [td.get_text() for td in tr.find_all("td")[1:]] for tr in matrix.select("tbody tr")}
    assert rows == {"jane-doe": ["completed", "completed", "completed", "complete"],
                    "omar-haddad": ["completed", "completed", "failed", "complete"]}
    # Issue 9.4: omar-haddad's failed web search means he was not searched like jane-doe.
    deviations = [li.get_text() for li in soup.select("ul.deviations li")]
    assert deviations and all("omar-haddad" in d for d in deviations), deviations
    assert any("step web-search failed" in d for d in deviations), deviations
    assert "Uniform:" not in soup.get_text()


def test_audit_report_highlights_deviations_and_tampering(built: Built) -> None:
    ws = built.ws
    with ws.session() as s:
        run = s.exec(select(StepRun).where(StepRun.case_id == built.case_id("omar-haddad"),
                                           StepRun.step_id == "account-discovery")).one()
        run.status = "pending"
        s.add(run)
        s.commit()
    shot = next(a for a in built.items["item-jane-doe-gun"].artifacts() if a["kind"] == "screenshot")
    ws.evidence_path(shot["path"]).write_bytes(b"\x89PNG\r\n\x1a\nchanged")
    soup = soup_of(built, "audit", PID)
    assert soup.select_one("#verification ~ p").get_text().startswith("Problems found")
    assert shot["path"] in soup.select_one("table.problems").get_text()
    bad_cells = [td.get_text() for td in soup.select("table.uniformity td.deviation")]
    assert "pending" in bad_cells and "complete" in bad_cells  # the step and omar's case flagged
    deviations = soup.select("ul.deviations li")
    assert deviations and all("omar-haddad" in li.get_text() for li in deviations)


def test_audit_report_for_an_unknown_procedure_is_refused(built: Built) -> None:
    with pytest.raises(LookupError):
        build_document(built.ws, "audit", "no-such-procedure", lambda: AT)
