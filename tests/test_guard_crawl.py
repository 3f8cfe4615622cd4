"""Real Scrapy crawls through the guard against a real HTTP(S) server on loopback.

The module starts its own small web on 127.0.0.1:0 (and [::1]:0, and an HTTPS one with a
throw-away CA), then runs every crawl scenario in ONE subprocess (Twisted's reactor cannot
restart) with this same file as the script. In that subprocess a tripwire wraps
``socket.connect``/``connect_ex``/``getaddrinfo``: any attempt to reach a non-loopback address
or to resolve a real name is refused and logged, and the tests assert the log is empty. So the
redirects into 10.0.0.5 or 169.254.169.254 are proved refused at the hop *before* a socket is
opened, and no traffic ever leaves the machine even if the guard were broken.

Every scenario's URLs start with ``/<scenario>/`` and the server logs every hit with its time,
so each test checks both what the sink recorded and what actually reached the server.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from w3lib.url import safe_url_string

from vetting.demoweb.http import DemoServer

ROOT = Path(__file__).resolve().parents[1]
UA = "KCPD-Vetting/1.0 (+https://agency.example/vetting)"
LOGIN_PAGE = (b"<html><head><title>Log in</title></head><body><form action=/session method=post>"
              b"<input name=u><input type=password name=p></form></body></html>")
CHALLENGE_PAGE = (b"<html><head><title>Just a moment...</title></head><body>"
                  b"<div id=cf-challenge-running>Checking your browser before accessing.</div></body></html>")
BIG = 3_000_000
BOMB_SIZE = 50_000_000
MAX_BYTES = 1_000_000


# =============================================================================================
# the fixture web (runs in the pytest process)
# =============================================================================================

@dataclass
class Hit:
    at: float
    host: str
    path: str
    method: str
    headers: dict[str, str]


@dataclass
class Web:
    port: int = 0
    port6: int | None = None
    tls_port: int = 0
    ca_file: str = ""
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def between(self, t0: float, t1: float) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if t0 <= h.at <= t1]

    def paths(self, prefix: str) -> list[str]:
        with self.lock:
            return [h.path for h in self.hits if h.path.startswith(prefix)]


_BOMB = gzip.compress(b"\0" * BOMB_SIZE, compresslevel=9)


def make_handler(web: Web) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            hdrs = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))}
            hdrs.update(headers or {})
            for k, v in hdrs.items():
                if v is not None:
                    self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_POST(self) -> None:
            self.do_GET()

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            with web.lock:
                web.hits.append(Hit(time.time(), self.headers.get("Host", ""), self.path, self.command,
                                    {k: v for k, v in self.headers.items()}))
            parts = urlsplit(self.path)
            if parts.path == "/robots.txt":
                if self.headers.get("Host", "").startswith("localhost") and not isinstance(
                        self.connection, ssl.SSLSocket):
                    return self._send(503, b"down for maintenance")
                if self.headers.get("Host", "").startswith("[::1]"):
                    return self._send(404, b"no robots.txt here")  # unavailable: no restrictions
                return self._send(200, b"User-agent: KCPD-Vetting\nDisallow: /*/agency-only\nDisallow: /*/private\n\n"
                                       b"User-agent: *\nDisallow: /*/private\n", {"Content-Type": "text/plain"})
            segments = parts.path.split("/", 2)
            scen, rest = (segments[1], "/" + segments[2]) if len(segments) > 2 else ("", parts.path)
            query = parse_qs(parts.query)
            if rest == "/ok" or rest.startswith(("/private", "/agency-only")):
                return self._send(200, f"<html><body><p>public page {scen}</p></body></html>".encode())
            if rest == "/echo":
                return self._send(200, json.dumps(dict(self.headers.items())).encode(),
                                  {"Content-Type": "application/json"})
            if rest == "/redirect":
                return self._send(302, b"", {"Location": query["to"][0]})
            if rest.startswith("/loop/"):
                n = int(rest.rsplit("/", 1)[1])
                return self._send(302, b"", {"Location": f"/{scen}/loop/{n + 1}"})
            if rest == "/self":
                return self._send(302, b"", {"Location": f"/{scen}/self"})
            if rest == "/401":
                return self._send(401, b"members only", {"WWW-Authenticate": 'Basic realm="members"'})
            if rest in ("/login", "/login-page"):
                return self._send(200, LOGIN_PAGE)
            if rest == "/challenge":
                return self._send(503, CHALLENGE_PAGE, {"Server": "cloudflare"})
            if rest == "/429":
                return self._send(429, b"too many requests", {"Retry-After": "3600"})
            if rest == "/flaky503":
                return self._send(503, b"<h1>Service unavailable</h1>")
            if rest == "/big":
                return self._send(200, b"x" * BIG)
            if rest == "/big-chunked":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                try:
                    for _ in range(BIG // 65536 + 1):
                        self.wfile.write(b"y" * 65536)
                except OSError:
                    pass
                return None
            if rest == "/bomb":
                return self._send(200, _BOMB, {"Content-Encoding": "gzip"})
            if rest == "/trickle":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                deadline = time.time() + 15  # bounded even if the client never gives up
                try:
                    while time.time() < deadline:
                        self.wfile.write(b".")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass
                return None
            return self._send(404, b"not found")

    return Handler


class V6Server(DemoServer):
    address_family = socket.AF_INET6


def _make_ca(tmp: Path) -> tuple[str, str, str]:
    """A throw-away CA and a leaf for DNS:localhost only (no IP SAN): (ca, cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vetting Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(ca_path), str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    w = Web()
    handler = make_handler(w)
    servers: list[DemoServer] = []
    srv = DemoServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    w.port = srv.server_address[1]
    servers.append(srv)
    try:
        srv6 = V6Server(("::1", 0), handler)
        srv6.daemon_threads = True
        w.port6 = srv6.server_address[1]
        servers.append(srv6)
    except OSError:
        w.port6 = None
    ca, cert, key = _make_ca(tmp_path_factory.mktemp("tls"))
    w.ca_file = ca
    tls = DemoServer(("127.0.0.1", 0), handler)
    tls.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    w.tls_port = tls.server_address[1]
    servers.append(tls)
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield w
    for s in servers:
        s.shutdown()
        s.server_close()


# =============================================================================================
# scenarios
# =============================================================================================

def req(url: str, **kw: Any) -> dict[str, Any]:
    return {"url": url, **kw}


WALL_META = {"handle_httpstatus_list": [401, 403, 429, 503]}


def scenarios(w: Web) -> list[dict[str, Any]]:
    p = w.port
    loopback_hosts = [f"127.0.0.1:{p}", f"127.1:{p}", f"2130706433:{p}", f"0x7f000001:{p}",
                      f"0177.0.0.1:{p}", f"[::ffff:127.0.0.1]:{p}", f"localhost:{p}"]
    if w.port6:
        loopback_hosts.append(f"[::1]:{w.port6}")

    def enc(scen: str) -> list[dict[str, Any]]:
        # /<scen>/ok on every encoding; robots.txt of "localhost" is 503, so use /robots-free paths
        return [req(f"http://{h}/{scen}/ok") for h in loopback_hosts]

    base = f"http://127.0.0.1:{p}"
    return [
        {"name": "public-encodings", "profile": "public",
         "requests": enc("public-encodings") + [req(f"http://127.3.4.5:{p}/public-encodings/ok")]},
        {"name": "loopback-encodings", "profile": "loopback",
         "requests": [r for r in enc("loopback-encodings") if "localhost" not in r["url"]]},
        {"name": "redirect-refused", "profile": "loopback", "requests": [
            req(f"{base}/redirect-refused/redirect?to=http://10.0.0.5/"),
            req(f"{base}/redirect-refused/redirect?to=http://169.254.169.254/latest/meta-data/"),
            req(f"{base}/redirect-refused/redirect?to=http://[fd00:ec2::254]/"),
            req(f"{base}/redirect-refused/redirect?to=http://2852039166/"),
            req(f"{base}/redirect-refused/redirect?to=http://metadata.google.internal/"),
            req(f"{base}/redirect-refused/redirect?to=/redirect-refused/login"),
            req(f"{base}/redirect-refused/redirect?to=/redirect-refused/ok"),
        ]},
        {"name": "forbidden", "profile": "loopback", "requests": [
            req(f"{base}/forbidden/post", method="POST", body="a=1"),
            req(f"{base}/forbidden/put", method="PUT"),
            req(f"{base}/forbidden/body", body="q=1"),
            req(f"{base}/forbidden/cookie", headers={"Cookie": "sid=1"}),
            req(f"{base}/forbidden/cookies", cookies={"sid": "1"}),
            req(f"{base}/forbidden/auth", headers={"Authorization": "Basic dTpw"}),
            req(f"http://u:p@127.0.0.1:{p}/forbidden/userinfo"),
            req(f"{base}/forbidden/ua", headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64)"}),
            req(f"{base}/forbidden/proxy", meta={"proxy": "http://127.0.0.1:9"}),
            req(f"{base}/forbidden/echo"),
        ]},
        {"name": "robots", "profile": "loopback", "settings": {"ROBOTSTXT_OBEY": False}, "requests": [
            req(f"{base}/robots/private/page"),
            req(f"{base}/robots/private/page", meta={"dont_obey_robotstxt": True}),
            req(f"{base}/robots/agency-only/page"),
            req(f"{base}/robots/ok"),
            req(f"http://localhost:{p}/robots/ok"),
            *([req(f"http://[::1]:{w.port6}/robots/private/page")] if w.port6 else []),
        ]},
        {"name": "walls", "profile": "loopback", "settings": {"RETRY_TIMES": 2,
                                                              "RETRY_HTTP_CODES": [403, 429, 500, 503]},
         "requests": [
            req(f"{base}/walls/401", meta=WALL_META),
            req(f"{base}/walls/login-page"),
            req(f"{base}/walls/challenge", meta=WALL_META),
            req(f"{base}/walls/429", meta=WALL_META),
            req(f"{base}/walls/flaky503", meta=WALL_META),
            req(f"{base}/walls/challenge"),  # not handled by the spider: HttpError reaches the errback
         ]},
        {"name": "size", "profile": "loopback", "limits": {"max_bytes": MAX_BYTES}, "requests": [
            req(f"{base}/size/big"), req(f"{base}/size/big-chunked"), req(f"{base}/size/bomb"),
            req(f"{base}/size/ok"), req(f"{base}/size/big?uncapped", meta={"download_maxsize": 0}),
        ]},
        {"name": "bomb-allowed", "profile": "loopback", "limits": {"max_bytes": 60_000_000},
         "requests": [req(f"{base}/bomb-allowed/bomb")]},
        {"name": "trickle", "profile": "loopback", "limits": {"timeout_seconds": 1.5},
         "settings": {"RETRY_ENABLED": False}, "requests": [req(f"{base}/trickle/trickle")]},
        {"name": "loops", "profile": "loopback", "limits": {"max_redirects": 3}, "requests": [
            req(f"{base}/loops/loop/0"), req(f"{base}/loops/self", dont_filter=True),
        ]},
        {"name": "tls-untrusted", "profile": "loopback", "settings": {"RETRY_ENABLED": False},
         "requests": [req(f"https://localhost:{w.tls_port}/tls-untrusted/ok")]},
        {"name": "tls-trusted", "profile": "loopback", "limits": {"ca_file": w.ca_file},
         "requests": [req(f"https://localhost:{w.tls_port}/tls-trusted/ok")]},
        {"name": "tls-wrong-name", "profile": "loopback", "limits": {"ca_file": w.ca_file},
         "settings": {"RETRY_ENABLED": False},
         "requests": [req(f"https://127.0.0.1:{w.tls_port}/tls-wrong-name/ok")]},
        {"name": "domains", "profile": "loopback", "allow": ["127.0.0.1"], "deny": [],
         "requests": [req(f"{base}/domains/ok"), req(f"http://127.0.0.2:{p}/domains/ok")]},
    ]


@dataclass
class Run:
    scenario: dict[str, Any]
    records: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]
    t0: float
    t1: float


@pytest.fixture(scope="module")
def runs(web: Web, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("crawl")
    spec, out = tmp / "spec.json", tmp / "out.json"
    spec.write_text(json.dumps(scenarios(web)))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, __file__, str(spec), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    if os.environ.get("GUARD_CRAWL_DUMP"):
        Path(os.environ["GUARD_CRAWL_DUMP"]).write_text(out.read_text())
    data = json.loads(out.read_text())
    runs = {r["scenario"]["name"]: Run(r["scenario"], r["records"], r["outcomes"], r["t0"], r["t1"])
            for r in data["runs"]}
    runs["__tripwire__"] = Run({}, data["tripwire"], data["tripwire_selfcheck"], 0, 0)
    runs["__resolver__"] = Run({"name_resolver": data["name_resolver"]}, [], [], 0, 0)
    return runs


def by_url(run: Run) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in run.records:
        out.setdefault(r["url"], []).append(r)
    return out


def outcome(run: Run, url: str) -> dict[str, Any]:
    matches = [o for o in run.outcomes if o["url"] == url]
    assert len(matches) == 1, (url, run.outcomes)
    return matches[0]


# =============================================================================================
# tests
# =============================================================================================

def test_nothing_left_loopback_and_no_real_name_was_resolved(runs: dict[str, Run]) -> None:
    tripwire = runs["__tripwire__"]
    # the tripwire works (it caught its own probes, which it blocked before sending anything)...
    assert tripwire.outcomes == [{"connect": "('10.0.0.5', 80)"}, {"connect": "('169.254.169.254', 80)"},
                                 {"getaddrinfo": "public.example"}]
    # ...and no crawl tried to reach anything but loopback or to resolve a real name
    assert tripwire.records == []


def test_connections_resolve_names_through_the_guarded_resolver(runs: dict[str, Run]) -> None:
    assert runs["__resolver__"].scenario["name_resolver"] == "GuardedNameResolver"


def test_public_profile_refuses_every_loopback_encoding_before_the_network(runs: dict[str, Run], web: Web) -> None:
    run = runs["public-encodings"]
    assert len(run.records) == len(run.scenario["requests"])
    for r in run.records:
        assert r["allowed"] is False and r["status"] is None
        assert r["reason"].startswith("address: ") and "is loopback" in r["reason"], r
    for spec in run.scenario["requests"]:
        assert outcome(run, spec["url"])["reason"].startswith("address: ")
    assert web.between(run.t0, run.t1) == []  # not even robots.txt


def test_loopback_profile_crawl_succeeds_on_every_encoding(runs: dict[str, Run], web: Web) -> None:
    run = runs["loopback-encodings"]
    for spec in run.scenario["requests"]:
        got = outcome(run, spec["url"])
        assert got["status"] == 200 and got["kind"] == "public", got
        assert b"public page loopback-encodings".decode() in got["text"]
    fetched = [r for r in run.records if r["reason"] == "fetched: status 200"]
    page_fetches = [r for r in fetched if not r["url"].endswith("/robots.txt")]
    assert len(page_fetches) == len(run.scenario["requests"])
    assert len(web.paths("/loopback-encodings/ok")) == len(run.scenario["requests"])


@pytest.mark.parametrize(("target", "reason"), [
    ("http://10.0.0.5/", "address: 10.0.0.5 is private"),
    ("http://169.254.169.254/latest/meta-data/", "address: 169.254.169.254 is metadata"),
    ("http://[fd00:ec2::254]/", "address: fd00:ec2::254 is metadata"),
    ("http://2852039166/", "address: 169.254.169.254 is metadata"),
    ("http://metadata.google.internal/", "address: metadata.google.internal is metadata"),
])
def test_redirect_into_a_refused_place_is_refused_at_the_hop(runs: dict[str, Run], target: str,
                                                              reason: str) -> None:
    run = runs["redirect-refused"]
    start = next(r["url"] for r in run.scenario["requests"] if r["url"].endswith("to=" + target))
    records = by_url(run)
    assert records[safe_url_string(start)] == [{"url": safe_url_string(start), "method": "GET", "allowed": True,
                               "reason": f"redirect: to {target}", "status": 302}]
    hop = [r for r in run.records if r["url"] == target or r["url"].rstrip("/") == target.rstrip("/")]
    assert len(hop) == 1 and hop[0]["allowed"] is False and hop[0]["reason"] == reason, run.records
    assert outcome(run, start)["reason"] == reason


def test_redirect_to_a_login_page_is_a_login_wall(runs: dict[str, Run], web: Web) -> None:
    run = runs["redirect-refused"]
    start = next(r["url"] for r in run.scenario["requests"] if r["url"].endswith("to=/redirect-refused/login"))
    assert outcome(run, start)["reason"].startswith("not public: login wall")
    assert web.paths("/redirect-refused/login") == []  # the login page itself is never fetched
    ok = next(r["url"] for r in run.scenario["requests"] if r["url"].endswith("to=/redirect-refused/ok"))
    assert outcome(run, ok)["status"] == 200  # an ordinary redirect is followed


@pytest.mark.parametrize(("path", "reason"), [
    ("post", "method: POST not allowed"),
    ("put", "method: PUT not allowed"),
    ("body", "form: request body not allowed"),
    ("cookie", "cookie: Cookie header not allowed"),
    ("cookies", "cookie: cookies not allowed"),
    ("auth", "credentials: Authorization header not allowed"),
    ("userinfo", "credentials: user info in URL not allowed"),
    ("ua", "user-agent: differs"),
    ("proxy", "proxy: not allowed"),
])
def test_forbidden_requests_are_refused_and_never_sent(runs: dict[str, Run], web: Web, path: str,
                                                       reason: str) -> None:
    run = runs["forbidden"]
    spec = next(r for r in run.scenario["requests"] if r["url"].endswith(f"/forbidden/{path}"))
    assert outcome(run, spec["url"])["reason"].startswith(reason)
    recs = by_url(run)[spec["url"]]
    assert len(recs) == 1 and recs[0]["allowed"] is False and recs[0]["reason"].startswith(reason)
    assert web.paths(f"/forbidden/{path}") == []


def test_allowed_requests_carry_the_honest_user_agent_and_nothing_else(runs: dict[str, Run], web: Web) -> None:
    run = runs["forbidden"]
    echo = outcome(run, f"http://127.0.0.1:{web.port}/forbidden/echo")
    headers = {k.lower(): v for k, v in json.loads(echo["text"]).items()}
    assert headers["user-agent"] == UA
    assert "cookie" not in headers and "authorization" not in headers


def test_robots_txt(runs: dict[str, Run], web: Web) -> None:
    run = runs["robots"]
    private = f"http://127.0.0.1:{web.port}/robots/private/page"
    recs = by_url(run)[private]
    assert [r["reason"] for r in recs] == ["robots.txt: disallowed", "robots.txt: disallowed"]
    # dont_obey_robotstxt on a spider request changes nothing
    assert [h.path for h in web.hits if h.path.startswith("/robots/private") and h.host.startswith("127.")] == []
    assert outcome(run, f"http://127.0.0.1:{web.port}/robots/ok")["status"] == 200
    # the group for our product token (ROBOTSTXT_USER_AGENT from the User-Agent) applies
    assert outcome(run, f"http://127.0.0.1:{web.port}/robots/agency-only/page")["reason"] == "robots.txt: disallowed"
    assert web.paths("/robots/agency-only") == []
    if web.port6:  # a 404 robots.txt means no restrictions (RFC 9309 2.3.1.3)
        assert outcome(run, f"http://[::1]:{web.port6}/robots/private/page")["status"] == 200
    unreachable = outcome(run, f"http://localhost:{web.port}/robots/ok")
    assert unreachable["reason"].startswith("robots.txt: unreachable (status 503), complete disallow")
    robots_fetches = [r for r in run.records if r["url"].endswith("/robots.txt")]
    assert {r["url"] for r in robots_fetches} >= {f"http://127.0.0.1:{web.port}/robots.txt",
                                                  f"http://localhost:{web.port}/robots.txt"}
    # ROBOTSTXT_OBEY=False in this scenario's settings changed nothing: the guard's robots.txt is always on


@pytest.mark.parametrize(("path", "reason", "status"), [
    ("401", "not public: login wall", 401),
    ("login-page", "not public: login wall", 200),
    ("challenge", "blocked: challenge page", 503),
    ("429", "blocked: rate limited", 429),
])
def test_walls_are_flagged_recorded_and_not_retried(runs: dict[str, Run], web: Web, path: str, reason: str,
                                                    status: int) -> None:
    run = runs["walls"]
    url = f"http://127.0.0.1:{web.port}/walls/{path}"
    recs = by_url(run)[url]
    assert all(r["allowed"] is False and r["reason"] == reason and r["status"] == status for r in recs), recs
    got = [o for o in run.outcomes if o["url"] == url]
    assert any(o.get("kind") in ("not public", "blocked") and o.get("page_reason") == reason for o in got) \
        or any(o.get("reason") == reason for o in got), got
    # each request for the URL reached the server exactly once: never retried around the wall
    assert len(web.paths(f"/walls/{path}")) == len(run.scenario and
                                                    [r for r in run.scenario["requests"] if r["url"] == url])


def test_unhandled_wall_status_reaches_the_errback_with_its_verdict(runs: dict[str, Run], web: Web) -> None:
    run = runs["walls"]
    url = f"http://127.0.0.1:{web.port}/walls/challenge"
    reasons = sorted(o.get("reason") or o.get("page_reason") for o in run.outcomes if o["url"] == url)
    assert reasons == ["blocked: challenge page", "blocked: challenge page"]


def test_ordinary_errors_are_still_retried(runs: dict[str, Run], web: Web) -> None:
    """Control for the test above: a plain 503 (no challenge) is retried, so 'not retried' means something."""
    assert len(web.paths("/walls/flaky503")) == 3
    run = runs["walls"]
    recs = by_url(run)[f"http://127.0.0.1:{web.port}/walls/flaky503"]
    assert [r["status"] for r in recs] == [503, 503, 503] and all(r["allowed"] for r in recs)


@pytest.mark.parametrize(("path", "reason"), [
    ("big", f"size: over {MAX_BYTES} bytes"),
    ("big-chunked", f"size: over {MAX_BYTES} bytes"),
    ("bomb", f"size: over {MAX_BYTES} bytes (decompressed)"),
])
def test_size_caps(runs: dict[str, Run], web: Web, path: str, reason: str) -> None:
    run = runs["size"]
    url = f"http://127.0.0.1:{web.port}/size/{path}"
    assert outcome(run, url)["reason"] == reason
    assert [r["reason"] for r in by_url(run)[url]] == [reason]
    assert outcome(run, f"http://127.0.0.1:{web.port}/size/ok")["status"] == 200


def test_a_spider_cannot_lift_the_size_cap(runs: dict[str, Run], web: Web) -> None:
    got = outcome(runs["size"], f"http://127.0.0.1:{web.port}/size/big?uncapped")
    assert got["reason"] == f"size: over {MAX_BYTES} bytes"


def test_bomb_is_a_size_problem_only_because_of_the_cap(runs: dict[str, Run], web: Web) -> None:
    """Control: with a cap above the decompressed size the same body decompresses fine."""
    got = outcome(runs["bomb-allowed"], f"http://127.0.0.1:{web.port}/bomb-allowed/bomb")
    assert got["status"] == 200 and got["length"] == BOMB_SIZE


def test_never_ending_page_stops_at_the_timeout(runs: dict[str, Run], web: Web) -> None:
    run = runs["trickle"]
    url = f"http://127.0.0.1:{web.port}/trickle/trickle"
    assert outcome(run, url)["reason"] == "timeout"
    assert [r["reason"] for r in by_url(run)[url]] == ["timeout"]
    assert run.t1 - run.t0 < 10


def test_redirect_loops_stop_at_the_limit(runs: dict[str, Run], web: Web) -> None:
    run = runs["loops"]
    chain = outcome(run, f"http://127.0.0.1:{web.port}/loops/loop/0")
    assert chain["reason"] == "redirects: over 3"
    assert len(web.paths("/loops/loop/")) == 4  # the first request and 3 redirects, then stop
    selfloop = outcome(run, f"http://127.0.0.1:{web.port}/loops/self")
    assert selfloop["reason"] == "redirects: over 3"
    assert [r["reason"] for r in run.records if r["reason"].startswith("redirects: over")] == \
        ["redirects: over 3", "redirects: over 3"]


def test_tls_certificates_are_verified(runs: dict[str, Run], web: Web) -> None:
    untrusted = runs["tls-untrusted"]
    got = outcome(untrusted, f"https://localhost:{web.tls_port}/tls-untrusted/ok")
    # robots.txt is the first request to the host: its TLS failure makes the host unreachable
    assert got["reason"].startswith("tls: certificate verify failed"), got
    assert all(r["reason"].startswith("tls: certificate verify failed") and not r["allowed"]
               for r in untrusted.records), untrusted.records
    assert web.paths("/tls-untrusted/") == []  # the handshake failed: no HTTP request was sent
    trusted = outcome(runs["tls-trusted"], f"https://localhost:{web.tls_port}/tls-trusted/ok")
    assert trusted["status"] == 200  # control: the same server with its CA trusted works
    wrong = outcome(runs["tls-wrong-name"], f"https://127.0.0.1:{web.tls_port}/tls-wrong-name/ok")
    assert wrong["reason"].startswith("tls: certificate does not match the host name"), wrong
    assert web.paths("/tls-wrong-name/") == []


def test_domain_allow_list(runs: dict[str, Run], web: Web) -> None:
    run = runs["domains"]
    assert outcome(run, f"http://127.0.0.1:{web.port}/domains/ok")["status"] == 200
    assert outcome(run, f"http://127.0.0.2:{web.port}/domains/ok")["reason"] == "domain: not in the allow list"


def test_every_attempt_is_recorded_exactly_once(runs: dict[str, Run]) -> None:
    for name, run in runs.items():
        if name.startswith("__"):
            continue
        for o in run.outcomes:
            assert safe_url_string(o["url"]) in by_url(run), (name, o)


# =============================================================================================
# the crawl subprocess (python tests/test_guard_crawl.py SPEC OUT)
# =============================================================================================

TRIPWIRE: list[dict[str, Any]] = []


def _install_tripwire() -> None:
    """Refuse (and log) any connect to a non-loopback address and any real name lookup."""
    orig_connect, orig_connect_ex, orig_gai = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def loopback(addr: Any) -> bool:
        try:
            ip = ipaddress.ip_address(str(addr[0]).split("%")[0])
        except (ValueError, TypeError, IndexError):
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback

    def connect(self: socket.socket, addr: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(addr):
            TRIPWIRE.append({"connect": str(addr)})
            raise ConnectionRefusedError(f"tripwire: {addr}")
        return orig_connect(self, addr)

    def connect_ex(self: socket.socket, addr: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(addr):
            TRIPWIRE.append({"connect": str(addr)})
            return 111
        return orig_connect_ex(self, addr)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        numeric = all(c in "0123456789abcdefxABCDEFX.:[]%" for c in name)
        if not (numeric or name in ("localhost", "")):
            TRIPWIRE.append({"getaddrinfo": name})
            raise socket.gaierror(socket.EAI_NONAME, f"tripwire: {name}")
        return orig_gai(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def _tripwire_selfcheck() -> list[dict[str, Any]]:
    """Prove the tripwire blocks before anything is sent (both connect paths, and DNS)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        assert probe.connect_ex(("10.0.0.5", 80)) == 111
        try:
            probe.connect(("169.254.169.254", 80))
        except ConnectionRefusedError:
            pass
    finally:
        probe.close()
    try:
        socket.getaddrinfo("public.example", 80)
    except socket.gaierror:
        pass
    caught = list(TRIPWIRE)
    TRIPWIRE.clear()
    return caught


def _main(spec_path: str, out_path: str) -> None:
    _install_tripwire()
    selfcheck = _tripwire_selfcheck()
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import scrapy
    from scrapy.crawler import AsyncCrawlerRunner
    from twisted.internet import reactor

    from spiders.guard import PAGE_KIND_META, guard_settings, record_failure

    class ListSink:
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def record_request(self, url: str, method: str, allowed: bool, reason: str,
                           status: int | None = None) -> None:
            self.records.append({"url": url, "method": method, "allowed": allowed, "reason": reason,
                                 "status": status})

    class GuardTestSpider(scrapy.Spider):
        name = "guard-test"

        def __init__(self, requests: list[dict[str, Any]], sink: ListSink, outcomes: list[dict[str, Any]],
                     **kw: Any):
            super().__init__(**kw)
            self.specs, self.sink, self.outcomes = requests, sink, outcomes

        async def start(self) -> Any:
            for spec in self.specs:
                meta = dict(spec.get("meta") or {})
                meta["origin"] = spec["url"]
                yield scrapy.Request(spec["url"], method=spec.get("method", "GET"),
                                     headers=spec.get("headers"), cookies=spec.get("cookies"),
                                     body=spec.get("body"), meta=meta, callback=self.parse,
                                     errback=self.failed, dont_filter=True)

        def parse(self, response: Any) -> None:
            kind = response.meta.get(PAGE_KIND_META)
            self.outcomes.append({"url": response.meta["origin"], "final_url": response.url,
                                  "status": response.status, "kind": kind.kind if kind else None,
                                  "page_reason": kind.reason if kind else None, "length": len(response.body),
                                  "text": response.body[:2000].decode("utf-8", "replace")})

        def failed(self, failure: Any) -> None:
            reason = record_failure(failure, self.sink)
            self.outcomes.append({"url": failure.request.meta["origin"], "reason": reason})

    specs = json.loads(Path(spec_path).read_text())
    results: dict[str, Any] = {"runs": []}

    async def crawl_all() -> None:
        for scen in specs:
            sink, outcomes = ListSink(), []  # type: ignore[var-annotated]
            limits = {"max_bytes": 5_000_000, "timeout_seconds": 10, "max_redirects": 5, "delay_seconds": 0,
                      "concurrency_per_domain": 8}
            limits.update(scen.get("limits") or {})
            settings = guard_settings(scen["profile"], UA, scen.get("allow", []), scen.get("deny", []), sink,
                                      limits)
            settings.update({"LOG_LEVEL": "CRITICAL", "TELNETCONSOLE_ENABLED": False,
                             "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
                             "RETRY_TIMES": 1, "CONCURRENT_REQUESTS": 16, "DOWNLOAD_DELAY": 0})
            settings.update(scen.get("settings") or {})
            runner = AsyncCrawlerRunner(settings)
            t0 = time.time()
            await runner.crawl(GuardTestSpider, requests=scen["requests"], sink=sink, outcomes=outcomes)
            results["runs"].append({"scenario": scen, "records": sink.records, "outcomes": outcomes,
                                    "t0": t0, "t1": time.time()})

    def start() -> None:
        import asyncio

        from twisted.internet.defer import Deferred

        d = Deferred.fromFuture(asyncio.ensure_future(crawl_all()))

        def done(result: Any) -> None:
            results["error"] = None if not hasattr(result, "getTraceback") else result.getTraceback()
            reactor.stop()  # type: ignore[attr-defined]

        d.addBoth(done)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    results["tripwire"] = TRIPWIRE
    results["tripwire_selfcheck"] = selfcheck
    results["name_resolver"] = type(reactor.nameResolver).__name__  # type: ignore[attr-defined]
    Path(out_path).write_text(json.dumps(results))
    if results.get("error"):
        print(results["error"], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
