"""End to end in real Chromium: the web application's journeys, each role seeing only its own.

The application is served by uvicorn on a loopback port (origin ``http://127.0.0.1:PORT``), the
demo web behind it. Chromium (Debian's, through Playwright's sync API) treats loopback as a
secure context, so it keeps the ``__Host-`` session cookie (Secure) over plain http there; the
first login asserts it. The journey: an investigator logs in through the form (password and a
TOTP code), adds a candidate uploading the signed authorization, starts the run, watches the
progress fragment reach "complete", opens an item and decides it with the keyboard shortcut;
the hostile demo pages' review pages are opened one by one. A supervisor reads the case; hiring
staff are refused the casework.

Every page records its dialogs, console messages and requests: the review pages of the
hostile items (scripts, alerts, external requests, redirects: vetting/demoweb/README.md) and
every other page give 0 dialogs, 0 console messages and 0 requests outside the application.
Screenshots of each step go to test-output/web/ (ignored by git; the closing note points there).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import yaml
from conftest import AUTH_PDF, REPO
from team import PASSWORD
from web_fixtures import web_site

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = REPO / "test-output" / "web"
PROCEDURE = "kcpd-261-1-preemployment"
#: The hostile demo pages the run captures (each becomes an item with a review page).
HOSTILE = ("/scripts", "/set-cookie", "/login-form")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(app, port: int) -> Iterator[None]:  # type: ignore[no-untyped-def]
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


class Watched:
    """A browser context of one person, recording every dialog, console message and request."""

    def __init__(self, browser, origin: str, who: str, context=None) -> None:  # type: ignore[no-untyped-def]
        self.origin, self.who = origin, who
        self.context = context or browser.new_context(viewport={"width": 1280, "height": 900})
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page = self.context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.shots = 0

    def another_page(self, who: str) -> Watched:
        """A new page of this person's browser (same session), with records of its own."""
        return Watched(None, self.origin, who, self.context)

    def _dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def outside(self) -> list[str]:
        return [u for u in self.requests if not (u == self.origin or u.startswith(self.origin + "/"))]

    def clean(self, where: str, *, refused_pages: int = 0) -> None:
        """No dialog, no console message, no request outside the application. Chromium logs
        one console line per page answered 403 (``refused_pages`` of them were asked for)."""
        console = list(self.console)
        refusals = [m for m in console if m.endswith("status of 403 (Forbidden)")]
        assert self.dialogs == [], (where, self.dialogs)
        assert len(refusals) == refused_pages and len(console) == refused_pages, (where, self.console)
        assert self.outside() == [], (where, self.outside())

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        self.page.screenshot(path=str(SHOTS / f"{self.who}-{self.shots:02d}-{name}.png"), full_page=True)

    def login(self, login: str, secret: str) -> None:
        page = self.page
        page.goto(self.origin + "/login")
        page.fill("#login", login)
        page.fill("#password", PASSWORD)
        # The team logged in at this step already (tests/team.py): the next step's code is fresh.
        page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
        page.check("#banner")
        self.shot("login")
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_url(self.origin + "/")
        cookies = {c["name"]: c for c in self.context.cookies()}
        assert "__Host-vet_session" in cookies, ("Chromium refused the __Host- cookie over http on 127.0.0.1",
                                                 list(cookies))
        assert cookies["__Host-vet_session"]["secure"] and cookies["__Host-vet_session"]["httpOnly"]
        assert page.locator("h1").inner_text().startswith("Welcome")
        self.shot("home")

    def status(self, path: str) -> int:
        response = self.page.goto(self.origin + path)
        assert response is not None
        return response.status


def _demo_procedure(tmp_path: Path, demo_web) -> Path:  # type: ignore[no-untyped-def]
    """The shipped procedure, version 2: one pages step over a demo profile and hostile pages."""
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["version"] += 1
    data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.05, "concurrency_per_domain": 4})
    sources = [demo_web.base_url("social") + "/u/casey_nav"] + [demo_web.base_url("hostile") + p for p in HOSTILE]
    step = dict(data["steps"][0], inputs=[], sources=sources)
    step["limits"] = dict(step.get("limits", {}), max_depth=0)
    data["steps"] = [step]
    path = tmp_path / "proc-demo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _fresh_code(secret: str, after: datetime) -> str:
    """A TOTP code of a step later than the one used at ``after`` (a step-up after a login):
    waits, if need be, until that step is within the accepted window."""
    totp = pyotp.TOTP(secret)
    used = totp.timecode(after + timedelta(seconds=30))
    while totp.timecode(datetime.now(UTC)) < used:
        time.sleep(1)
    return totp.at(datetime.now(UTC) + timedelta(seconds=30))


def _decide(inv: Watched, key: str, reason: str, findings: list[str] = (), discredit: str = "") -> None:  # type: ignore[assignment]
    """On an item's review page: the keyboard shortcut, the reason typed, the form sent."""
    page = inv.page
    page.locator("body").press(key)  # the shortcut picks the decision and moves to the reason
    assert page.is_checked({"v": "#d-validated", "r": "#d-rejected"}[key])
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type(reason)
    for cat in findings:
        page.check(f"#f-{cat}")
    if discredit:
        page.fill("#discredit", discredit)
    inv.shot("deciding")
    page.click("button:has-text('Record the decision')")
    page.wait_for_load_state()
    inv.shot("decided")


def test_investigator_supervisor_and_hiring_journeys_in_chromium(tmp_path: Path, demo_web) -> None:
    import json

    from playwright.sync_api import sync_playwright
    from sqlmodel import select

    from vetting.domain.approvals import approve
    from vetting.domain.models import Assessment, Decision, Item
    from vetting.web.app import all_pages, create_app

    site = web_site(tmp_path)
    approve(site.ws, _demo_procedure(tmp_path, demo_web), "Capt. Rao")
    auth = tmp_path / "signed-authorization.pdf"
    auth.write_bytes(AUTH_PDF)
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    app = create_app(site.ws, origin=origin)  # the system clock: the TOTP codes are of real time
    secrets = site.team.totp_secrets
    routes = {page.path for page in all_pages()}
    profile = demo_web.base_url("social") + "/u/casey_nav"
    with _serving(app, port), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # -- the investigator ------------------------------------------------------------
            inv = Watched(browser, origin, "sortiz")
            inv.login("sortiz", secrets["sortiz"])
            page = inv.page
            page.click("nav >> text=Candidates")
            page.fill("#c-full_name", "Casey Navarro")
            page.fill("#c-usernames", "casey_nav")
            page.fill("#c-profile_urls", profile)  # disclosed: the profile is hers (identity confirmed)
            page.fill("#c-city", "Independence")
            page.set_input_files("#c-authorization", str(auth))
            page.fill("#c-signed_on", "2026-10-02")
            inv.shot("candidate-form")
            page.click("button:has-text('Add the candidate')")
            page.wait_for_selector("text=Added candidate casey-navarro")
            inv.shot("candidate-added")
            page.select_option("#r-candidate", "casey-navarro")
            page.select_option("#r-procedure", PROCEDURE)
            page.click("button:has-text('Start the run')")
            page.wait_for_url(f"{origin}/cases/case-casey-navarro-*")
            case_id = page.url.rsplit("/", 1)[1]
            inv.shot("run-started")
            page.wait_for_selector("#progress >> text=Case complete", timeout=150_000)  # htmx polls every 2 s
            inv.shot("run-complete")
            page.click("#progress >> text=Show the case with the items it found")
            page.wait_for_load_state()
            assert "Casey Navarro (casey-navarro)" in page.locator("dl.facts").inner_text()  # not its commitment
            inv.shot("case-with-items")
            with site.ws.session() as s:
                captured = {i.id: i.final_url or i.url for i in s.exec(select(Item).where(Item.case_id == case_id))
                            if i.outcome == "captured"}
                (own,) = [i for i, url in captured.items() if url == profile]
                flags = json.loads(s.get(Assessment, own).flags_json)  # type: ignore[union-attr]
            adverse = sorted({f["category_id"] for f in flags if not f.get("protected_conduct")})
            assert adverse, flags
            hostile = [i for i, url in captured.items() if url.startswith(demo_web.base_url("hostile"))]
            assert "/scripts" in " ".join(captured[i] for i in hostile), captured
            # Her profile: validated with a finding (the keyboard: v), then a hostile page: rejected (r).
            page.click(f"table a[href='/items/{own}']")
            page.wait_for_selector("form[action$='/decision']")
            inv.shot("item")
            _decide(inv, "v", "Her disclosed profile; the post is hers and public.", adverse[:1],
                    discredit="Public contempt for a religious group, posted by an applicant for dispatch work.")
            page.goto(f"{origin}/items/{hostile[0]}")
            _decide(inv, "r", "Not the candidate: a test page of a hostile host.")
            with site.ws.session() as s:
                rows = list(s.exec(select(Decision).where(Decision.case_id == case_id)))
            decided = {d.item_id: (d.decision, d.decided_by, json.loads(d.findings_json)) for d in rows}
            finding = next(d.id for d in rows if d.item_id == own)
            assert decided == {own: ("validated", "user:sortiz", adverse[:1]),
                               hostile[0]: ("rejected", "user:sortiz", [])}
            inv.clean("the investigator's journey")
            for n, (other_id, url) in enumerate(sorted(captured.items())):  # each in a page with its own records
                look = inv.another_page(f"sortiz-review{n}")
                assert look.status(f"/items/{other_id}") == 200
                look.page.wait_for_load_state("networkidle")
                look.page.wait_for_timeout(1000)  # anything the captured page could start has had its chance
                look.shot("hostile-review" if other_id in hostile else "review")
                look.clean(f"the review page of item {other_id} ({url})")
                look.page.close()
            # -- the supervisor ---------------------------------------------------------------
            sup = Watched(browser, origin, "amoreno")
            logged_in = datetime.now(UTC)
            sup.login("amoreno", secrets["amoreno"])
            assert sup.status(f"/cases/{case_id}") == 200
            sup.shot("case")
            assert sup.status("/candidates") == 200 and sup.page.locator("text=Add a candidate").count() == 0
            if "/concurrences" in routes:  # the concurrence page (the web-a branch's)
                assert sup.status("/concurrences") == 200
                form = sup.page.locator(f"form[action='/decisions/{finding}/concur']")
                form.locator("textarea[name=reason]").fill("Read the post on the screenshot and in the text: hers.")
                form.locator("input[name=password]").fill(PASSWORD)
                form.locator("input[name=code]").fill(_fresh_code(secrets["amoreno"], logged_in))  # the step-up
                sup.shot("concurring")
                form.locator("button[type=submit]").click()
                sup.page.wait_for_load_state()
                sup.shot("concurred")
                assert "No adverse finding awaits a concurrence" in sup.page.content()
            sup.clean("the supervisor's journey")
            # -- the commander releases the findings report to hiring staff ----------------------
            if "/cases/{case}/release" in routes:  # the release form (the web-a branch's case people page)
                com = Watched(browser, origin, "dwhitfield")
                com.login("dwhitfield", secrets["dwhitfield"])
                assert com.status(f"/cases/{case_id}/people") == 200
                com.page.select_option("#release-login", "hjones")
                com.page.click("button:has-text('Release')")
                com.page.wait_for_load_state()
                com.shot("released")
                com.clean("the commander's journey")
            # -- hiring staff -----------------------------------------------------------------
            hire = Watched(browser, origin, "hjones")
            hire.login("hjones", secrets["hjones"])
            refused = ("/cases", f"/items/{own}", "/candidates")
            for path in refused:
                assert hire.status(path) == 403, path
            hire.shot("refused")
            if "/released" in routes:  # the released reports (the web-a branch's)
                assert hire.status("/released") == 200
                hire.page.click(f"a[href='/cases/{case_id}/report']")
                hire.page.wait_for_load_state()
                hire.shot("report")
                assert "Casey Navarro" in hire.page.content()
            else:
                assert hire.status(f"/cases/{case_id}") == 403
            hire.clean("the hiring journey", refused_pages=len(refused) + ("/released" not in routes))
        finally:
            browser.close()
