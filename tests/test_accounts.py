"""Account discovery through the real crawl (Scrapy + the guard, real HTTP on loopback).

Two site lists are served by a small web on 127.0.0.1 that answers as each manifest entry
says a real site answers:

* one fixture site per rule kind of the three formats (WhatsMyName status + text, a 3xx
  missing rule, a 3xx found rule, text-only, a subdomain site, ``strip_bad_char``; Sherlock
  ``status_code`` with and without ``errorCode``, ``message`` with a list of messages,
  ``response_url``, ``regexCheck``; the project's ``not_contains``), each checked for a name
  that exists and names that do not;
* a replay of real entries of both manifests (``tests/fixtures/sites-*-replay.json``, copied
  unchanged from WhatsMyName and Sherlock with their licences), every host renamed to a name
  under ``.localhost`` (so subdomain sites work on loopback), with a bot challenge page on
  some sites.

Every crawl runs in ONE subprocess (Twisted's reactor cannot restart) with this file as the
script. Redirect targets are served too, as pages that would fool a checker that followed
them; the tests check that none was requested.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from vetting.demoweb.http import DemoServer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RANDOM_NAME = "zqrandomnamex"
KIND_USERNAMES = ["alice", "bob", "carol"]  # alice exists everywhere; bob and carol nowhere
REPLAY_USERNAMES = ["alice", "bob.smith", "x"]
MISSING_INDEX = {"bob": 0, "carol": 1}  # which of a list of "missing" messages each name gets
CHALLENGE = (b"<html><head><title>Just a moment...</title></head><body><div id=cf-challenge-running>"
             b"Checking your browser before accessing.</div></body></html>")


# -- what each fixture site answers ------------------------------------------------------------
@dataclass
class Served:
    """How one site answers: (status, text) for an existing account, and for a missing one."""

    exists: tuple[int, str]
    missing: list[tuple[int, str]]
    accounts: set[str]
    challenge: bool = False
    templates: list[str] = field(default_factory=list)  # rewritten check URLs
    subdomain: bool = False
    location: str = "/__followed/{account}"  # where a 3xx points


def served_for(fmt: str, entry: dict[str, Any]) -> tuple[tuple[int, str], list[tuple[int, str]]]:
    if fmt == "whatsmyname":
        return (int(entry["e_code"]), entry["e_string"]), [(int(entry["m_code"]), entry["m_string"])]
    if fmt == "own":
        ex, mi = entry["exists"], entry["missing"]
        return (ex["status"][0], ex.get("contains", "")), [(mi["status"][0], mi.get("contains", ""))]
    kind = entry["errorType"]
    if kind == "message":
        msgs = entry["errorMsg"] if isinstance(entry["errorMsg"], list) else [entry["errorMsg"]]
        return (200, "profile page"), [(200, m) for m in msgs]
    if kind == "response_url":
        return (200, "profile page"), [(302, "")]
    code = entry.get("errorCode")
    code = code[0] if isinstance(code, list) else code
    return (200, "profile page"), [(int(code or 404), "")]


def _sanitize(host: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-")[:40]


def rewrite(url: str, idx: int, port: int) -> str:
    """``https://www.site.com/u/{account}`` -> ``http://s7-www-site-com.localhost:PORT/u/{account}``;
    ``https://{account}.site.com/`` -> ``http://{account}.s7-site-com.localhost:PORT/``."""
    url = url.replace("{}", "{account}")
    parts = url.split("/", 3)
    host = parts[2]
    rest = "/" + parts[3] if len(parts) > 3 else "/"
    if host.startswith("{account}."):
        new_host = "{account}." + f"s{idx}-{_sanitize(host[len('{account}.'):])}.localhost"
    else:
        new_host = f"s{idx}-{_sanitize(host)}.localhost"
    return f"http://{new_host}:{port}{rest}"


def base_host(template: str) -> str:
    host = template.split("/")[2].split(":")[0]
    return host[len("{account}."):] if host.startswith("{account}.") else host


# -- the fixture web ------------------------------------------------------------------------------
@dataclass
class ReplayWeb:
    port: int = 0
    sites: dict[str, Served] = field(default_factory=dict)  # base host -> site
    hits: list[tuple[str, str]] = field(default_factory=list)  # (host, path)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/__followed/"):
            # A redirect target: followed, it would "find" anyone. No check may come here.
            return 200, {}, b"<html><body>profile page avatar-container d-flex</body></html>"
        site, account = self.match(host, path)
        if site is None:
            return 404, {}, b"no such site"
        if site.challenge:
            return 403, {"Content-Type": "text/html"}, CHALLENGE
        exists = (account.lower() if site.subdomain else account) in site.accounts
        status, text = site.exists if exists else site.missing[MISSING_INDEX.get(account, 0) % len(site.missing)]
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if 300 <= status < 400:
            headers["Location"] = site.location.replace("{account}", account)
        body = b"" if status in (204, 304) else f"<html><body><p>{text}</p></body></html>".encode()
        return status, headers, body

    def match(self, host: str, path: str) -> tuple[Served | None, str]:
        site = self.sites.get(host)
        if site is None and "." in host:
            label, rest = host.split(".", 1)
            site = self.sites.get(rest)
            if site is not None and site.subdomain:
                return site, label
            return None, ""
        if site is None:
            return None, ""
        for template in site.templates:
            tail = "/" + template.split("/", 3)[3] if template.count("/") >= 3 else "/"
            tail = tail.split("#", 1)[0]  # a fragment is never sent
            pattern = re.escape(tail).replace(re.escape("{account}"), "(?P<account>[^/?&#]*)")
            m = re.fullmatch(pattern + "/?", path)
            if m:
                return site, unquote(m.group("account"))
        return None, ""


def make_handler(web: ReplayWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            with web.lock:
                web.hits.append((host, self.path))
            if self.path == "/robots.txt":
                status, headers, body = 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
            else:
                status, headers, body = web.answer(host, self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


# -- the site lists -------------------------------------------------------------------------------
def kind_entries(port: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(WhatsMyName doc, Sherlock doc, own doc): one fixture site per rule kind."""
    def u(name: str, tail: str) -> str:
        return f"http://kind-{name}.localhost:{port}{tail}"

    def wmn(name: str, check: str, e: tuple[int, str], m: tuple[int, str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "uri_check": check, "e_code": e[0], "e_string": e[1], "m_code": m[0],
                "m_string": m[1], "known": ["alice"], "cat": "misc", **extra}

    wmn_doc = {"license": ["CC BY-SA 4.0 (fixture)"], "authors": [], "categories": [], "sites": [
        wmn("wmn-status-text", u("a", "/u/{account}"), (200, "profile-of"), (404, "not found")),
        wmn("wmn-3xx-missing", u("b", "/u/{account}"), (200, "member since"), (302, "")),
        wmn("wmn-3xx-found", u("c", "/users/{account}"), (301, ""), (404, "User not found")),
        wmn("wmn-text-only", u("d", "/api?user={account}"), (200, '"id":'), (200, '"error":"none"')),
        wmn("wmn-subdomain", "http://{account}.kind-e.localhost:" + str(port) + "/", (200, "my blog"),
            (404, "Blog not found"), strip_bad_char="."),
        wmn("wmn-strip", u("f", "/p/{account}"), (200, "profile-of"), (404, "not found"), strip_bad_char="."),
        wmn("wmn-3xx-to-login", u("m", "/u/{account}"), (200, "member since"), (302, "")),
    ]}
    sherlock_doc = {
        "sherlock-status": {"url": u("g", "/{}"), "urlMain": u("g", "/"), "errorType": "status_code",
                            "username_claimed": "alice"},
        "sherlock-errorcode": {"url": u("h", "/{}"), "urlMain": u("h", "/"), "errorType": "status_code",
                               "errorCode": 204, "username_claimed": "alice"},
        "sherlock-messages": {"url": u("i", "/{}"), "urlMain": u("i", "/"), "errorType": "message",
                              "errorMsg": ["No such user", "Sorry, gone"], "username_claimed": "alice"},
        "sherlock-response-url": {"url": u("j", "/{}"), "urlMain": u("j", "/"), "errorType": "response_url",
                                  "errorUrl": u("j", "/"), "username_claimed": "alice"},
        "sherlock-regex": {"url": u("k", "/{}"), "urlMain": u("k", "/"), "errorType": "status_code",
                           "regexCheck": "^[a-z]{4,}$", "username_claimed": "alice"},
    }
    own_doc = {"format": "vetting-sites/1", "sites": [
        {"name": "own-not-contains", "check_url": u("l", "/who/{account}"),
         "exists": {"status": [200], "not_contains": "nobody here"},
         "missing": {"status": [200], "contains": "nobody here"}, "known_account": "alice"},
    ]}
    return wmn_doc, sherlock_doc, own_doc


def register(web: ReplayWeb, fmt: str, entries: list[tuple[str, dict[str, Any], list[str]]],
             existing: dict[str, set[str]], challenge: set[str]) -> None:
    """``entries``: (name, raw entry, its rewritten check/profile URLs)."""
    for name, entry, templates in entries:
        ex, mi = served_for(fmt, entry)
        templates = [t.replace("{}", "{account}") for t in templates]
        site = Served(ex, mi, existing[name], name in challenge, templates,
                      subdomain=templates[0].split("/")[2].startswith("{account}."))
        for template in templates:
            web.sites[base_host(template)] = site


def replay_docs(port: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, set[str]], set[str],
                                    list[tuple[str, str, dict[str, Any], list[str]]]]:
    """Real entries with hosts under .localhost; which accounts exist; which sites are walled."""
    wmn = json.loads((FIXTURES / "sites-wmn-replay.json").read_text(encoding="utf-8"))
    sherlock = json.loads((FIXTURES / "sites-sherlock-replay.json").read_text(encoding="utf-8"))
    existing: dict[str, set[str]] = {}
    challenge: set[str] = set()
    served: list[tuple[str, str, dict[str, Any], list[str]]] = []
    idx = 0
    for entry in wmn["sites"]:
        idx += 1
        entry["uri_check"] = rewrite(entry["uri_check"], idx, port)
        if "uri_pretty" in entry:
            entry["uri_pretty"] = rewrite(entry["uri_pretty"], idx, port)
        existing[entry["name"]] = _truth(idx, entry.get("known") or [], entry.get("strip_bad_char") or "")
        if idx % 9 == 4:
            challenge.add(entry["name"])
        served.append(("whatsmyname", entry["name"], entry, [entry["uri_check"]]))
    for name, entry in sherlock.items():
        if name.startswith("$"):
            continue
        idx += 1
        entry["url"] = rewrite(entry["url"], idx, port)
        if "urlProbe" in entry:
            entry["urlProbe"] = rewrite(entry["urlProbe"], idx, port)
        existing[name] = _truth(idx, [entry.get("username_claimed", "")], "")
        if idx % 9 == 4:
            challenge.add(name)
        served.append(("sherlock", name, entry, [entry.get("urlProbe") or entry["url"]]))
    return wmn, sherlock, existing, challenge, served


def _truth(idx: int, known: list[str], strip: str) -> set[str]:
    """Known accounts exist; alice on even sites, bob.smith on every third one."""
    names = {str(k) for k in known}
    if idx % 2 == 0:
        names.add("alice")
    if idx % 3 == 0:
        names.update({"bob.smith", "".join(c for c in "bob.smith" if c not in strip)})
    return names


def truly_exists(existing: dict[str, set[str]], site: str, username: str, strip: str = "") -> bool:
    account = "".join(c for c in username if c not in strip)
    return account in existing.get(site, set()) or username in existing.get(site, set())


# -- running the crawls -------------------------------------------------------------------------
@dataclass
class Crawls:
    web: ReplayWeb
    results: dict[str, Any]
    existing: dict[str, set[str]]
    challenge: set[str]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawls]:
    web = ReplayWeb()
    server = DemoServer(("127.0.0.1", 0), make_handler(web))
    server.daemon_threads = True
    web.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = tmp_path_factory.mktemp("accounts")
    wmn_kind, sherlock_kind, own_kind = kind_entries(web.port)
    kind_existing = {name: {"alice"} for name in
                     [e["name"] for e in wmn_kind["sites"]] + list(sherlock_kind) + ["own-not-contains"]}
    register(web, "whatsmyname", [(e["name"], e, [e["uri_check"]]) for e in wmn_kind["sites"]], kind_existing, set())
    register(web, "sherlock", [(n, e, [e["url"]]) for n, e in sherlock_kind.items()], kind_existing, set())
    register(web, "own", [(e["name"], e, [e["check_url"]]) for e in own_kind["sites"]], kind_existing, set())
    web.sites["kind-m.localhost"].location = "/accounts/login?next=/u/{account}"
    wmn, sherlock, existing, challenge, served = replay_docs(web.port)
    for fmt, name, entry, templates in served:
        register(web, fmt, [(name, entry, templates)], existing, challenge)
    jobs = [{"name": "kind-wmn", "manifest": wmn_kind, "usernames": KIND_USERNAMES},
            {"name": "kind-sherlock", "manifest": sherlock_kind, "usernames": KIND_USERNAMES},
            {"name": "kind-own", "manifest": own_kind, "usernames": KIND_USERNAMES},
            {"name": "replay-wmn", "manifest": wmn, "usernames": REPLAY_USERNAMES},
            {"name": "replay-sherlock", "manifest": sherlock, "usernames": REPLAY_USERNAMES}]
    spec, out = tmp / "jobs.json", tmp / "out.json"
    spec.write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, __file__, str(spec), str(out)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(out.read_text())
    yield Crawls(web, results, {**kind_existing, **existing}, challenge)
    server.shutdown()


def verdicts(crawls: Crawls, job: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["meta"]["site"], c["meta"]["username"]): c for c in crawls.results[job]["captures"]}


# -- each rule kind, found and missing ------------------------------------------------------------
@pytest.mark.parametrize("job,site", [
    ("kind-wmn", "wmn-status-text"), ("kind-wmn", "wmn-3xx-missing"), ("kind-wmn", "wmn-3xx-found"),
    ("kind-wmn", "wmn-text-only"), ("kind-wmn", "wmn-subdomain"), ("kind-wmn", "wmn-strip"),
    ("kind-sherlock", "sherlock-status"), ("kind-sherlock", "sherlock-errorcode"),
    ("kind-sherlock", "sherlock-messages"), ("kind-sherlock", "sherlock-response-url"),
    ("kind-own", "own-not-contains"),
])
def test_each_rule_kind_finds_and_misses(crawls: Crawls, job: str, site: str) -> None:
    got = verdicts(crawls, job)
    assert got[(site, "alice")]["outcome"] == "exists", got[(site, "alice")]
    for name in ("bob", "carol"):  # carol gets the second of a list of messages
        assert got[(site, name)]["outcome"] == "missing", got[(site, name)]
    health = crawls.results[job]["health"][site]
    assert (health["known"], health["random"]) == ("exists", "missing")


def test_regex_check_is_not_applicable_without_a_request(crawls: Crawls) -> None:
    got = verdicts(crawls, "kind-sherlock")
    assert got[("sherlock-regex", "alice")]["outcome"] == "exists"
    assert got[("sherlock-regex", "bob")]["outcome"] == "not_applicable"  # 3 letters: under {4,}
    assert "username pattern" in got[("sherlock-regex", "bob")]["reason"]
    hits = [p for h, p in crawls.web.hits if h == "kind-k.localhost"]
    assert "/bob" not in hits and "/alice" in hits


def test_redirect_rules_are_judged_on_the_first_response(crawls: Crawls) -> None:
    followed = [(h, p) for h, p in crawls.web.hits if p.startswith("/__followed/")]
    assert followed == []
    got = verdicts(crawls, "kind-wmn")
    assert got[("wmn-3xx-missing", "bob")]["status"] == 302
    assert got[("wmn-3xx-found", "alice")]["status"] == 301


def test_the_guard_still_judges_an_unfollowed_redirect(crawls: Crawls) -> None:
    """A 3xx that a rule names is judged as it arrives, and the guard judges it first: a
    redirect to a login page is a login wall, never a "missing" verdict."""
    got = verdicts(crawls, "kind-wmn")
    assert got[("wmn-3xx-to-login", "alice")]["outcome"] == "exists"
    for name in ("bob", "carol"):
        assert got[("wmn-3xx-to-login", name)]["outcome"] == "not_public", got[("wmn-3xx-to-login", name)]
    assert not [p for h, p in crawls.web.hits if h == "kind-m.localhost" and p.startswith("/accounts/login")]


def test_subdomain_site_uses_the_name_as_a_host_label(crawls: Crawls) -> None:
    hosts = {h for h, _ in crawls.web.hits if h.endswith(".kind-e.localhost")}
    assert {"alice.kind-e.localhost", "bob.kind-e.localhost"} <= hosts


# -- the replay of real entries ---------------------------------------------------------------------
def _replay(crawls: Crawls) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for job in ("replay-wmn", "replay-sherlock"):
        for (site, username), cap in verdicts(crawls, job).items():
            out.append((site, username, cap))
    return out


def test_replay_every_site_and_username_has_a_verdict(crawls: Crawls) -> None:
    for job in ("replay-wmn", "replay-sherlock"):
        res = crawls.results[job]
        expected = {(s, u) for s in res["sites"] + [n for n, _ in res["rejected"]] for u in REPLAY_USERNAMES}
        got = set(verdicts(crawls, job))
        assert expected == got, sorted(expected ^ got)[:10]


def test_replay_no_exists_on_a_challenge_page_and_perfect_precision(crawls: Crawls) -> None:
    strips = {**crawls.results["replay-wmn"]["strip"], **crawls.results["replay-sherlock"]["strip"]}
    exists = [(s, u) for s, u, c in _replay(crawls) if c["outcome"] == "exists"]
    assert exists, "the replay found nothing at all"
    assert not [e for e in exists if e[0] in crawls.challenge]
    wrong = [e for e in exists if not truly_exists(crawls.existing, e[0], e[1], strips.get(e[0], ""))]
    assert wrong == []
    false_missing = [(s, u) for s, u, c in _replay(crawls) if c["outcome"] == "missing"
                     and truly_exists(crawls.existing, s, u, strips.get(s, ""))]
    assert false_missing == []
    blocked = {s for s, _, c in _replay(crawls) if c["outcome"] == "blocked"}
    assert blocked and blocked <= crawls.challenge


def test_replay_recall_on_checkable_sites(crawls: Crawls) -> None:
    """Every account that exists on a site checked (no wall, no POST, name applicable) is found."""
    strips = {**crawls.results["replay-wmn"]["strip"], **crawls.results["replay-sherlock"]["strip"]}
    truth = [(s, u, c) for s, u, c in _replay(crawls)
             if s not in crawls.challenge and c["outcome"] not in ("not_applicable", "not_checked", "refused", "error")
             and truly_exists(crawls.existing, s, u, strips.get(s, ""))]
    found = [t for t in truth if t[2]["outcome"] == "exists"]
    assert len(truth) >= 30
    assert len(found) == len(truth), [(s, u, c["outcome"], c["reason"]) for s, u, c in truth if c["outcome"] != "exists"]


def test_replay_covers_3xx_subdomain_and_regex_entries(crawls: Crawls) -> None:
    caps = _replay(crawls)
    subdomain = {s for s, _, c in caps if c["outcome"] == "exists" and c["url"].split("/")[2].startswith("alice.")}
    assert subdomain, "no subdomain site found an account"
    assert any(c["outcome"] == "not_applicable" and "pattern" in c["reason"] for _, _, c in caps)
    assert any(c["outcome"] == "not_applicable" and "host name label" in c["reason"] for _, _, c in caps)
    three = {c["status"] for _, _, c in caps if c["outcome"] in ("exists", "missing") and c["status"]}
    assert three & {301, 302}, three
    assert not [p for _, p in crawls.web.hits if p.startswith("/__followed/")]
    # not_applicable checks were never requested: no hit for "x" on a site whose pattern refuses it
    na = {(s, u) for s, u, c in caps if c["outcome"] == "not_applicable"}
    assert ("Twitter", "bob.smith") in na or any(u == "bob.smith" for _, u in na)


def test_nothing_left_loopback(crawls: Crawls) -> None:
    for job in crawls.results.values():
        for url, _method, _allowed, _reason, _status in job["requests"]:
            host = urlsplit(url).hostname or ""
            assert host.endswith(".localhost") or host in ("127.0.0.1", "localhost"), url


# =============================================================================================
# the crawl subprocess
# =============================================================================================
def _main(spec_path: str, out_path: str) -> None:
    sys.path.insert(0, str(ROOT))
    from spiders.sites import parse_manifest
    from vetting.domain.procedure import Limits, RateLimit, Settings
    from vetting.engine.reactor import run_in_reactor
    from vetting.engine.site_health import ListContext, crawl_accounts

    settings = Settings(network="loopback", user_agent="Test-Vetting/1.0 (+https://agency.example/vetting)",
                        contact="tests@agency.example",
                        rate_limit=RateLimit(delay_seconds=0, concurrency_per_domain=4, concurrency_total=64),
                        limits=Limits(timeout_seconds=15, max_redirects=5))
    jobs = json.loads(Path(spec_path).read_text())
    results: dict[str, Any] = {}

    async def main() -> None:
        for job in jobs:
            manifest = parse_manifest(json.dumps(job["manifest"]).encode())
            context = ListContext()
            usernames = [(u, f"usernames:{u}") for u in job["usernames"]]
            spider = await crawl_accounts(manifest, usernames, settings, context, random_name=RANDOM_NAME,
                                          extra={"RETRY_TIMES": 0})
            results[job["name"]] = {
                "sites": [s.name for s in manifest.sites], "rejected": manifest.rejected,
                "strip": {s.name: s.strip_chars for s in manifest.sites},
                "captures": [{"key": c.key, "outcome": c.outcome, "reason": c.reason, "url": c.url,
                              "status": c.status, "meta": {"site": c.meta["site"], "username": c.meta["username"]}}
                             for c in context.captures],
                "health": {name: {"known": h.known, "random": h.random, "notes": h.notes}
                           for name, h in spider.health.items()},
                "requests": context.requests,
            }

    run_in_reactor(main)
    Path(out_path).write_text(json.dumps(results))


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
