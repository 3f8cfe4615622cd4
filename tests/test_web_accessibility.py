"""Accessibility: axe-core finds no serious or critical violation on any page of the web application.

Every GET page of the route table (vetting.web.app.all_pages) is opened in real Chromium
(Playwright, Debian's /usr/bin/chromium) for every role that may see it, logged in through the
login form, with the real ids of the tests/web_fixtures.py workspace; the login page and an
error page are checked too. The application is served by uvicorn on a loopback port in a
background thread: nothing leaves 127.0.0.1.

axe-core comes from npm (``make axe`` puts it in .npm-tools; ``make test`` and .ci/run do it
first). The application's CSP forbids inline scripts, and ``page.add_script_tag(path=...)``
injects axe as an inline script, so the pages are opened in a browser context with
``bypass_csp=True``: the only script that CSP lets through is the checker itself, which this
test adds. A page answered with something other than a whole HTML document (a screenshot, a
download, the htmx progress fragment, which the case page includes) is not a page to check.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from team import PASSWORD
from web_fixtures import WebSite, web_site

REPO = Path(__file__).resolve().parent.parent
AXE = REPO / ".npm-tools" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PROC_ID = "kcpd-261-1-preemployment"
#: The account checking each role's pages (tests/team.py).
ROLES = {"investigator": "sortiz", "supervisor": "amoreno", "commander": "dwhitfield", "hiring": "hjones",
         "admin": "root-admin"}
BAD_IMPACTS = ("serious", "critical")

pytestmark = [
    pytest.mark.skipif(not AXE.exists(), reason=f"axe-core is not installed at {AXE}: run `make axe` "
                       "(npm install --no-save --prefix .npm-tools axe-core@4.10.3)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """The application of a web site, served by uvicorn in a thread on a loopback port."""

    def __init__(self, site: WebSite) -> None:
        import uvicorn

        from vetting.web.app import create_app

        self.site = site
        self.port = _free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        app = create_app(site.ws, origin=self.origin, clock=site.clock)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> WebSite:
    """The fixture's workspace, with sortiz's case released to hjones and an adverse finding
    awaiting concurrence (so the queue and the report pages have something to show)."""
    from vetting.people.assignments import release_report
    from vetting.review.validation import DecisionRequest
    from vetting.services.review import decide

    site = web_site(tmp_path_factory.mktemp("a11y"))
    decide(site.ws, site.team.account("sortiz"), DecisionRequest(
        site.item, "validated", "her account, read in full", "", ("tactical-instruments",),
        discredit="Pointing a rifle at an animal for fun, posted publicly."))
    release_report(site.ws, site.case, "hjones", actor=site.team.account("amoreno"))
    return site


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def samples(site: WebSite) -> dict[str, str]:
    """A real value for each path parameter of the route table."""
    from sqlmodel import select

    from vetting.domain.approvals import versions
    from vetting.domain.models import Decision

    with site.ws.session() as s:
        decision = s.exec(select(Decision)).first()
    return {"case": site.case, "item": site.item, "decision": str(decision.id if decision else 1), "n": "0",
            "procedure": PROC_ID, "login": "hjones", "fingerprint": versions(site.ws)[0].fingerprint}


def pages_for(role: str, site: WebSite) -> list[str]:
    """Every GET path of the route table this role may open, with the sample ids."""
    import re

    from vetting.people.permissions import PERMISSIONS
    from vetting.web.app import all_pages
    from vetting.web.routes import PUBLIC, SIGNED_IN

    values = samples(site)
    out = []
    for page in all_pages():
        if "GET" not in page.methods or page.act == PUBLIC:
            continue
        if page.act != SIGNED_IN and role not in PERMISSIONS[page.act].scopes:
            continue
        out.append(re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], page.path))
    return out


def violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The serious and critical violations axe-core finds on the open page: rule, impact, targets."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    out = []
    for v in result["violations"]:
        if v.get("impact") in BAD_IMPACTS:
            targets = [" ".join(map(str, n.get("target", []))) for n in v["nodes"]][:5]
            out.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return out


def check(page, url: str, found: dict[str, list[str]]) -> bool:  # type: ignore[no-untyped-def]
    """Open ``url`` and record its violations; False when it is not a page (a picture, a
    download, a fragment), which is only fetched."""
    peek = page.request.get(url, max_redirects=0)
    assert peek.status < 500, (url, peek.status)
    kind, disposition = peek.headers.get("content-type", ""), peek.headers.get("content-disposition", "")
    if not kind.startswith("text/html") or disposition.startswith("attachment") \
            or not peek.text().lstrip().lower().startswith("<!doctype html"):
        return False
    page.goto(url)
    problems = violations(page)
    if problems:
        found[url] = problems
    return True


def login(page, served: Served, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(served.origin + "/login")
    page.fill("#login", name)
    page.fill("#password", PASSWORD)
    page.fill("#code", served.site.code(name))
    page.check("#banner")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url(served.origin + "/")


def check_a_result(page, served: Served, tmp: Path, found: dict[str, list[str]]) -> None:  # type: ignore[no-untyped-def]
    """The page a procedure check answers with (problems by line, and the coloured difference),
    reached through the upload form as a commander would."""
    shipped = REPO / "procedures" / "kcpd-261-1.yaml"
    draft = tmp / "kcpd-261-2.yaml"
    draft.write_text(shipped.read_text().replace("\nversion: 1\n", "\nversion: 2\n")
                     .replace("lookback_years: 7", "lookback_years: many"))
    page.goto(served.origin + "/procedures")
    page.set_input_files("#check-file", str(draft))
    page.set_input_files("#check-manifest", str(REPO / "procedures" / "sites" / "whatsmyname.json"))
    page.click("button:has-text('Check')")
    page.wait_for_selector("pre.diff")
    assert "line " in page.inner_text(".problems")
    problems = violations(page)
    if problems:
        found["POST /procedures/check"] = problems


def test_axe_finds_no_serious_or_critical_violation_on_any_page(site: WebSite, browser,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    found: dict[str, list[str]] = {}
    checked = 0
    with Served(site) as served:
        context = browser.new_context(bypass_csp=True)  # axe is injected inline (see the docstring)
        page = context.new_page()
        check(page, served.origin + "/login", found)
        context.close()
        for role, name in ROLES.items():
            context = browser.new_context(bypass_csp=True)
            page = context.new_page()
            login(page, served, name)
            for path in pages_for(role, site):
                checked += check(page, served.origin + path, found)
            check(page, served.origin + "/cases/no-such-case", found)  # the error page
            if role == "commander":
                check_a_result(page, served, tmp_path, found)
            context.close()
    assert checked > 20
    report = "\n".join(f"{url}:\n  " + "\n  ".join(p) for url, p in found.items())
    print(report)
    assert not found, "axe-core found serious or critical violations:\n" + report
