"""The oversight pages: the concurrence queue and concurring with step-up, uniformity, the audit
log's verification, and a case's people (assignment, report release and its revocation).

Through real HTTP (tests/web_fixtures.py). The two-person rule is the service's, on accounts:
the investigator who decided cannot concur, nor can a second account with the same badge,
even with the right password and code; a wrong code is a failed login.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from team import PASSWORD, cheap_hashing
from web_fixtures import ORIGIN, WebSite, web_site


@pytest.fixture
def site(tmp_path: Path) -> WebSite:
    return web_site(tmp_path)


def adverse(site: WebSite) -> int:
    """sortiz's adverse finding on the item of his case; its decision id."""
    from vetting.review.validation import DecisionRequest
    from vetting.services.review import decide

    row = decide(site.ws, site.team.account("sortiz"), DecisionRequest(
        site.item, "validated", "her account, read in full", "", ("tactical-instruments",),
        discredit="Pointing a rifle at an animal for fun, posted publicly."))
    assert row.adverse and row.id is not None
    return row.id


def add_person(site: WebSite, login: str, roles: list[str], badge: str) -> None:
    """Another account, logged in once to choose its password, whose browser can then log in."""
    import pyotp

    from vetting.people.accounts import add_account
    from vetting.people.sessions import login_password

    with cheap_hashing():
        _, creds = add_account(site.ws, login=login, name="Sam Ortiz", roles=roles,
                               actor=site.team.account("root-admin"), badge=badge)
        login_password(site.ws, login, creds.password or "", pyotp.TOTP(creds.totp_secret or "").now(),
                       choose_password=lambda: PASSWORD)
    site.team.totp_secrets[login] = creds.totp_secret or ""


def concurrences(site: WebSite) -> list:
    from vetting.domain.models import Concurrence

    with site.ws.session() as s:
        return list(s.exec(select(Concurrence)))


def concur(site: WebSite, client, decision: int, *, code: str | None = None, login: str):  # type: ignore[no-untyped-def]
    token = site.csrf(client, "/")
    return client.post(f"/decisions/{decision}/concur", headers={"origin": ORIGIN}, data={
        "csrf": token, "reason": "read the page and the identity evidence", "password": PASSWORD,
        "code": code if code is not None else site.code(login)})


def test_the_queue_lists_the_adverse_finding_and_a_supervisor_concurs(site: WebSite) -> None:
    decision = adverse(site)
    client = site.browser("amoreno")
    page = client.get("/concurrences")
    assert page.status_code == 200 and f"/decisions/{decision}/concur" in page.text
    assert "tactical-instruments" in page.text and "her account, read in full" in page.text
    assert "Pointing a rifle at an animal" in page.text  # the committed words, read back
    done = concur(site, client, decision, login="amoreno")
    assert done.status_code == 303, done.text[-1500:]
    rows = concurrences(site)
    assert len(rows) == 1 and rows[0].decision_id == decision and rows[0].concurred_by == "user:amoreno"
    assert f"/decisions/{decision}/concur" not in client.get("/concurrences").text
    again = concur(site, client, decision, login="amoreno")
    assert again.status_code == 422 and "already has the concurrence" in again.text


def test_a_wrong_code_is_refused_and_counted(site: WebSite) -> None:
    from vetting.people.models import LoginAttempt

    decision = adverse(site)
    client = site.browser("amoreno")
    site.clock.advance(seconds=1)
    refused = concur(site, client, decision, code="000000", login="amoreno")
    assert refused.status_code == 403 and concurrences(site) == []
    with site.ws.session() as s:
        failed = list(s.exec(select(LoginAttempt).where(LoginAttempt.login == "amoreno",
                                                        LoginAttempt.ok == False)))  # noqa: E712
    assert len(failed) == 1 and failed[0].method == "step-up"


def test_the_decider_cannot_concur(site: WebSite) -> None:
    from vetting.people.accounts import change_roles

    decision = adverse(site)
    client = site.browser("sortiz")
    assert concur(site, client, decision, login="sortiz").status_code == 403  # an investigator: the table
    assert client.get("/concurrences").status_code == 403
    change_roles(site.ws, "sortiz", actor=site.team.account("root-admin"), grant=["supervisor"])
    page = client.get("/concurrences")
    assert page.status_code == 200 and "it made that decision" in page.text
    refused = concur(site, client, decision, login="sortiz")  # a supervisor now: the two-person rule
    assert refused.status_code == 403 and "two-person rule" in refused.text
    assert concurrences(site) == []


def test_a_second_account_with_the_same_badge_cannot_concur(site: WebSite) -> None:
    decision = adverse(site)
    add_person(site, "sortiz2", ["supervisor"], badge="4411")
    client = site.browser("sortiz2")
    refused = concur(site, client, decision, login="sortiz2")
    assert refused.status_code == 403 and "same employee number 4411" in refused.text
    assert concurrences(site) == []


def test_uniformity_shows_the_matrix(site: WebSite) -> None:
    page = site.browser("dwhitfield").get("/uniformity")
    assert page.status_code == 200
    assert "kcpd-261-1-preemployment version 1" in page.text
    assert '<th scope="row">jane-doe</th>' in page.text and '<th scope="row">pat-roe</th>' in page.text
    assert "1. disclosed-profiles" in page.text


def test_audit_verification_green_then_red(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    page = client.get("/audit")
    assert page.status_code == 200 and "verdict-ok" in page.text and 'href="/reports/audit"' in page.text
    inv = site.browser("sortiz").get("/audit")  # investigators verify; the report is not theirs
    assert inv.status_code == 200 and 'href="/reports/audit"' not in inv.text
    from vetting.domain.approvals import fingerprint_dir, versions

    frozen = site.ws.procedures_dir / fingerprint_dir(versions(site.ws)[0].fingerprint) / "procedure.yaml"
    frozen.write_bytes(frozen.read_bytes() + b"# tampered\n")
    page = client.get("/audit")
    assert page.status_code == 200 and "verdict-bad" in page.text and "Problems found" in page.text
    assert "procedure.yaml" in page.text


def test_assign_release_and_revoke(site: WebSite) -> None:
    from vetting.people.assignments import has_release, is_assigned

    client = site.browser("amoreno")
    page = client.get(f"/cases/{site.case}/people")
    assert page.status_code == 200 and "sortiz" in page.text
    token = site.csrf(client, f"/cases/{site.case}/people")

    def post(action: str, login: str):  # type: ignore[no-untyped-def]
        return client.post(f"/cases/{site.case}/{action}", data={"csrf": token, "login": login},
                           headers={"origin": ORIGIN})

    assert post("assign", "kosei").status_code == 303 and is_assigned(site.ws, site.case, "kosei")
    again = post("assign", "kosei")
    assert again.status_code == 400 and "already assigned" in again.text
    assert post("assign", "hjones").status_code == 400  # not an investigator
    assert post("release", "hjones").status_code == 303 and has_release(site.ws, site.case, "hjones")
    assert "Revoke the release to hjones" in client.get(f"/cases/{site.case}/people").text
    assert post("revoke", "hjones").status_code == 303 and not has_release(site.ws, site.case, "hjones")
    assert "End the assignment of kosei" in client.get(f"/cases/{site.case}/people").text
    assert post("unassign", "kosei").status_code == 303 and not is_assigned(site.ws, site.case, "kosei")
    assert post("unassign", "kosei").status_code == 400  # no assignment in force any more
    inv = site.browser("sortiz")
    assert inv.get(f"/cases/{site.case}/people").status_code == 403


POSTS = [("/decisions/{decision}/concur", "amoreno"), ("/cases/{case}/assign", "amoreno"),
         ("/cases/{case}/unassign", "amoreno"), ("/cases/{case}/release", "amoreno"),
         ("/cases/{case}/revoke", "amoreno")]


@pytest.mark.parametrize("path,login", POSTS)
def test_csrf_origin_and_an_empty_form_change_nothing(site: WebSite, path: str, login: str) -> None:
    from vetting.people.models import CaseAssignment, LoginAttempt, ReportRelease

    decision = adverse(site)
    if path.endswith("revoke"):
        from vetting.people.assignments import release_report

        release_report(site.ws, site.case, "hjones", actor=site.team.account("amoreno"))

    def state() -> tuple:  # type: ignore[type-arg]
        with site.ws.session() as s:
            return (len(concurrences(site)), [(a.login, a.ended_at) for a in s.exec(select(CaseAssignment))],
                    [(r.login, r.revoked_at) for r in s.exec(select(ReportRelease))],
                    len(list(s.exec(select(LoginAttempt)))))

    client = site.browser(login)
    url = path.format(decision=decision, case=site.case)
    token = site.csrf(client, "/")
    full = {"reason": "checked", "password": PASSWORD, "code": site.code(login),
            "login": "hjones" if "release" in path or "revoke" in path else "kosei"}
    before = state()
    assert client.post(url, data=full, headers={"origin": ORIGIN}).status_code == 403
    assert client.post(url, data={"csrf": token, **full}, headers={"origin": "https://evil.example"}).status_code == 403
    assert client.post(url, data={"csrf": token}, headers={"origin": ORIGIN}).status_code == 400
    assert state() == before


def test_origin_null_passes_only_with_the_browsers_same_origin_word(site: WebSite) -> None:
    """A browser under ``Referrer-Policy: no-referrer`` posts its own forms with ``Origin: null``;
    only ``Sec-Fetch-Site: same-origin`` (which a page cannot set) makes that one of ours."""
    from vetting.people.assignments import is_assigned

    client = site.browser("amoreno")
    token = site.csrf(client, f"/cases/{site.case}/people")
    url = f"/cases/{site.case}/assign"
    for headers in ({"origin": "null"}, {"origin": "null", "sec-fetch-site": "cross-site"},
                    {"origin": "null", "sec-fetch-site": "same-site"}):
        assert client.post(url, data={"csrf": token, "login": "kosei"}, headers=headers).status_code == 403
    assert not is_assigned(site.ws, site.case, "kosei")
    done = client.post(url, data={"csrf": token, "login": "kosei"},
                       headers={"origin": "null", "sec-fetch-site": "same-origin"})
    assert done.status_code == 303 and is_assigned(site.ws, site.case, "kosei")
