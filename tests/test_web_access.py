"""The access matrix of the web application, generated from its route table.

Every route of :func:`vetting.web.app.all_pages` × every role of the cast × (own case, another
case, unknown id) gets the status docs/web.md documents, computed here from
:data:`vetting.people.permissions.PERMISSIONS` and never written out by hand: a new route
is in the matrix the moment it is in the table, and a new path parameter without a sample
below fails the test. State-changing routes are sent with the session's CSRF token and
nothing else, so an allowed one must answer 400 and change nothing; the database's casework
tables are compared before and after the whole matrix.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing

import pytest
from team import CAST
from web_fixtures import ORIGIN, WebSite, web_site

from vetting.people.permissions import ANY, ASSIGNED, PERMISSIONS, RELEASED
from vetting.web.app import all_pages
from vetting.web.routes import PUBLIC, SIGNED_IN, Page

PARAM = re.compile(r"\{(\w+)\}")
#: The accounts that log in in a browser: every role but automation, whose key logs in only
#: through the CLI and the queue (test_automation_cannot_log_in_to_the_web).
PEOPLE = [login for login, (_, _, roles) in CAST.items() if roles != ["automation"]]

#: Routes left out of the matrix, and why (each is tested on its own).
NOT_IN_MATRIX = {
    ("POST", "/logout"): "ends the session the matrix browses with (test_web_sessions)",
}

#: Tables whose rows are casework: an allowed POST without its fields must not change them.
CASEWORK_TABLES = ("candidate", "case", "item", "decision", "concurrence", "procedureversion", "caseassignment",
                   "reportrelease", "account", "legalhold", "steprun")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> WebSite:
    from vetting.people.assignments import release_report
    from vetting.review.validation import DecisionRequest
    from vetting.services.review import decide

    s = web_site(tmp_path_factory.mktemp("webaccess"))
    for login, item in (("sortiz", s.item), ("kosei", s.other_item)):
        decide(s.ws, s.team.account(login), DecisionRequest(item_id=item, decision="rejected", reason="not them",
                                                            by=""))
    release_report(s.ws, s.case, "hjones", actor=s.team.account("amoreno"))
    s.browsers = {login: s.browser(login) for login in PEOPLE}  # type: ignore[attr-defined]
    return s


def own_and_other(site: WebSite, login: str) -> tuple[str, str]:
    """The case that is ``login``'s (assigned to it; for hiring, released to it) and one that is not."""
    return (site.other_case, site.case) if login == "kosei" else (site.case, site.other_case)


def decision_of(site: WebSite, case_id: str) -> str:
    from sqlmodel import select

    from vetting.domain.models import Decision

    with site.ws.session() as s:
        return str(s.exec(select(Decision.id).where(Decision.case_id == case_id)).first())


def item_of(site: WebSite, case_id: str) -> str:
    return site.item if case_id == site.case else site.other_item


def samples(site: WebSite) -> dict[str, str]:
    from vetting.domain.approvals import versions

    return {"n": "0", "procedure": "kcpd-261-1-preemployment", "login": "hjones",
            "fingerprint": versions(site.ws)[0].fingerprint}


def path_for(site: WebSite, page: Page, case_id: str | None, unknown: bool) -> str:
    values = samples(site)
    if page.target is not None:
        values[page.target] = ("no-such-" + page.target if page.target != "decision" else "999999") if unknown \
            else {"case": case_id, "item": item_of(site, case_id or ""),
                  "decision": decision_of(site, case_id or "")}[page.target]
    names = PARAM.findall(page.path)
    missing = [n for n in names if n not in values]
    assert not missing, f"route {page.path}: no sample value for {missing}: add one to samples()"
    return PARAM.sub(lambda m: str(values[m.group(1)]), page.path)


def expected(site: WebSite, page: Page, method: str, login: str, variant: str) -> int:
    """The documented status (docs/web.md, "Who may open what")."""
    roles = CAST[login][2]
    ok = 200 if method == "GET" else 400
    if page.act == SIGNED_IN:
        return ok
    scopes = PERMISSIONS[page.act].scopes
    held = [scopes[r] for r in roles if r in scopes]
    if not held:
        return 403
    if variant == "unknown":
        return 404
    if ANY in held or page.target is None:
        return ok
    if variant == "own" and (ASSIGNED in held and login in ("sortiz", "kosei")
                             or RELEASED in held and login == "hjones"):
        return ok
    return 403


def cases() -> list[tuple[Page, str]]:
    out = []
    for page in all_pages():
        for method in page.methods:
            if page.act != PUBLIC and (method, page.path) not in NOT_IN_MATRIX:
                out.append((page, method))
    return out


def casework(site: WebSite) -> dict[str, list]:
    path = site.ws.root / "vetting.db"
    with closing(sqlite3.connect(path)) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"'))) for t in CASEWORK_TABLES if t in names
                and t != "account"} | {"account": sorted(map(repr, db.execute(
                    "SELECT login, status, roles_json, locked_at FROM account")))}


def request(site: WebSite, client, method: str, path: str):  # type: ignore[no-untyped-def]
    if method == "GET":
        return client.get(path)
    return client.request(method, path, data={"csrf": site.csrf(client)}, headers={"origin": ORIGIN})


@pytest.mark.parametrize("page,method", cases(), ids=lambda v: v.path if isinstance(v, Page) else v)
def test_every_route_every_role(site: WebSite, page: Page, method: str) -> None:
    before = casework(site)
    wrong = []
    for login in PEOPLE:
        own, other = own_and_other(site, login)
        variants = {"own": own, "other": other, "unknown": None} if page.target else {"any": own}
        for variant, case_id in variants.items():
            path = path_for(site, page, case_id, variant == "unknown")
            got = request(site, site.browsers[login], method, path)  # type: ignore[attr-defined]
            want = expected(site, page, method, login, variant)
            if got.status_code != want:
                wrong.append(f"{login} {method} {path} ({variant}): {got.status_code}, documented {want}")
            assert "Traceback" not in got.text
    assert not wrong, "\n".join(wrong)
    if method != "GET":
        assert casework(site) == before, f"{method} {page.path} without its fields changed casework"


@pytest.mark.parametrize("page,method", cases(), ids=lambda v: v.path if isinstance(v, Page) else v)
def test_nobody_logged_in(site: WebSite, page: Page, method: str) -> None:
    """No session: a page sends the browser to the login (303), a form is refused (403)."""
    own, _ = own_and_other(site, "sortiz")
    client = site.client()
    got = request(site, client, method, path_for(site, page, own, False)) if method == "GET" else \
        client.request(method, path_for(site, page, own, False), data={}, headers={"origin": ORIGIN})
    if method == "GET":
        assert got.status_code == 303 and got.headers["location"].startswith("/login?next="), got.status_code
    else:
        assert got.status_code == 403


def test_every_route_goes_through_the_gate(site: WebSite) -> None:
    """No route of the application bypasses the table: each is a Page of all_pages() (or static files)."""
    from starlette.routing import Mount, Route

    app = site.app.app  # inside SecurityHeaders
    table = {(p.path, m) for p in all_pages() for m in p.methods}
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static"
            continue
        assert isinstance(route, Route)
        for m in route.methods - {"HEAD"}:
            assert (route.path, m) in table, f"{m} {route.path} is not in the route table"


def test_refusals_are_audited(site: WebSite) -> None:
    from vetting.domain.models import Item  # noqa: F401 - the models are loaded

    events = [e for e in site.ws.audit.events() if e.action == "access.refused" and e.actor == "user:hjones"]
    assert events, "a hiring account refused a case page is recorded"


def test_automation_cannot_log_in_to_the_web(site: WebSite) -> None:
    """An automation account has no password and code: the login form refuses it (403), no cookie."""
    client = site.client()
    got = site.login_form(client, "bot", password="anything", code="000000")
    assert got.status_code == 403 and "__Host-vet_session" not in client.cookies
