"""The rendering browser reaches the web only through the guard (issue 11.1), tried from outside.

A real Chromium renders real pages through the pages spider and the guard's settings, in a
subprocess (Twisted's reactor cannot restart). Three pages:

* **attack** (``public`` profile): images, scripts, iframes, CSS ``url()``, fetch, sendBeacon,
  EventSource, WebSocket, ``<link rel=prefetch>`` and a service worker pointing at every
  loopback spelling, 10.0.0.5, 169.254.169.254 and ``[fd00::1]``: directly, through one
  redirect hop and through two. The page's own host, 127.0.0.77, is treated as public by a
  test-only hook in the subprocess (``decide_address`` is wrapped; nothing in the toolkit
  knows of it), so the page renders under ``public`` while every other loopback address stays
  loopback. A **tripwire** listener on the loopback target port must receive 0 connections,
  and a second one stands in for the closed proxy port the browser is launched with (anything
  that escaped interception would land there): also 0. In the subprocess ``socket.connect`` is
  wrapped too, so 10.x, 169.254.x and fd00:: are refused at the decision level with no socket.
* **robots** (``loopback``): subresources under a robots.txt ``Disallow`` are never fetched.
* **rebinding** (``public``): ``rebind.test`` resolves to the "public" 127.0.0.77 for the guard's
  decision and to 127.0.0.1 when the connection resolves it again: refused at connect time.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest

from vetting.demoweb.http import DemoServer

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VETTING_CHROMIUM", "/usr/bin/chromium")
UA = "KCPD-Vetting/1.0 (+https://agency.example/vetting)"
PUBLIC_HOST = "127.0.0.77"  # treated as public by the subprocess's test-only hook
ROBOTS_HOST = "127.0.0.78"
KINDS = ("img", "script", "iframe", "css", "fetch", "beacon", "eventsource", "websocket", "prefetch", "sw")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium on this machine")

GZIPPED_CSS = b"h1 { color: rgb(1, 2, 3); }"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def loopback_spellings(port: int, port6: int | None) -> list[str]:
    hosts = [f"127.0.0.1:{port}", f"localhost:{port}", f"127.1:{port}", f"2130706433:{port}",
             f"0x7f000001:{port}", f"0177.0.0.1:{port}", f"127.000.000.001:{port}", f"127.0.0.1.:{port}",
             f"127.0.0%2e1:{port}", f"localhost.:{port}", f"[::ffff:127.0.0.1]:{port}", f"[::ffff:7f00:1]:{port}"]
    if port6:
        hosts.append(f"[::1]:{port6}")
    return hosts


def targets(port: int, port6: int | None) -> list[str]:
    return [*loopback_spellings(port, port6), f"10.0.0.5:{port}", f"169.254.169.254:{port}", f"[fd00::1]:{port}"]


# -- the fixture web and the tripwires (this process) --------------------------------------------

@dataclass
class Tripwire:
    """A listener that only counts: any connection at all is a leak."""

    connections: list[str] = field(default_factory=list)
    socks: list[socket.socket] = field(default_factory=list)

    def listen(self, family: int, host: str, port: int) -> int:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(64)
        self.socks.append(s)
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return s.getsockname()[1]

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, addr = s.accept()
            except OSError:
                return
            conn.settimeout(1)
            try:
                first = conn.recv(200)
            except OSError:
                first = b""
            self.connections.append(f"{addr} {first[:80]!r}")
            conn.close()

    def close(self) -> None:
        for s in self.socks:
            s.close()


class Hits:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, str, str, str]] = []  # (host, method, path, user agent)

    def add(self, host: str, method: str, path: str, agent: str) -> None:
        with self.lock:
            self.items.append((host, method, path, agent))

    def paths(self, host: str = "") -> list[str]:
        with self.lock:
            return [p for h, _, p, _ in self.items if h.startswith(host)]


def attack_page(port: int, tport: int, tport6: int | None) -> bytes:
    body, css, script = [], [], []
    for ti, target in enumerate(targets(tport, tport6)):
        for hops in (0, 1, 2):
            for kind in KINDS:
                marker = f"{kind}-{ti}-{hops}"
                direct = f"http://{target}/hit/{marker}"
                url = direct if hops == 0 else f"/go{hops}/{marker}?to={quote(direct, safe='')}"
                if kind == "img":
                    body.append(f'<img src="{url}" width=1 height=1>')
                elif kind == "script":
                    body.append(f'<script async src="{url}"></script>')
                elif kind == "iframe":
                    body.append(f'<iframe src="{url}" width=2 height=2></iframe>')
                elif kind == "css":
                    css.append(f".c-{marker} {{ background-image: url('{url}'); }}")
                    body.append(f'<div class="c-{marker}">.</div>')
                elif kind == "prefetch":
                    body.append(f'<link rel="prefetch" href="{url}">')
                elif kind == "fetch":
                    script.append(f"fetch({json.dumps(url)}).catch(() => {{}});")
                elif kind == "beacon":
                    script.append(f"try {{ navigator.sendBeacon({json.dumps(url)}, 'x'); }} catch (e) {{}}")
                elif kind == "eventsource":
                    script.append(f"try {{ new EventSource({json.dumps(url)}); }} catch (e) {{}}")
                elif kind == "websocket":
                    ws = (direct if hops == 0 else f"http://{PUBLIC_HOST}:{port}{url}").replace("http://", "ws://")
                    script.append(f"try {{ new WebSocket({json.dumps(ws)}); }} catch (e) {{}}")
                elif kind == "sw":
                    script.append(f"try {{ navigator.serviceWorker.register({json.dumps(url)}).catch(() => {{}}); }}"
                                  " catch (e) {}")
        # a dedicated worker must be same-origin: its script through a redirect to each target
        hop = f"/go1/worker-{ti}-1?to={quote(f'http://{target}/hit/worker-{ti}-1', safe='')}"
        script.append(f"try {{ new Worker({json.dumps(hop)}); }} catch (e) {{}}")
    return (f"""<!doctype html><html><head><title>Attack</title><style>{' '.join(css)}</style></head><body>
<h1>Alex's public profile</h1>
<script>fetch("/api/get").catch(() => {{}});</script>
<link rel="stylesheet" href="/gzipped.css">
<img src="/allowed.png" alt="allowed"> <img src="/go2/ok?to=%2Fredirected.png" alt="redirected">
{''.join(body)}
<script>{chr(10).join(script)}</script></body></html>""").encode()


def workers_page(tport: int, tport6: int | None) -> bytes:
    """Shared workers (same-origin scripts redirected to each target) and icon links at each
    target. A page's shared worker keeps Chromium's network from falling quiet, so the render
    waits out its idle cap: this page is rendered on its own, with a short cap."""
    script, links = [], []
    for ti, target in enumerate(targets(tport, tport6)):
        shared = f"/go1/sharedworker-{ti}-1?to={quote(f'http://{target}/hit/sharedworker-{ti}-1', safe='')}"
        script.append(f"try {{ new SharedWorker({json.dumps(shared)}); }} catch (e) {{}}")
        links.append(f'<link rel="icon" href="http://{target}/hit/icon-{ti}-0">')
    return (f"""<!doctype html><html><head><title>Workers</title>{''.join(links)}</head><body>
<h1>Workers</h1><script>{chr(10).join(script)}</script></body></html>""").encode()


def robots_page() -> bytes:
    return b"""<!doctype html><html><head><title>Robots</title>
<link rel="stylesheet" href="/private/style.css"><script src="/private/app.js"></script></head><body>
<h1>Robots page</h1><img src="/private/secret.png"><img src="/open.png"><iframe src="/private/frame.html"></iframe>
<div style="background-image:url('/private/bg.png')">.</div>
<script>fetch("/private/api").catch(() => {}); fetch("/open-api").catch(() => {});</script></body></html>"""


def rebind_page(tport: int) -> bytes:
    return f"""<!doctype html><html><head><title>Rebind</title></head><body><h1>Rebinding</h1>
<img src="http://rebind.test:{tport}/hit/rebind-img">
<script>fetch("http://rebind.test:{tport}/hit/rebind-fetch").catch(() => {{}});</script></body></html>""".encode()


@dataclass
class Web:
    port: int
    tport: int
    tport6: int | None
    hits: Hits
    tripwire: Tripwire
    proxy_tripwire: Tripwire
    proxy_port: int


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    hits = Hits()
    tripwire, proxy_tripwire = Tripwire(), Tripwire()
    tport = tripwire.listen(socket.AF_INET, "127.0.0.1", 0)
    tport6: int | None
    try:
        tport6 = tripwire.listen(socket.AF_INET6, "::1", tport)
    except OSError:
        try:
            tport6 = tripwire.listen(socket.AF_INET6, "::1", 0)
        except OSError:
            tport6 = None
    proxy_port = proxy_tripwire.listen(socket.AF_INET, "127.0.0.1", 0)
    state: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_POST(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            hits.add(host, self.command, self.path, self.headers.get("User-Agent", ""))
            path, _, query = self.path.partition("?")
            port = state["port"]
            if path == "/robots.txt":
                rules = b"User-agent: *\nDisallow: /private/\n" if host.startswith(ROBOTS_HOST) else b"User-agent: *\nAllow: /\n"
                return self._send(200, rules, "text/plain")
            if path == "/attack":
                return self._send(200, attack_page(port, tport, tport6), "text/html; charset=utf-8")
            if path == "/workers":
                return self._send(200, workers_page(tport, tport6), "text/html; charset=utf-8")
            if path == "/robots-page":
                return self._send(200, robots_page(), "text/html; charset=utf-8")
            if path == "/rebind":
                return self._send(200, rebind_page(tport), "text/html; charset=utf-8")
            if path.startswith(("/go1/", "/go2/")):
                to = parse_qs(query).get("to", [""])[0]
                location = to if path.startswith("/go1/") else f"/go1/{path[5:]}?to={quote(to, safe='')}"
                return self._send(302, b"", "text/plain", {"Location": location})
            if path.endswith(".png"):
                return self._send(200, PNG, "image/png")
            if path == "/gzipped.css":
                return self._send(200, gzip.compress(GZIPPED_CSS), "text/css", {"Content-Encoding": "gzip"})
            if path.endswith(".css"):
                return self._send(200, b"h1 { color: red; }", "text/css")
            if path.endswith(".js"):
                return self._send(200, b"void 0;", "application/javascript")
            if path.endswith(".html"):
                return self._send(200, b"<p>frame</p>", "text/html")
            if path.endswith(("api", "/api/get")):
                return self._send(200, b"{}", "application/json")
            return self._send(404, b"", "text/plain")

    servers = [DemoServer((PUBLIC_HOST, 0), Handler)]
    state["port"] = port = servers[0].server_address[1]
    servers.append(DemoServer((ROBOTS_HOST, port), Handler))
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield Web(port, tport, tport6, hits, tripwire, proxy_tripwire, proxy_port)
    for s in servers:
        s.shutdown()
        s.server_close()
    tripwire.close()
    proxy_tripwire.close()


@pytest.fixture(scope="module")
def rendered(web: Web, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("browser") / "out.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    spec = {"port": web.port, "proxy_port": web.proxy_port, "tport": web.tport}
    proc = subprocess.run([sys.executable, __file__, json.dumps(spec), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    time.sleep(0.5)  # let anything late land on the tripwires
    return json.loads(out.read_text())


def records_of(rendered: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return rendered["scenarios"][scenario]["records"]


# -- the tests -------------------------------------------------------------------------------------

def test_the_tripwires_work(web: Web) -> None:
    """Control: a connection to either tripwire is counted (so 0 below means none was made)."""
    for port in (web.tport, web.proxy_port):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    time.sleep(0.3)
    assert len(web.tripwire.connections) >= 1 and len(web.proxy_tripwire.connections) >= 1
    web.tripwire.connections.clear()
    web.proxy_tripwire.connections.clear()


def test_the_attack_page_renders_under_public(rendered: dict[str, Any]) -> None:
    cap = rendered["scenarios"]["attack"]["captures"][0]
    assert cap["status"] == 200 and cap["outcome"] == "captured", cap
    assert not cap["render_error"], cap["render_error"]
    assert cap["screenshot"] > 1000 and "Alex's public profile" in cap["dom"]
    assert not cap["render_error"], cap


def test_no_connection_reaches_a_refused_address(rendered: dict[str, Any], web: Web) -> None:
    assert web.tripwire.connections == []  # every loopback spelling, directly or through redirects
    assert web.proxy_tripwire.connections == []  # nothing escaped interception to the browser's own network
    assert rendered["python_tripwire"] == []  # 10.x, 169.254.x, fd00:: refused with no socket opened


def test_every_attempt_has_an_audit_event(rendered: dict[str, Any], web: Web) -> None:
    records = records_of(rendered, "attack")
    missing = []
    for ti, target in enumerate(targets(web.tport, web.tport6)):
        for hops in (0, 1, 2):
            for kind in KINDS:
                marker = f"{kind}-{ti}-{hops}"
                if not any(f"/{marker}" in r["url"] and not r["allowed"] for r in records):
                    missing.append((kind, target, hops))
    assert missing == [], f"{len(missing)} attempts with no refusal event, e.g. {missing[:10]}"


def test_a_worker_script_redirected_to_each_target_is_refused(rendered: dict[str, Any], web: Web) -> None:
    records = records_of(rendered, "attack")
    for ti in range(len(targets(web.tport, web.tport6))):
        got = [r for r in records if f"/worker-{ti}-1" in r["url"]]
        assert got and got[0]["reason"].startswith("redirect: to ") and not got[-1]["allowed"], got
        assert got[-1]["reason"].startswith("address: ") and got[-1]["reason"].endswith("(browser script)"), got


def test_a_shared_worker_script_redirected_to_each_target_is_refused(rendered: dict[str, Any], web: Web) -> None:
    records = records_of(rendered, "workers")
    for ti in range(len(targets(web.tport, web.tport6))):
        got = [r for r in records if f"/sharedworker-{ti}-1" in r["url"]]
        assert got and got[0]["reason"].startswith("redirect: to ") and not got[-1]["allowed"], got
        assert got[-1]["reason"].startswith("address: "), got


def test_favicons_never_leave_through_the_browser(rendered: dict[str, Any], web: Web) -> None:
    """A page's icon links at every target: whatever Chromium asks for is refused and audited
    (headless Chromium may not ask at all; the tripwires hear nothing either way)."""
    records = records_of(rendered, "workers")
    icons = [r for r in records if "/hit/icon-" in r["url"]]
    assert all(not r["allowed"] and r["reason"].startswith("address: ") for r in icons), icons
    assert not any("/hit/icon-" in p for p in web.hits.paths())


@pytest.mark.parametrize(("kind", "reason"), [
    ("img", "address: 127.0.0.1 is loopback"), ("script", "address: "), ("iframe", "address: "),
    ("css", "address: "), ("fetch", "address: "), ("prefetch", "address: "),
    ("beacon", "method: POST not allowed"), ("eventsource", "browser: eventsource not allowed"),
    ("websocket", "browser: websocket not allowed"), ("sw", "browser: service worker not allowed"),
])
def test_each_kind_is_refused_with_its_reason(rendered: dict[str, Any], kind: str, reason: str) -> None:
    records = [r for r in records_of(rendered, "attack") if f"/{kind}-0-0" in r["url"]]
    assert records and all(not r["allowed"] for r in records)
    assert any(r["reason"].startswith(reason) for r in records), records


def test_private_and_metadata_targets_are_refused_at_the_decision(rendered: dict[str, Any], web: Web) -> None:
    n = len(loopback_spellings(web.tport, web.tport6))
    records = records_of(rendered, "attack")
    for ti, expected in ((n, "address: 10.0.0.5 is private"), (n + 1, "address: 169.254.169.254 is metadata"),
                         (n + 2, "address: fd00::1 is private")):
        for hops in (0, 1, 2):
            got = [r for r in records if f"/img-{ti}-{hops}" in r["url"] and not r["allowed"]]
            assert got and got[-1]["reason"].startswith(expected), got


def test_redirect_hops_are_performed_by_our_fetcher_and_audited(rendered: dict[str, Any], web: Web) -> None:
    records = records_of(rendered, "attack")
    hop2 = [r for r in records if "/img-0-2" in r["url"]]
    reasons = [r["reason"] for r in hop2]
    assert reasons[0].startswith("redirect: to ") and reasons[1].startswith("redirect: to "), reasons
    assert reasons[2].startswith("address: 127.0.0.1 is loopback"), reasons
    assert all("(browser image)" in r for r in reasons)
    # the allowed two-hop image arrived through our fetcher (the browser got the final bytes)
    assert "/redirected.png" in web.hits.paths(PUBLIC_HOST)
    assert any(r["url"].endswith("/redirected.png") and r["allowed"] for r in records)


def test_allowed_subresources_are_fetched_through_the_guard_and_kept(rendered: dict[str, Any],
                                                                     web: Web) -> None:
    records = records_of(rendered, "attack")
    allowed = {r["url"].rsplit("/", 1)[-1]: r["reason"] for r in records if r["allowed"]}
    assert allowed.get("allowed.png") == "fetched: status 200 (browser image)", allowed
    assert allowed.get("get") == "fetched: status 200 (browser fetch)", allowed
    cap = rendered["scenarios"]["attack"]["captures"][0]
    kept = {e["url"].rsplit("/", 1)[-1] for e in cap["exchanges"]}
    assert {"allowed.png", "get", "redirected.png"} <= kept
    agents = {a for h, _, _, a in web.hits.items if h.startswith(PUBLIC_HOST)}
    assert agents == {UA}  # every request that reached the server carried the honest User-Agent


def test_subresources_are_kept_as_received(rendered: dict[str, Any]) -> None:
    """The WARC gets what the server sent: the gzip payload with its Content-Encoding, the IP."""
    cap = rendered["scenarios"]["attack"]["captures"][0]
    css = next(e for e in cap["exchanges"] if e["url"].endswith("/gzipped.css"))
    assert ["Content-Encoding", "gzip"] in css["headers"]
    assert gzip.decompress(bytes.fromhex(css["body"])) == GZIPPED_CSS
    assert css["ip"] == PUBLIC_HOST and cap["received"]["ip"] == PUBLIC_HOST
    assert ["User-Agent", UA] in css["request"] and not any(k.lower() == "cookie" for k, _ in css["request"])
    hops = [e for e in cap["exchanges"] if "/ok?" in e["url"]]
    assert [e["status"] for e in hops] == [302, 302]  # both redirect hops are kept too


def test_the_page_itself_is_fetched_once(rendered: dict[str, Any], web: Web) -> None:
    assert web.hits.paths(PUBLIC_HOST).count("/attack") == 1  # the browser was served the capture
    page = [r for r in records_of(rendered, "attack") if r["url"].endswith("/attack")]
    assert [r["reason"] for r in page] == ["fetched: status 200"]


def test_robots_disallowed_subresources_are_not_fetched(rendered: dict[str, Any], web: Web) -> None:
    paths = web.hits.paths(ROBOTS_HOST)
    assert "/robots-page" in paths and "/open.png" in paths and "/open-api" in paths
    assert [p for p in paths if p.startswith("/private/")] == []
    refused = {r["url"].rsplit("/", 1)[-1]: r["reason"] for r in records_of(rendered, "robots") if not r["allowed"]}
    for name, kind in (("secret.png", "image"), ("app.js", "script"), ("style.css", "stylesheet"),
                       ("frame.html", "document"), ("api", "fetch"), ("bg.png", "image")):
        assert refused.get(name) == f"robots.txt: disallowed (browser {kind})", refused


def test_dns_rebinding_is_refused_at_connect_time(rendered: dict[str, Any], web: Web) -> None:
    scen = rendered["scenarios"]["rebind"]
    assert scen["captures"][0]["status"] == 200
    assert any("rebind.test resolved at connect time to refused 127.0.0.1" in line for line in rendered["log"])
    refused = [r for r in scen["records"] if "rebind.test" in r["url"] and not r["allowed"]]
    assert refused and not any(r["allowed"] for r in scen["records"] if "rebind.test" in r["url"])
    assert web.tripwire.connections == []


# -- the render subprocess --------------------------------------------------------------------------

PY_TRIPWIRE: list[str] = []


def _install_hooks(spec: dict[str, Any]) -> None:
    """Test-only: 127.0.0.77 counts as public; no socket to a non-loopback address and no real DNS
    from Python; rebind.test answers 127.0.0.77 once, then 127.0.0.1; the browser's closed proxy
    port is replaced by the proxy tripwire's port."""
    import ipaddress

    from spiders import addresses, browser

    original = addresses.decide_address

    def decide_address(ip: Any, profile: str = "public") -> Any:
        if profile == "public" and str(ip) == PUBLIC_HOST:
            return addresses.ALLOWED
        return original(ip, profile)

    addresses.decide_address = decide_address  # type: ignore[assignment]

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
            PY_TRIPWIRE.append(f"connect {addr}")
            raise ConnectionRefusedError(f"tripwire: {addr}")
        return orig_connect(self, addr)

    def connect_ex(self: socket.socket, addr: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not loopback(addr):
            PY_TRIPWIRE.append(f"connect {addr}")
            return 111
        return orig_connect_ex(self, addr)

    lookups: dict[str, int] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        if name == "rebind.test":
            lookups[name] = lookups.get(name, 0) + 1
            return orig_gai(PUBLIC_HOST if lookups[name] == 1 else "127.0.0.1", port, *args, **kwargs)
        numeric = all(c in "0123456789abcdefxABCDEFX.:[]%" for c in name)
        if not (numeric or name in ("localhost", "")):
            PY_TRIPWIRE.append(f"getaddrinfo {name}")
            raise socket.gaierror(socket.EAI_NONAME, f"tripwire: {name}")
        return orig_gai(host, port, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

    class TripwireProxyPort:
        port = int(spec["proxy_port"])

        def close(self) -> None:
            pass

    browser.ClosedPort = TripwireProxyPort  # type: ignore[assignment,misc]


def _main(spec_text: str, out_path: str) -> None:
    import logging

    spec = json.loads(spec_text)
    _install_hooks(spec)
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import asyncio

    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.settings import Settings
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from spiders.browser import launch_options
    from spiders.capture import Capture
    from spiders.guard import guard_settings
    from spiders.pages import PagesSpider

    log: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.append(record.getMessage())

    logging.getLogger("spiders.guard").addHandler(ListHandler())

    class Sink:
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def record_request(self, url: str, method: str, allowed: bool, reason: str,
                           status: int | None = None) -> None:
            self.records.append({"url": url, "method": method, "allowed": allowed, "reason": reason,
                                 "status": status})

    class Context:
        render = True

        def __init__(self) -> None:
            self.captures: list[Capture] = []

        def is_captured(self, key: str) -> bool:
            return False

        def save_capture(self, capture: Capture) -> None:
            self.captures.append(capture)

    port = spec["port"]
    scenarios = {"attack": ("public", f"http://{PUBLIC_HOST}:{port}/attack"),
                 "robots": ("loopback", f"http://{ROBOTS_HOST}:{port}/robots-page"),
                 "rebind": ("public", f"http://{PUBLIC_HOST}:{port}/rebind"),
                 "workers": ("public", f"http://{PUBLIC_HOST}:{port}/workers")}
    idle_ms = {"workers": 5_000}  # see workers_page
    results: dict[str, Any] = {"scenarios": {}}
    error: list[str] = []

    async def crawl() -> None:
        for name, (profile, url) in scenarios.items():
            sink, ctx = Sink(), Context()
            settings = Settings()
            settings.setmodule("spiders.settings", priority="project")
            settings.setdict(guard_settings(profile, UA, [], [], sink,
                                            {"max_bytes": 2_000_000, "timeout_seconds": 60, "delay_seconds": 0,
                                             "concurrency_per_domain": 8, "max_redirects": 5},
                                            launch_options=launch_options()), priority="cmdline")
            settings.set("LOG_LEVEL", "ERROR", priority="cmdline")
            settings.set("RETRY_ENABLED", False, priority="cmdline")
            # a loaded machine: let the attack page make every one of its attempts before the shot
            settings.set("VETTING_BROWSER_IDLE_MS", idle_ms.get(name, 60_000), priority="cmdline")
            await AsyncCrawlerRunner(settings).crawl(PagesSpider, urls=[(url, "test")], context=ctx)
            results["scenarios"][name] = {
                "records": sink.records,
                "captures": [{"url": c.url, "status": c.status, "outcome": c.outcome,
                              "screenshot": len(c.screenshot or b""), "dom": c.rendered_dom or "",
                              "render_error": c.meta.get("render_error", ""),
                              "exchanges": [{"url": e.url, "status": e.status, "role": e.role, "ip": e.ip_address,
                                             "headers": e.response_headers, "body": e.body.hex(),
                                             "request": e.request_headers} for e in c.exchanges],
                              "received": {"ip": c.received.ip_address, "headers": c.received.response_headers}
                              if c.received else None}
                             for c in ctx.captures]}

    def start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(crawl()))

        def done(result: Any) -> None:
            if hasattr(result, "getTraceback"):
                error.append(result.getTraceback())
            reactor.stop()  # type: ignore[attr-defined]

        d.addBoth(done)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    results["python_tripwire"] = PY_TRIPWIRE
    results["log"] = log
    Path(out_path).write_text(json.dumps(results))
    if error:
        print(error[0], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])


def _browsers() -> list[str]:
    """The binary the renderer launches (the headless shell when installed) and the full
    Chromium: the flags must shut the network of either."""
    from spiders.browser import BrowserNotFound, find_chromium

    try:
        renderer = find_chromium()
    except BrowserNotFound:  # no browser at all: the module is skipped, not a collection error
        renderer = CHROMIUM
    return list(dict.fromkeys(b for b in (renderer, CHROMIUM) if Path(b).is_file())) or [CHROMIUM]


@pytest.mark.parametrize("binary", _browsers())
def test_the_browser_alone_has_no_working_network_path(web: Web, binary: str) -> None:
    """Chromium launched as the renderer launches it, with NO interception at all: every
    direct attempt (loopback included) fails closed and the tripwire hears nothing."""
    from playwright.sync_api import Error, sync_playwright

    from spiders.browser import LAUNCH_ARGS, ClosedPort, no_network_args

    closed = ClosedPort()
    urls = [f"http://127.0.0.1:{web.tport}/direct", f"http://localhost:{web.tport}/direct",
            f"http://{PUBLIC_HOST}:{web.port}/attack"]  # loopback only: a regression must not leave the machine
    if web.tport6:
        urls.append(f"http://[::1]:{web.tport6}/direct")
    failures = []
    hits_before = len(web.hits.items)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=binary, headless=True,
                                         args=[*LAUNCH_ARGS, *no_network_args(closed.port)])
            page = browser.new_page()
            for url in urls:
                with pytest.raises(Error) as err:
                    page.goto(url, timeout=15_000)
                failures.append(str(err.value).splitlines()[0])
            browser.close()
    finally:
        closed.close()
    assert len(failures) == len(urls) and all("net::ERR_" in f for f in failures), failures
    time.sleep(0.3)
    assert web.tripwire.connections == [] and web.proxy_tripwire.connections == []
    assert len(web.hits.items) == hits_before  # the "public" page's server heard nothing either
