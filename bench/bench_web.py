"""Benchmark of the web application: the case page and the item review page under 20 sessions.

    .venv/bin/python bench/bench_web.py [--candidates 200] [--items 20000] [--clients 20] [--seconds 30]

Target (issue 14): with 200 candidates and 20,000 items in the workspace, the review page and
the case page each render in under 200 ms at the median, with 20 concurrent sessions browsing.

The workspace is built directly (like tests/case_fixtures.py's ``add_item``, in batches): the
shipped procedure approved, 200 candidates added with their signed authorizations and their
cases opened through the domain code, then 100 screened items per case inserted in bulk with
real small evidence files (the response, the text, a PNG screenshot; content-addressed, so
the item page re-hashes real files) and a decision on every third item. Twenty investigator
accounts each have ten cases assigned. The evidence files are written without the fsync of
``Workspace.store_bytes``: the build must be quick, and durability is not what is measured.

The application is served by uvicorn on a loopback port (one process of its own, as ``vet web``
serves it; the clients run in this one). Each
of the 20 clients logs in through the login form (password, TOTP code, the banner) as its own
investigator, then browses with no pause for ``--seconds``: a case page of one of its cases,
then three review pages of that case's items, again and again (``http.client``, one kept-alive
connection per client). Reported per page: p50 and p95 latency, requests per second; also
each page alone (one client) for the cost of a request without queueing. Results go to
bench/results/web.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PASSWORD = "correct horse battery staple"
PROCEDURE = "kcpd-261-1-preemployment"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
WORDS = ("weekend", "game", "photos", "trip", "river", "market", "truck", "family", "concert", "garden", "coffee",
         "meeting", "volunteer", "practice", "birthday", "camping", "league", "recipe", "sunset", "parade")


# -- the workspace -----------------------------------------------------------------------------
def _store(ws: Any, data: bytes, suffix: str) -> dict[str, str]:
    """A content-addressed evidence file, as Workspace.store_bytes lays it out (without fsync)."""
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    rel = f"sha256/{digest[:2]}/{digest}{suffix}"
    path = ws.evidence_root / rel
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {"path": rel, "sha256": digest}


def build(root: Path, candidates: int, items: int, clients: int) -> tuple[Any, dict[str, list[str]], dict[str, str]]:
    """The workspace; returns it, each investigator's cases, and each investigator's TOTP secret."""
    from team import cheap_hashing, make_team

    from vetting.domain.approvals import approve
    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.domain.models import Assessment, Decision, Item, utcnow
    from vetting.engine.steps import open_case
    from vetting.people.accounts import add_account
    from vetting.people.assignments import assign_case
    from vetting.people.sessions import login_password
    from vetting.store.workspace import Workspace

    t0 = time.monotonic()
    ws = Workspace.open(root / "ws")
    team = make_team(ws, root, ("amoreno", "dwhitfield"))
    approve(ws, ROOT / "procedures" / "kcpd-261-1.yaml", "user:dwhitfield")
    auth = root / "auth.pdf"
    auth.write_bytes(b"%PDF-1.4\n% signed authorization\n")
    case_ids = []
    for n in range(candidates):
        cid = f"cand-{n:03d}"
        add_candidate(ws, CandidateInput(id=cid, full_name=f"Candidate {n:03d} Example", usernames=[f"user{n:03d}"],
                                         authorization={"file": auth.name, "signed_on": "2026-10-01"}), auth,
                      "user:sortiz")
        case_ids.append(open_case(ws, cid, PROCEDURE, "user:sortiz").case.id)
    t_cases = time.monotonic() - t0
    per_case = items // candidates
    rng = random.Random(14)
    now = utcnow()
    item_rows, assessment_rows, decision_rows = [], [], []
    for c, case_id in enumerate(case_ids):
        for k in range(per_case):
            text = f"Post {k} of candidate {c:03d}: " + " ".join(rng.choice(WORDS) for _ in range(60))
            body = f"<html><title>Post {k}</title><body><p>{text}</p></body></html>".encode()
            arts = [dict(kind="response", **_store(ws, body, ".body")),
                    dict(kind="text", **_store(ws, text.encode(), ".txt")),
                    dict(kind="screenshot", **_store(ws, PNG, ".png"))]
            item_id = f"item-{c:03d}-{k:03d}"
            url = f"https://social.example/user{c:03d}/post/{k}"
            item_rows.append(dict(id=item_id, case_id=case_id, step_id="disclosed-profiles", key=f"page:{k}",
                                  kind="page", url=url, final_url=url, status=200, outcome="captured", reason="",
                                  title=f"Post {k}", author="", published=None, text=text, found_by="profile_urls",
                                  links_json="[]",
                                  reached_json=json.dumps({"via": "disclosed", "input": url, "depth": 0}),
                                  artifacts_json=json.dumps(arts), meta_json="{}", captured_at=now, collector="pages"))
            assessment_rows.append(dict(item_id=item_id, case_id=case_id, identity_level="confirmed",
                                        matches_json=json.dumps([{"kind": "disclosed_account", "value": url,
                                                                  "where": "url", "snippet": url}]),
                                        contradictions_json="[]", identity_reasons_json="[]", flags_json="[]",
                                        outside_lookback=False, undated=False, truncated=False, screened_at=now))
            if k % 3 == 0:
                decision_rows.append(dict(item_id=item_id, case_id=case_id, decision="rejected",
                                          reason="not the candidate", decided_by="user:inv01", decided_at=now,
                                          findings_json="[]", discredit_justification="", mitigating="",
                                          supersedes=None, evidence_verified=True))
    with ws.engine.begin() as conn:
        for table, rows in ((Item.__table__, item_rows), (Assessment.__table__, assessment_rows),
                            (Decision.__table__, decision_rows)):
            for start in range(0, len(rows), 2000):
                conn.execute(table.insert(), rows[start:start + 2000])  # type: ignore[attr-defined]
    t_items = time.monotonic() - t0 - t_cases
    supervisor = team.account("amoreno")
    secrets: dict[str, str] = {}
    mine: dict[str, list[str]] = {}
    with cheap_hashing():
        for i in range(clients):
            login = f"inv{i + 1:02d}"
            _, creds = add_account(ws, login=login, name=f"Investigator {i + 1}", roles=["investigator"],
                                   actor=team.account("root-admin"), badge=f"5{i:03d}")
            import pyotp

            login_password(ws, login, creds.password or "", pyotp.TOTP(creds.totp_secret or "").now(),
                           choose_password=lambda: PASSWORD)  # the temporary password replaced
            secrets[login] = creds.totp_secret or ""
            mine[login] = case_ids[i::clients]
            for case_id in mine[login]:
                assign_case(ws, case_id, login, actor=supervisor)
    print(f"built {candidates} candidates / cases in {t_cases:.1f} s, {len(item_rows)} items "
          f"({len(decision_rows)} decided) in {t_items:.1f} s, {clients} investigators", flush=True)
    return ws, mine, secrets


# -- the server and its clients ------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(workspace: Path, port: int) -> None:
    """The server process: the application over the workspace, as ``vet web`` serves it."""
    import uvicorn

    from vetting.store.workspace import Workspace
    from vetting.web.app import create_app

    app = create_app(Workspace.open(workspace, create=False), origin=f"http://127.0.0.1:{port}")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off",
                timeout_keep_alive=300)


@contextlib.contextmanager
def serving(workspace: Path, port: int) -> Iterator[None]:
    """uvicorn in a process of its own (the clients' threads must not share its interpreter)."""
    import subprocess

    server = subprocess.Popen([sys.executable, __file__, "--serve", str(workspace), "--port", str(port)])
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("the web server did not start")
        time.sleep(0.1)
    try:
        yield
    finally:
        server.terminate()
        server.wait(20)


class Session:
    """One browser's worth of HTTP: a kept-alive connection and the cookies the server set."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        data = None
        if body is not None:
            data = urlencode(body)
            headers.update({"content-type": "application/x-www-form-urlencoded", "origin": self.origin})
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()  # the server closed a kept-alive connection: once more, on a new one
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, login: str, code: str) -> None:
        _, page = self.request("GET", "/login")
        nonce = re.search(r'name="login_nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        status, text = self.request("POST", "/login", {"login_nonce": nonce, "login": login, "password": PASSWORD,
                                                       "code": code, "banner": "accepted", "next": "/"})
        if status != 303:
            raise RuntimeError(f"login {login}: {status} {text[-500:]}")


def browse(session: Session, cases: list[str], items_of: dict[str, list[str]], until: float,
           out: dict[str, list[float]], rng: random.Random) -> None:
    while time.monotonic() < until:
        case_id = rng.choice(cases)
        paths = [("case", f"/cases/{case_id}")] + [("item", f"/items/{i}") for i in rng.sample(items_of[case_id], 3)]
        for kind, path in paths:
            start = time.perf_counter()
            status, _ = session.request("GET", path)
            took = time.perf_counter() - start
            if status != 200:
                raise RuntimeError(f"GET {path}: {status}")
            out[kind].append(took)


def figures(samples: list[float], seconds: float | None = None) -> dict[str, Any]:
    ordered = sorted(samples)
    out = {"requests": len(ordered), "p50_ms": round(statistics.median(ordered) * 1000, 1),
           "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1)}
    if seconds:
        out["per_s"] = round(len(ordered) / seconds, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", type=int, default=200)
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--keep", type=Path, default=None, help="build the workspace here and keep it")
    p.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)  # the server process
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.port)
        return 0
    import pyotp

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = args.keep or Path(tmp)
        ws, mine, secrets = build(root, args.candidates, args.items, args.clients)
        items_of: dict[str, list[str]] = {}
        with ws.engine.connect() as conn:
            from sqlalchemy import text

            for item_id, case_id in conn.execute(text("SELECT id, case_id FROM item")):
                items_of.setdefault(case_id, []).append(item_id)
        port = free_port()
        with serving(ws.root, port):
            sessions = {}
            for login in mine:  # each logged in once at build time: the next step's code is a fresh one
                session = Session(port)
                session.login(login, pyotp.TOTP(secrets[login]).at(datetime.now(UTC) + timedelta(seconds=30)))
                sessions[login] = session
            # Each page alone: one client, no queueing (what one request costs).
            alone: dict[str, list[float]] = {"case": [], "item": []}
            first = next(iter(mine))
            browse(sessions[first], mine[first], items_of, time.monotonic() + 5, alone, random.Random(1))
            loaded: dict[str, dict[str, list[float]]] = {login: {"case": [], "item": []} for login in mine}
            until = time.monotonic() + args.seconds
            began = time.monotonic()
            threads = [threading.Thread(target=browse, args=(sessions[login], mine[login], items_of, until,
                                                            loaded[login], random.Random(n)))
                       for n, login in enumerate(mine)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - began
    merged = {kind: [x for per in loaded.values() for x in per[kind]] for kind in ("case", "item")}
    result = {
        "candidates": args.candidates, "items": args.items, "clients": args.clients, "seconds": round(elapsed, 1),
        "cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2),
        "alone": {kind: figures(v) for kind, v in alone.items()},
        "concurrent": {kind: figures(v, elapsed) for kind, v in merged.items()},
        "requests_per_s": round(sum(len(v) for v in merged.values()) / elapsed, 1),
    }
    result["meets_target"] = all(result["concurrent"][k]["p50_ms"] < 200 for k in ("case", "item"))
    out = ROOT / "bench" / "results" / "web.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
