"""The report pages: findings, written process and audit reports served sandboxed; hiring staff
read only the reports released to them, with redacted pictures, and reach nothing else.

The workspace is tests/report_fixtures.py's (real audit events, adverse findings concurred,
pictures redacted by Chromium), with the cast of tests/team.py and the application of
tests/web_fixtures.py; ``jane-doe``'s findings report is released to ``hjones``.
"""

from __future__ import annotations

import hashlib

import pytest
from leakcheck import html_text_and_pictures
from report_fixtures import build_reports_workspace
from team import make_team
from web_fixtures import ORIGIN, Clock, WebSite

from vetting.web.security import SANDBOX_CSP

PROC_ID = "kcpd-261-1-preemployment"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> WebSite:
    from vetting.people.assignments import assign_case, release_report
    from vetting.web.app import create_app

    root = tmp_path_factory.mktemp("web-reports")
    b = build_reports_workspace(root)
    team = make_team(b.ws, root)
    jane, omar = b.case_id("jane-doe"), b.case_id("omar-haddad")
    assign_case(b.ws, jane, "sortiz", actor=team.account("amoreno"))
    release_report(b.ws, jane, "hjones", actor=team.account("amoreno"))
    clock = Clock()
    app = create_app(b.ws, origin=ORIGIN, clock=clock)
    return WebSite(team, app, clock, jane, omar, "item-jane-doe-gun", "item-omar-haddad-clean")


@pytest.fixture(scope="module")
def hiring(site: WebSite):  # type: ignore[no-untyped-def]
    return site.browser("hjones")


def screenshots(site: WebSite) -> set[str]:
    from sqlmodel import select

    from vetting.domain.models import Item

    with site.ws.session() as s:
        return {a["sha256"] for item in s.exec(select(Item)) for a in item.artifacts() if a["kind"] == "screenshot"}


def test_the_hiring_home_lists_only_the_released_reports(site: WebSite, hiring) -> None:  # type: ignore[no-untyped-def]
    page = hiring.get("/released")
    assert page.status_code == 200
    assert f"/cases/{site.case}/report" in page.text and site.other_case not in page.text
    assert site.browser("amoreno").get("/released").status_code == 403


def test_the_released_report_is_sandboxed_and_shows_only_redacted_pictures(site: WebSite, hiring) -> None:  # type: ignore[no-untyped-def]
    page = hiring.get(f"/cases/{site.case}/report")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == SANDBOX_CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "Lake day" in page.text and "<script>alert" not in page.text
    _, pictures = html_text_and_pictures(page.text)
    assert pictures, "the adverse findings carry their redacted pictures"
    digests = {hashlib.sha256(p).hexdigest() for p in pictures}
    redacted = {e.payload["redacted"]["sha256"] for e in site.ws.audit.events(case_id=site.case)
                if e.action == "evidence.redacted"}
    assert digests <= redacted  # every picture is a recorded redacted one
    assert not digests & screenshots(site)  # and none is a screenshot
    assert "/screenshot" not in page.text
    rendered = [e for e in site.ws.audit.events(case_id=site.case) if e.action == "report.rendered"]
    assert rendered and rendered[-1].actor == "user:hjones"


def test_the_pdf_is_an_attachment(site: WebSite, hiring) -> None:  # type: ignore[no-untyped-def]
    pdf = hiring.get(f"/cases/{site.case}/report?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert pdf.headers["content-type"] == "application/pdf"
    assert hiring.get(f"/cases/{site.case}/report?format=docx").status_code == 400


def test_hiring_reaches_nothing_else(site: WebSite, hiring) -> None:  # type: ignore[no-untyped-def]
    assert hiring.get(f"/cases/{site.other_case}/report").status_code == 403
    for path in ("/cases", f"/cases/{site.case}", f"/items/{site.item}", f"/items/{site.item}/screenshot",
                 "/procedures", f"/procedures/{PROC_ID}", "/uniformity", "/audit", "/concurrences",
                 "/reports/audit", f"/reports/process/{PROC_ID}", f"/cases/{site.case}/people"):
        assert hiring.get(path).status_code == 403, path


def test_a_revoked_release_is_no_longer_readable(site: WebSite) -> None:
    from vetting.people.assignments import release_report, revoke_release

    supervisor = site.team.account("amoreno")
    release_report(site.ws, site.other_case, "hjones", actor=supervisor)
    client = site.browser("hjones")
    assert client.get(f"/cases/{site.other_case}/report").status_code == 200
    revoke_release(site.ws, site.other_case, "hjones", actor=supervisor)
    assert client.get(f"/cases/{site.other_case}/report").status_code == 403
    assert f"/cases/{site.other_case}/report" not in client.get("/released").text


def test_process_and_audit_reports(site: WebSite) -> None:
    from vetting.domain.approvals import versions

    client = site.browser("dwhitfield")
    for path in (f"/reports/process/{PROC_ID}", "/reports/audit",
                 f"/reports/process/{PROC_ID}?fingerprint={versions(site.ws)[0].fingerprint}"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == SANDBOX_CSP
    assert client.get("/reports/process/no-such-procedure").status_code == 404
    assert client.get(f"/reports/process/{PROC_ID}?fingerprint=nope").status_code == 400
    inv = site.browser("sortiz")
    assert inv.get(f"/reports/process/{PROC_ID}").status_code == 200
    assert inv.get("/reports/audit").status_code == 403
    assert inv.get(f"/cases/{site.case}/report").status_code == 200  # assigned to him
    assert inv.get(f"/cases/{site.other_case}/report").status_code == 403
