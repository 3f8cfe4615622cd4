"""The guard inside the rendering browser: every request Chromium makes passes the Playwright hook.

A page served on loopback makes requests a plain fetch never would: an image on a denied host,
an image on a refused address, a script that POSTs, an image that redirects to a refused
address. Rendered through scrapy-playwright with the guard's settings, the Playwright hook must
abort each of them (recorded with its reason), the PAC script must stop the redirect hop the
hook never sees, while the page and its allowed image load. Leaks would show in the server's hit log: the denied host is a
second listener on 127.0.0.2, and 0.0.0.0 reaches the local listeners, so nothing here can
reach beyond this machine even if the hook failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("VETTING_CHROMIUM", "/usr/bin/chromium")
UA = "KCPD-Vetting/1.0 (+https://agency.example/vetting)"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium on this machine")


class Hits:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, str, str]] = []  # (host header, method, path)
        self.agents: dict[str, str] = {}  # path -> User-Agent

    def add(self, host: str, method: str, path: str, agent: str = "") -> None:
        with self.lock:
            self.items.append((host, method, path))
            self.agents[path] = agent

    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, _, p in self.items]


def page_html(port: int, prefix: str = "") -> bytes:
    return f"""<!doctype html><html><head><title>Profile</title></head><body>
<h1>Alex's public profile</h1>
<img src="/allowed.png" alt="allowed">
<img src="http://127.0.0.2:{port}/denied-domain.png" alt="denied">
<img src="http://0.0.0.0:{port}/unspecified.png" alt="unspecified">
<img src="/{prefix}redirect-img" alt="redirected">
<script>
  fetch("/api/post", {{method: "POST", body: "a=1"}}).catch(() => {{}});
  fetch("/api/get").catch(() => {{}});
</script>
</body></html>""".encode()


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[int, Hits]]:
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_POST(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            hits.add(self.headers.get("Host", ""), self.command, self.path, self.headers.get("User-Agent", ""))
            if self.path == "/robots.txt":
                return self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
            if self.path in ("/page", "/control/page"):
                prefix = "control/" if self.path.startswith("/control/") else ""
                return self._send(200, page_html(self.server.server_address[1], prefix), "text/html; charset=utf-8")
            if self.path.endswith("/redirect-img"):
                target = "control-redirected.png" if self.path.startswith("/control/") else "redirected.png"
                self.send_response(302)
                self.send_header("Location", f"http://0.0.0.0:{self.server.server_address[1]}/{target}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if self.path.endswith(".png"):
                return self._send(200, PNG, "image/png")
            if self.path.startswith("/api/"):
                return self._send(200, b"{}", "application/json")
            return self._send(404, b"", "text/plain")

    main = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = main.server_address[1]
    servers = [main]
    try:
        servers.append(ThreadingHTTPServer(("127.0.0.2", port), Handler))
    except OSError:
        pass
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield port, hits
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture(scope="module")
def rendered(site: tuple[int, Hits], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    port, _ = site
    out = tmp_path_factory.mktemp("browser") / "out.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, __file__, str(port), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    time.sleep(0.5)  # let late requests from the page land in the hit log
    return json.loads(out.read_text())


def test_page_renders_through_the_guard(rendered: dict[str, Any]) -> None:
    assert rendered["outcomes"] and rendered["outcomes"][0]["status"] == 200
    assert "Alex's public profile" in rendered["outcomes"][0]["text"]


@pytest.mark.parametrize(("url_part", "reason"), [
    ("127.0.0.2", "domain: denied"),
    ("0.0.0.0", "address: 0.0.0.0 is unspecified"),
    ("/api/post", "method: POST not allowed"),
])
def test_browser_requests_are_refused_and_recorded(rendered: dict[str, Any], url_part: str, reason: str) -> None:
    refused = [r for r in rendered["records"] if url_part in r["url"] and not r["allowed"]]
    assert refused and all(r["reason"].startswith(reason) for r in refused), rendered["records"]


def test_refused_browser_requests_never_reach_a_server(rendered: dict[str, Any], site: tuple[int, Hits]) -> None:
    paths = site[1].paths()
    assert "/denied-domain.png" not in paths
    assert "/unspecified.png" not in paths
    assert "/api/post" not in paths


def test_every_browser_request_carries_the_honest_user_agent(rendered: dict[str, Any],
                                                            site: tuple[int, Hits]) -> None:
    agents = site[1].agents
    assert {"/page", "/allowed.png", "/api/get", "/redirect-img"} <= set(agents)
    assert set(agents.values()) == {UA}  # every request that reached the server, robots.txt included


def test_the_page_itself_is_recorded_once_with_its_status(rendered: dict[str, Any]) -> None:
    page = [r for r in rendered["records"] if r["url"].endswith("/page")]
    assert page == [{"url": page[0]["url"], "method": "GET", "allowed": True, "reason": "fetched: status 200",
                     "status": 200}]


def test_allowed_browser_requests_are_recorded_and_served(rendered: dict[str, Any], site: tuple[int, Hits]) -> None:
    allowed = {r["url"].split("/", 3)[-1] for r in rendered["records"] if r["allowed"]
               and r["reason"] == "browser: subresource"}
    assert {"allowed.png", "api/get"} <= allowed, rendered["records"]
    assert "/allowed.png" in site[1].paths()


def test_redirects_the_browser_follows_by_itself_are_checked(rendered: dict[str, Any],
                                                            site: tuple[int, Hits]) -> None:
    """Playwright's routing sees only the first URL of a redirect chain; the guard's PAC script
    (browser_launch_args) is consulted by Chromium for every hop, so the hop to 0.0.0.0 fails."""
    paths = site[1].paths()
    assert "/redirect-img" in paths  # the first URL was allowed and fetched
    assert "/redirected.png" not in paths


def test_control_without_the_pac_the_browser_follows_the_redirect(rendered: dict[str, Any],
                                                                  site: tuple[int, Hits]) -> None:
    """Control for the test above (a crawl with the hook but without the PAC flags): the hop
    leaks, so the test above is not passing by accident. 0.0.0.0 only reaches this machine."""
    assert rendered["control_outcomes"] and rendered["control_outcomes"][0]["status"] == 200
    assert "/control-redirected.png" in site[1].paths()


# -- the render subprocess# -- the render subprocess --------------------------------------------------------------------------

def _main(port: int, out_path: str) -> None:
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import asyncio

    import scrapy
    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy_playwright.page import PageMethod
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from spiders.guard import guard_settings

    records: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []

    class Sink:
        def record_request(self, url: str, method: str, allowed: bool, reason: str,
                           status: int | None = None) -> None:
            records.append({"url": url, "method": method, "allowed": allowed, "reason": reason, "status": status})

    control_outcomes: list[dict[str, Any]] = []

    class RenderSpider(scrapy.Spider):
        name = "render"

        def __init__(self, path: str, into: list[dict[str, Any]], **kw: Any):
            super().__init__(**kw)
            self.path, self.into = path, into

        async def start(self) -> Any:
            yield scrapy.Request(f"http://127.0.0.1:{port}{self.path}", callback=self.parse, meta={
                "playwright": True,
                "playwright_page_methods": [PageMethod("wait_for_load_state", "networkidle")],
            })

        def parse(self, response: Any) -> None:
            self.into.append({"status": response.status, "text": response.text})

    launch = {"executable_path": CHROMIUM, "headless": True, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps",
        "--disable-extensions", "--disable-domain-reliability"]}

    def settings_for(with_pac: bool, sink: Any) -> dict[str, Any]:
        settings = guard_settings("loopback", UA, [], ["127.0.0.2"], sink,
                                  {"max_bytes": 2_000_000, "timeout_seconds": 30, "delay_seconds": 0},
                                  launch_options=launch if with_pac else None)
        settings.update({
            "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
            "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
            "DOWNLOAD_HANDLERS": {"http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
                                  "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"},
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        })
        if not with_pac:
            settings["PLAYWRIGHT_LAUNCH_OPTIONS"] = launch
        return settings

    error: list[str] = []

    class NullSink:
        def record_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    async def crawl() -> None:
        await AsyncCrawlerRunner(settings_for(True, Sink())).crawl(RenderSpider, path="/page", into=outcomes)
        await AsyncCrawlerRunner(settings_for(False, NullSink())).crawl(RenderSpider, path="/control/page",
                                                                        into=control_outcomes)

    def start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(crawl()))

        def done(result: Any) -> None:
            if hasattr(result, "getTraceback"):
                error.append(result.getTraceback())
            reactor.stop()  # type: ignore[attr-defined]

        d.addBoth(done)

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    Path(out_path).write_text(json.dumps({"records": records, "outcomes": outcomes,
                                          "control_outcomes": control_outcomes}))
    if error:
        print(error[0], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    _main(int(sys.argv[1]), sys.argv[2])
