"""vetting.web.pages.candidates: adding a candidate with the uploaded authorization, and runs
started from the browser (SQLite: a case process of its own that outlives the request;
PostgreSQL: a job for the queue's workers).

Real HTTP through Starlette's TestClient (tests/web_fixtures.py); the runs are real: the case
process collects from the demo web on loopback, and the case page's progress fragment is
read until the case is complete.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import AUTH_PDF, REPO
from sqlmodel import select
from web_fixtures import ORIGIN, web_site

from vetting.domain.models import Candidate, Case, StepRun

PROCEDURE = "kcpd-261-1-preemployment"


@pytest.fixture
def site(tmp_path: Path):
    return web_site(tmp_path)


def _candidates(ws) -> list[str]:  # type: ignore[no-untyped-def]
    with ws.session() as s:
        return sorted(c.id for c in s.exec(select(Candidate)))


def _casework_events(ws) -> int:  # type: ignore[no-untyped-def]
    """Audit events other than the sessions' own (a request's session use is recorded)."""
    return sum(1 for e in ws.audit.events() if not e.action.startswith("auth."))


def _add(site, client, fields: dict[str, str], auth: bytes | None = AUTH_PDF):  # type: ignore[no-untyped-def]
    data = {"csrf": site.csrf(client, "/candidates"), **fields}
    files = {"authorization": ("signed.pdf", auth, "application/pdf")} if auth is not None else None
    return client.post("/candidates", data=data, files=files, headers={"origin": ORIGIN})


def test_an_investigator_adds_a_candidate_with_the_uploaded_authorization(site) -> None:
    client = site.browser("sortiz")
    page = client.get("/candidates")
    assert page.status_code == 200 and "Add a candidate" in page.text and 'enctype="multipart/form-data"' in page.text
    response = _add(site, client, {"full_name": "Avery Quinn", "usernames": "averyq\naq_kc", "city": "Kansas City",
                                   "state": "MO", "emails": "avery@example.org", "signed_on": "2026-10-02"})
    assert response.status_code == 303 and response.headers["location"] == "/candidates?added=avery-quinn"
    with site.ws.session() as s:
        row = s.get(Candidate, "avery-quinn")
    assert row is not None and row.added_by == "user:sortiz" and str(row.authorization_signed_on) == "2026-10-02"
    assert site.ws.read_evidence(row.authorization_path, row.authorization_sha256) == AUTH_PDF
    listing = client.get("/candidates?added=avery-quinn")
    assert "Added candidate avery-quinn" in listing.text and "Avery Quinn" in listing.text
    events = [e for e in site.ws.audit.events() if e.action == "candidate.added" and e.subject == "avery-quinn"]
    assert len(events) == 1 and events[0].actor == "user:sortiz"


@pytest.mark.parametrize(("fields", "auth", "named"), [
    ({"full_name": "Avery Quinn", "emails": "not-an-address", "signed_on": "2026-10-02"}, AUTH_PDF, "emails"),
    ({"full_name": "Avery Quinn", "date_of_birth": "1890-01-01", "signed_on": "2026-10-02"}, AUTH_PDF,
     "date_of_birth"),
    ({"full_name": "Avery Quinn", "signed_on": "2999-01-01"}, AUTH_PDF, "signed_on"),
    ({"full_name": "Avery Quinn", "signed_on": "2026-10-02"}, b"#!/bin/sh\necho not a document\n", "authorization"),
    ({"full_name": "Avery Quinn", "signed_on": "2026-10-02"}, None, "authorization"),
    ({"full_name": "Jane Doe", "signed_on": "2026-10-02"}, AUTH_PDF, "id"),  # jane-doe exists
    ({"full_name": "Avery <b>Quinn</b>", "id": "Bad Id!", "signed_on": "2026-10-02"}, AUTH_PDF, "id"),
])
def test_a_bad_field_is_a_400_naming_it_and_nothing_changes(site, fields, auth, named) -> None:
    client = site.browser("sortiz")
    before, events = _candidates(site.ws), _casework_events(site.ws)
    response = _add(site, client, fields, auth)
    assert response.status_code == 400, response.text[-1500:]
    assert f'id="{named}-problems"' in response.text, response.text[-3000:]
    assert "<b>" not in response.text  # what was typed comes back escaped
    assert _candidates(site.ws) == before
    assert _casework_events(site.ws) == events


def test_only_the_csrf_token_is_a_400_for_both_forms(site) -> None:
    client = site.browser("sortiz")
    for path in ("/candidates", "/candidates/run"):
        response = client.post(path, data={"csrf": site.csrf(client, "/candidates")}, headers={"origin": ORIGIN})
        assert response.status_code == 400, (path, response.text[-800:])
    assert _candidates(site.ws) == ["jane-doe", "pat-roe"]


def test_roles_that_may_not_add_or_run_are_refused(site) -> None:
    hiring = site.browser("hjones")
    assert hiring.get("/candidates").status_code == 403
    supervisor = site.browser("amoreno")
    page = supervisor.get("/candidates")
    assert page.status_code == 200 and "Add a candidate" not in page.text and "Start the run" not in page.text
    token = site.csrf(supervisor, "/candidates")
    refused = supervisor.post("/candidates/run", data={"csrf": token, "candidate": "jane-doe", "procedure": PROCEDURE},
                              headers={"origin": ORIGIN})
    assert refused.status_code == 403


# -- runs --------------------------------------------------------------------------------------
def _demo_procedure(tmp_path: Path, demo_web, *, slow: bool = False) -> Path:  # type: ignore[no-untyped-def]
    """The shipped procedure with one pages step over two demo pages (as tests/capture_fixtures.py);
    ``slow``: and a page that answers after 20 s, given up after 6 (the run lasts that long)."""
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["version"] = data["version"] + 1  # a changed procedure is a new version of it
    data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.05, "concurrency_per_domain": 4})
    step = dict(data["steps"][0], inputs=[], sources=[demo_web.base_url("social") + "/u/casey_nav",
                                                       demo_web.base_url("hostile") + "/scripts"])
    step["limits"] = dict(step.get("limits", {}), max_depth=0)
    if slow:
        step["sources"].append(demo_web.base_url("hostile") + "/slow")
        data["settings"]["limits"] = dict(data["settings"]["limits"], timeout_seconds=6)
    data["steps"] = [step]
    path = tmp_path / "proc-demo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _new_candidate(site, client) -> str:  # type: ignore[no-untyped-def]
    response = _add(site, client, {"full_name": "Casey Nav", "usernames": "casey_nav", "signed_on": "2026-10-02"})
    assert response.status_code == 303, response.text[-1500:]
    return "casey-nav"


def _progress_until_done(client, case_id: str, seconds: float = 150) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fragment = client.get(f"/cases/{case_id}/progress")
        assert fragment.status_code == 200
        if "Case complete" in fragment.text:
            return fragment.text
        time.sleep(1)
    raise AssertionError(f"case {case_id} did not complete: {fragment.text[-1500:]}")


def test_a_run_started_in_the_browser_runs_in_its_own_process_to_the_end(site, demo_web, tmp_path: Path) -> None:
    from vetting.domain.approvals import approve

    approve(site.ws, _demo_procedure(tmp_path, demo_web), "Capt. Rao")
    client = site.browser("sortiz")
    candidate = _new_candidate(site, client)
    response = client.post("/candidates/run", data={"csrf": site.csrf(client, "/candidates"), "candidate": candidate,
                                                    "procedure": PROCEDURE}, headers={"origin": ORIGIN})
    assert response.status_code == 303, response.text[-1500:]
    case_id = response.headers["location"].removeprefix("/cases/")
    started = [e for e in site.ws.audit.events(case_id=case_id) if e.action == "case.run_started"]
    assert len(started) == 1 and started[0].actor == "user:sortiz"
    process = site.app.app.state.runs[case_id]  # the Starlette app inside the SecurityHeaders middleware
    # The response came back while the case process still runs, in a session of its own.
    assert process.poll() is None and started[0].payload["pid"] == process.pid
    assert os.getsid(process.pid) == process.pid != os.getsid(os.getpid())
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'hx-get="/cases/' in page.text  # the page polls while the case is open
    done = _progress_until_done(client, case_id)
    assert "1 of 1 steps finished" in done
    with site.ws.session() as s:
        case = s.get(Case, case_id)
        runs = list(s.exec(select(StepRun).where(StepRun.case_id == case_id)))
    assert case is not None and case.status == "complete" and case.opened_by == "user:sortiz"
    assert [r.status for r in runs] == ["completed"] and runs[0].items >= 1
    assert "hx-get" not in client.get(f"/cases/{case_id}/progress").text  # polling stops when the case is done
    assert (site.ws.root / "runs" / f"{case_id}.log").read_text().strip().endswith("complete")
    from vetting.people.assignments import is_assigned

    assert is_assigned(site.ws, case_id, "sortiz")


def test_two_starts_at_once_give_one_run_and_one_409(site, demo_web, tmp_path: Path) -> None:
    from vetting.domain.approvals import approve

    approve(site.ws, _demo_procedure(tmp_path, demo_web, slow=True), "Capt. Rao")
    first = site.browser("sortiz")
    candidate = _new_candidate(site, first)
    second = site.browser("sortiz")
    tokens = [site.csrf(c, "/candidates") for c in (first, second)]
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def start(n: int, client) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        results[n] = client.post("/candidates/run", data={"csrf": tokens[n], "candidate": candidate,
                                                          "procedure": PROCEDURE}, headers={"origin": ORIGIN})

    threads = [threading.Thread(target=start, args=(n, c)) for n, c in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [303, 409], [re.findall(r"<li>(.*?)</li>", r.text)[-3:] for r in results]
    busy = next(r for r in results if r.status_code == 409)
    assert "already being run" in busy.text and "--wait" not in busy.text
    case_id = next(r for r in results if r.status_code == 303).headers["location"].removeprefix("/cases/")
    # And while it runs, a third start is refused too.
    third = first.post("/candidates/run", data={"csrf": tokens[0], "candidate": candidate, "procedure": PROCEDURE},
                       headers={"origin": ORIGIN})
    assert third.status_code == 409
    assert "already being run" in third.text
    _progress_until_done(first, case_id)
    # Once complete, a start only shows the case: nothing runs again.
    again = first.post("/candidates/run", data={"csrf": tokens[0], "candidate": candidate, "procedure": PROCEDURE},
                       headers={"origin": ORIGIN})
    assert again.status_code == 303 and again.headers["location"] == f"/cases/{case_id}"
    started = [e for e in site.ws.audit.events(case_id=case_id) if e.action == "case.run_started"]
    step_starts = [e for e in site.ws.audit.events(case_id=case_id) if e.action == "step.started"]
    assert len(started) == 1 and len(step_starts) == 1
    assert re.search(r"1 of 1 steps finished", first.get(f"/cases/{case_id}").text)


def test_on_postgresql_a_start_is_deferred_to_the_queue(tmp_path: Path, postgres, monkeypatch) -> None:
    """Where the job queue exists, a run started in the browser is a job for the workers: no
    process of the web server's own, and a second start while it is queued changes nothing."""
    monkeypatch.setenv("VETTING_DATABASE_URL", postgres.new_database())
    site = web_site(tmp_path)
    assert site.ws.engine.dialect.name == "postgresql"
    client = site.browser("sortiz")
    candidate = _new_candidate(site, client)
    token = site.csrf(client, "/candidates")
    for _ in range(2):
        response = client.post("/candidates/run", data={"csrf": token, "candidate": candidate,
                                                        "procedure": PROCEDURE}, headers={"origin": ORIGIN})
        assert response.status_code == 303, response.text[-1500:]
    case_id = response.headers["location"].removeprefix("/cases/")
    events = [e.action for e in site.ws.audit.events(case_id=case_id)]
    assert events.count("job.deferred") == 1 and "case.run_started" not in events
    assert site.app.app.state.runs == {} and not (site.ws.root / "runs").exists()
    from vetting.people.assignments import is_assigned

    assert is_assigned(site.ws, case_id, "sortiz")
