"""The procedure pages: approved versions, checking an upload by line, its difference, approval with step-up.

Through real HTTP (tests/web_fixtures.py): a commander uploads a procedure with errors and
sees each problem with its line; a changed version shows its unified difference from the
approved one; approval asks for the password and a fresh code again, and a wrong answer is a
failed login that counts toward the lockout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from team import PASSWORD
from web_fixtures import ORIGIN, WebSite, web_site

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "procedures" / "kcpd-261-1.yaml"
MANIFEST = REPO / "procedures" / "sites" / "whatsmyname.json"
PROC_ID = "kcpd-261-1-preemployment"


@pytest.fixture
def site(tmp_path: Path) -> WebSite:
    return web_site(tmp_path)


def files(text: str, *, manifest: bool = True) -> list[tuple[str, tuple[str, bytes, str]]]:
    out = [("file", ("kcpd-261-2.yaml", text.encode(), "application/yaml"))]
    if manifest:
        out.append(("manifest", ("whatsmyname.json", MANIFEST.read_bytes(), "application/json")))
    return out


def version_2() -> str:
    return SHIPPED.read_text().replace("\nversion: 1\n", "\nversion: 2\n").replace(
        "lookback_years: 7", "lookback_years: 5")


def broken() -> str:
    """The shipped file with two mistakes, each on a known line."""
    lines = SHIPPED.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  lookback_years:"):
            lines[i] = "  lookback_years: many"
            bad_lookback = i + 1
        if line.strip() == "collector: search":
            lines[i] = "    collector: telepathy"
            bad_collector = i + 1
    broken.lines = (bad_lookback, bad_collector)  # type: ignore[attr-defined]
    return "\n".join(lines) + "\n"


def post(site: WebSite, client, path: str, data: dict, upload) -> object:  # type: ignore[no-untyped-def]
    token = site.csrf(client, "/procedures")
    return client.post(path, data={"csrf": token, **data}, files=upload, headers={"origin": ORIGIN})


def versions(site: WebSite) -> list:
    from vetting.domain.models import ProcedureVersion

    with site.ws.session() as s:
        return list(s.exec(select(ProcedureVersion)))


def failures(site: WebSite, login: str) -> int:
    from vetting.people.models import LoginAttempt

    with site.ws.session() as s:
        return len(list(s.exec(select(LoginAttempt).where(LoginAttempt.login == login,
                                                          LoginAttempt.ok == False))))  # noqa: E712


def test_the_list_shows_the_approved_version(site: WebSite) -> None:
    page = site.browser("dwhitfield").get("/procedures")
    assert page.status_code == 200 and PROC_ID in page.text and "Approve a procedure file" in page.text
    inv = site.browser("sortiz").get("/procedures")
    assert inv.status_code == 200 and "Approve a procedure file" not in inv.text
    one = site.browser("amoreno").get(f"/procedures/{PROC_ID}")
    assert one.status_code == 200 and f"/reports/process/{PROC_ID}" in one.text
    assert site.browser("amoreno").get("/procedures/no-such-procedure").status_code == 404


def test_every_problem_is_shown_with_its_line(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    text = broken()
    page = post(site, client, "/procedures/check", {}, files(text))
    assert page.status_code == 200, page.text[-1500:]
    for line in broken.lines:  # type: ignore[attr-defined]
        assert f"line {line}" in page.text, page.text
    assert "telepathy" in page.text and "cannot be approved" in page.text


def test_a_yaml_syntax_error_is_located(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    page = post(site, client, "/procedures/check", {}, files("id: x\nsteps: [a, b\n"))
    assert page.status_code == 200 and "not valid YAML" in page.text and "line " in page.text


def test_a_changed_version_shows_its_difference(site: WebSite) -> None:
    client = site.browser("sortiz")  # the author of a draft checks it: procedure.list is enough
    page = post(site, client, "/procedures/check", {}, files(version_2()))
    assert page.status_code == 200, page.text[-1500:]
    assert "valid</span>" in page.text
    assert '<span class="diff-del">-  lookback_years: 7</span>' in page.text
    assert '<span class="diff-add">+  lookback_years: 5</span>' in page.text
    assert "version 1 (approved)" in page.text


def test_a_missing_manifest_and_an_escaping_path_are_problems_nothing_is_read(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    page = post(site, client, "/procedures/check", {}, files(version_2(), manifest=False))
    assert page.status_code == 200 and "cannot be read" in page.text and "vet-web-procedure" not in page.text
    escaping = version_2().replace("sites: sites/whatsmyname.json", "sites: /etc/passwd")
    page = post(site, client, "/procedures/check", {}, files(escaping))
    assert "uploaded with the procedure" in page.text and "root:" not in page.text


def test_approval_needs_the_right_code_and_wrong_answers_lock_the_account(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    site.clock.advance(seconds=1)  # failures count after the login's own moment
    before = failures(site, "dwhitfield")
    refused = post(site, client, "/procedures/approve", {"password": PASSWORD, "code": "000000"}, files(version_2()))
    assert refused.status_code == 403, refused.text[-1500:]
    assert failures(site, "dwhitfield") == before + 1
    assert [v.version for v in versions(site)] == [1]
    for _ in range(4):
        post(site, client, "/procedures/approve", {"password": "wrong", "code": site.code("dwhitfield")},
             files(version_2()))
    from vetting.people.models import Account

    with site.ws.session() as s:
        assert s.get(Account, "dwhitfield").locked_at is not None
    # locked: even the right answer is refused now
    late = post(site, client, "/procedures/approve", {"password": PASSWORD, "code": site.code("dwhitfield")},
                files(version_2()))
    assert late.status_code == 403 and [v.version for v in versions(site)] == [1]


def test_approval_with_password_and_fresh_code(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    done = post(site, client, "/procedures/approve", {"password": PASSWORD, "code": site.code("dwhitfield")},
                files(version_2()))
    assert done.status_code == 303, done.text[-1500:]
    assert done.headers["location"] == f"/procedures/{PROC_ID}"
    new = [v for v in versions(site) if v.version == 2]
    assert len(new) == 1 and new[0].approved_by == "user:dwhitfield" and new[0].source_name == "kcpd-261-2.yaml"
    events = [e for e in site.ws.audit.events() if e.action == "procedure.approved"]
    assert events[-1].actor == "user:dwhitfield" and events[-1].subject == new[0].fingerprint
    steps = [e for e in site.ws.audit.events() if e.action.startswith("auth.") and e.subject == "dwhitfield"]
    assert steps  # the step-up is recorded


def test_a_file_with_problems_is_not_approved_and_uses_no_code(site: WebSite) -> None:
    client = site.browser("dwhitfield")
    page = post(site, client, "/procedures/approve", {"password": PASSWORD, "code": "000000"}, files(broken()))
    assert page.status_code == 422 and [v.version for v in versions(site)] == [1]
    assert failures(site, "dwhitfield") == 0


def test_only_a_commander_approves(site: WebSite) -> None:
    client = site.browser("amoreno")
    page = post(site, client, "/procedures/approve", {"password": PASSWORD, "code": site.code("amoreno")},
                files(version_2()))
    assert page.status_code == 403 and [v.version for v in versions(site)] == [1]


@pytest.mark.parametrize("path", ["/procedures/check", "/procedures/approve"])
def test_csrf_and_origin_and_an_empty_form(site: WebSite, path: str) -> None:
    client = site.browser("dwhitfield")
    token = site.csrf(client, "/procedures")
    data = {"password": PASSWORD, "code": site.code("dwhitfield")}
    assert client.post(path, data=data, files=files(version_2()), headers={"origin": ORIGIN}).status_code == 403
    foreign = client.post(path, data={"csrf": token, **data}, files=files(version_2()),
                          headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    empty = client.post(path, data={"csrf": token}, headers={"origin": ORIGIN})
    assert empty.status_code == 400 and "file" in empty.text
    assert [v.version for v in versions(site)] == [1] and failures(site, "dwhitfield") == 0
