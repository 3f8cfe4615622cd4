"""The guard's decisions, middleware by middleware, without a crawler and without sockets.

A tripwire fixture makes any socket connect or DNS lookup fail the test, so the refusal of
private, link-local and metadata addresses is proved at decision level (DESIGN.md: tests
never send traffic anywhere but loopback).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import HtmlResponse, Request, Response
from scrapy_playwright.page import PageMethod

from spiders import guard
from spiders.addresses import Resolver
from spiders.guard import (
    GuardRefusal,
    LawfulGuardMiddleware,
    LawfulResponseMiddleware,
    LawfulWireMiddleware,
    domain_matches,
    exception_reason,
    guard_settings,
    record,
    robots_token,
)
from spiders.pagekind import PageKind

UA = "KCPD-Vetting/1.0 (+https://agency.example/vetting)"


@dataclass
class ListSink:
    records: list[tuple[str, str, bool, str, int | None]] = field(default_factory=list)

    def record_request(self, url: str, method: str, allowed: bool, reason: str,
                       status: int | None = None) -> None:
        self.records.append((url, method, allowed, reason, status))


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connect or name lookup in this test is a failure."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network touched: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", boom)
    monkeypatch.setattr(socket.socket, "connect_ex", boom)
    monkeypatch.setattr(socket, "getaddrinfo", boom)
    monkeypatch.setattr(socket, "gethostbyname", boom)


def fake_resolver(table: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(-2, "Name or service not known")
        return table[host]

    return Resolver(resolve)


PUBLIC_DNS = fake_resolver({
    "site.example": ["93.184.215.14"],
    "www.site.example": ["93.184.215.14"],
    "rebind.example": ["93.184.215.14", "169.254.169.254"],
    "intranet.example": ["10.1.2.3"],
    "v6private.example": ["fd12::1"],
})


def run(mw: LawfulGuardMiddleware, request: Request) -> str:
    """'' if allowed, else the refusal reason."""
    try:
        asyncio.run(mw.process_request(request))
    except GuardRefusal as exc:
        return exc.reason
    return ""


def make(profile: str = "public", sink: ListSink | None = None, **kw: Any) -> LawfulGuardMiddleware:
    return LawfulGuardMiddleware(profile=profile, user_agent=UA, sink=sink, resolver=PUBLIC_DNS, **kw)


# -- request-side rules --------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"url": "http://site.example/"}, ""),
    ({"url": "https://www.site.example/a?b=c"}, ""),
    ({"url": "http://site.example/", "method": "HEAD"}, ""),
    ({"url": "http://site.example/", "method": "POST"}, "method: POST not allowed"),
    ({"url": "http://site.example/", "method": "PUT"}, "method: PUT not allowed"),
    ({"url": "http://site.example/", "method": "DELETE"}, "method: DELETE not allowed"),
    ({"url": "http://site.example/", "method": "OPTIONS"}, "method: OPTIONS not allowed"),
    ({"url": "http://site.example/", "body": b"user=a&pass=b"}, "form: request body not allowed"),
    ({"url": "http://site.example/", "headers": {"Cookie": "sid=1"}}, "cookie: Cookie header not allowed"),
    ({"url": "http://site.example/", "headers": {"Authorization": "Basic eDp5"}},
     "credentials: Authorization header not allowed"),
    ({"url": "http://site.example/", "headers": {"Proxy-Authorization": "x"}},
     "credentials: Proxy-Authorization header not allowed"),
    ({"url": "http://site.example/", "cookies": {"sid": "1"}}, "cookie: cookies not allowed"),
    ({"url": "http://user:pw@site.example/"}, "credentials: user info in URL not allowed"),
    ({"url": "http://site.example/", "meta": {"proxy": "http://proxy.example:3128"}}, "proxy: not allowed"),
    ({"url": "http://site.example/", "headers": {"User-Agent": "Mozilla/5.0 (Windows NT 10.0)"}},
     "user-agent: differs"),
    ({"url": "http://site.example/", "meta": {"playwright": True,
                                              "playwright_page_methods": [PageMethod("fill", "#q", "x")]}},
     "browser: page action fill not allowed"),
    ({"url": "http://site.example/", "meta": {"playwright": True,
                                              "playwright_page_methods": [PageMethod("click", "button")]}},
     "browser: page action click not allowed"),
    ({"url": "http://site.example/", "meta": {"playwright": True, "playwright_page_methods": [
        PageMethod("wait_for_load_state", "networkidle"), PageMethod("screenshot", full_page=True)]}}, ""),
    ({"url": "http://site.example/login", "meta": {"redirect_urls": ["http://site.example/u/a"]}},
     "not public: login wall"),
    ({"url": "http://site.example/login"}, ""),  # asked for directly: fetched, then classified
    ({"url": "ftp://site.example/"}, "scheme: ftp not allowed"),
    ({"url": "file:///etc/passwd"}, "scheme: file not allowed"),
    ({"url": "http://intranet.example/"}, "address: 10.1.2.3 is private (resolved from intranet.example)"),
    ({"url": "http://rebind.example/"}, "address: 169.254.169.254 is metadata (resolved from rebind.example)"),
    ({"url": "http://v6private.example/"}, "address: fd12::1 is private"),
    ({"url": "http://nowhere.example/"}, "dns: nowhere.example did not resolve"),
])
def test_request_rules(kwargs: dict[str, Any], expected: str, tripwire: None) -> None:
    sink = ListSink()
    reason = run(make(sink=sink), Request(**kwargs))
    assert reason.startswith(expected) if expected else reason == ""
    if expected:
        assert sink.records == [(kwargs["url"], kwargs.get("method", "GET"), False, reason, None)]
    else:
        assert sink.records == []  # allowed attempts are recorded when their outcome is known


ENCODINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
             "localhost", "localhost.", "127.0.0.1.", "evil.example@127.0.0.1"]


@pytest.mark.parametrize("host", ENCODINGS)
def test_loopback_encodings_by_profile(host: str, tripwire: None) -> None:
    url = f"http://{host}:8080/x"
    public = run(make("public"), Request(url))
    assert public.startswith(("address: ", "credentials: ")) and ("loopback" in public or "@" in host)
    if "@" not in host:
        assert run(make("loopback"), Request(url)) == ""


@pytest.mark.parametrize("target", [
    "http://10.0.0.5/", "http://169.254.169.254/latest/meta-data/", "http://[fc00::1]/",
    "http://[::ffff:169.254.169.254]/", "http://0xa9fea9fe/", "http://172.16.0.1:8080/",
    "http://192.168.1.1/", "http://[fe80::1%25lo]/", "http://100.64.0.1/", "http://[fd00:ec2::254]/",
])
@pytest.mark.parametrize("profile", ["public", "loopback"])
def test_redirect_hop_into_refused_place_is_refused_without_a_socket(target: str, profile: str,
                                                                     tripwire: None) -> None:
    """A redirect hop is a new Request with redirect_urls; the guard refuses it by address."""
    sink = ListSink()
    hop = Request(target, meta={"redirect_urls": ["http://127.0.0.1:8000/go"], "redirect_times": 1})
    reason = run(make(profile, sink=sink), hop)
    assert reason.startswith("address: ")
    assert sink.records == [(target, "GET", False, reason, None)]


def test_user_agent_is_set_when_missing() -> None:
    request = Request("http://site.example/")
    assert run(make(), request) == ""
    assert request.headers[b"User-Agent"] == UA.encode()
    assert request.meta["_vetting_approved"] == request.url


def test_without_a_procedure_user_agent_a_request_needs_one() -> None:
    mw = LawfulGuardMiddleware(profile="public", user_agent="", resolver=PUBLIC_DNS)
    assert run(mw, Request("http://site.example/")).startswith("user-agent: none set")


@pytest.mark.parametrize(("allow", "deny", "url", "expected"), [
    ([], [], "http://site.example/", ""),
    ([], ["site.example"], "http://site.example/", "domain: denied"),
    ([], ["site.example"], "http://www.site.example/", "domain: denied"),
    ([], ["*.site.example"], "http://www.site.example/", "domain: denied"),
    (["site.example"], [], "http://www.site.example/", ""),
    (["other.example"], [], "http://site.example/", "domain: not in the allow list"),
    (["site.example"], ["www.site.example"], "http://www.site.example/", "domain: denied"),
])
def test_domain_lists(allow: list[str], deny: list[str], url: str, expected: str) -> None:
    mw = make(allow_domains=allow, deny_domains=deny)
    assert run(mw, Request(url)) == expected


@pytest.mark.parametrize(("host", "domains", "expected"), [
    ("example.com", ["example.com"], True),
    ("www.example.com", ["example.com"], True),
    ("a.b.example.com", [".example.com"], True),
    ("badexample.com", ["example.com"], False),
    ("example.com.evil.net", ["example.com"], False),
    ("EXAMPLE.COM.", ["example.com"], True),
    ("example.com", [], False),
])
def test_domain_matches(host: str, domains: list[str], expected: bool) -> None:
    assert domain_matches(host, domains) is expected


def test_unknown_profile_refuses(tripwire: None) -> None:
    assert run(make("anything"), Request("http://127.0.0.1/")).startswith("address: unknown network profile")


def test_names_are_resolved_off_the_event_loop() -> None:
    """The resolver runs in a worker thread, not on the loop that drives the reactor."""
    import threading

    seen: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        seen.append(threading.current_thread().name)
        return ["93.184.215.14"]

    mw = LawfulGuardMiddleware(user_agent=UA, resolver=Resolver(resolve))
    assert run(mw, Request("http://threaded.example/")) == ""
    assert seen and seen[0] != threading.main_thread().name


# -- the wire check ------------------------------------------------------------------------------

def test_wire_refuses_unapproved_and_tampered_requests() -> None:
    sink = ListSink()
    wire = LawfulWireMiddleware(user_agent=UA, sink=sink)
    with pytest.raises(GuardRefusal, match="not approved"):
        wire.process_request(Request("http://site.example/", headers={"User-Agent": UA}))
    approved = Request("http://site.example/")
    assert run(make(), approved) == ""
    assert wire.process_request(approved) is None
    changed = approved.replace(url="http://10.0.0.9/")
    changed.meta["_vetting_recorded"] = False
    with pytest.raises(GuardRefusal, match="not approved"):
        wire.process_request(changed)
    late_cookie = Request("http://site.example/")
    assert run(make(), late_cookie) == ""
    late_cookie.headers["Cookie"] = "added=by-a-later-middleware"
    with pytest.raises(GuardRefusal, match="Cookie/Authorization"):
        wire.process_request(late_cookie)
    late_ua = Request("http://site.example/")
    assert run(make(), late_ua) == ""
    late_ua.headers["User-Agent"] = "Mozilla/5.0"
    with pytest.raises(GuardRefusal, match="user-agent"):
        wire.process_request(late_ua)
    assert [r[2] for r in sink.records] == [False, False, False, False]


@pytest.mark.parametrize(("exc", "expected"), [
    (DownloadTimeoutError("Getting http://x/ took longer than 2.0 seconds."), "timeout"),
    (DownloadCancelledError("Expected to receive 9000 bytes which is larger than download max size (100)"),
     "size: over 100 bytes"),
    (CannotResolveHostError("x.example"), "dns: lookup failed"),
    (DownloadConnectionRefusedError("refused"), "connection refused"),
    (IgnoreRequest("max redirections reached"), "redirects: over the limit"),
    (GuardRefusal("robots.txt: disallowed"), "robots.txt: disallowed"),
    (OSError("[('SSL routines', '', 'certificate verify failed')]"), "tls: certificate verify failed"),
    (ValueError("weird"), "error: ValueError: weird"),
    (ConnectionError("lost https://tls.example/certificate"), "error: ConnectionError"),  # a URL is not a TLS error
    (OSError("[('SSL routines', '', 'tlsv1 alert unknown ca')]"), "tls: handshake failed"),
])
def test_exception_reasons(exc: Exception, expected: str) -> None:
    request = Request("http://site.example/", meta={"download_maxsize": 100})
    assert exception_reason(exc, request).startswith(expected)


def test_wire_records_download_errors_once() -> None:
    sink = ListSink()
    wire = LawfulWireMiddleware(user_agent=UA, sink=sink, max_bytes=100)
    request = Request("http://site.example/")
    request.meta["_vetting_recorded"] = False
    wire.process_exception(request, DownloadTimeoutError("took longer than 1 seconds"))
    wire.process_exception(request, DownloadTimeoutError("took longer than 1 seconds"))
    assert sink.records == [("http://site.example/", "GET", False, "timeout", None)]


# -- responses -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "body", "allowed", "reason"), [
    (200, b"<html><body>hello</body></html>", True, "fetched: status 200"),
    (404, b"nope", True, "fetched: status 404"),
    (401, b"", False, "not public: login wall"),
    (503, b"<title>Just a moment...</title> checking your browser", False, "blocked: challenge page"),
    (429, b"slow down", False, "blocked: rate limited"),
    (200, b"<title>Sign in</title><form><input type=password></form>", False, "not public: login wall"),
])
def test_response_classification_is_flagged_and_recorded(status: int, body: bytes, allowed: bool,
                                                         reason: str) -> None:
    sink = ListSink()
    mw = LawfulResponseMiddleware(sink=sink)
    request = Request("http://site.example/p")
    request.meta["_vetting_recorded"] = False
    response = HtmlResponse("http://site.example/p", status=status, body=body, request=request)
    out = mw.process_response(request, response)
    assert out is response
    kind = response.meta["vetting_page_kind"]
    assert isinstance(kind, PageKind)
    assert sink.records == [("http://site.example/p", "GET", allowed, reason, status)]
    assert request.meta.get("dont_retry", False) is (not allowed)


def test_record_is_once_per_attempt() -> None:
    sink = ListSink()
    request = Request("http://site.example/")
    request.meta["_vetting_recorded"] = False
    record(sink, request, True, "fetched: status 200", 200)
    record(sink, request, False, "timeout")
    assert len(sink.records) == 1


def test_a_failing_sink_is_not_swallowed() -> None:
    class Broken:
        def record_request(self, *a: Any, **k: Any) -> None:
            raise RuntimeError("audit store down")

    with pytest.raises(RuntimeError):
        run(make(sink=Broken()), Request("http://10.0.0.1/"))  # type: ignore[arg-type]


# -- browser requests: the gate's own refusals (the fetcher's are the guard's, tested above) ----

@dataclass
class FakeFrame:
    parent_frame: Any = None


@dataclass
class FakePlaywrightRequest:
    url: str
    method: str = "GET"
    resource_type: str = "image"
    navigation: bool = False
    headers: dict[str, str] = field(default_factory=lambda: {"accept": "*/*", "cookie": "sid=1"})
    frame: FakeFrame = field(default_factory=FakeFrame)

    def is_navigation_request(self) -> bool:
        return self.navigation


@dataclass
class FakeRoute:
    request: FakePlaywrightRequest
    outcome: list[Any] = field(default_factory=list)

    async def abort(self, code: str = "") -> None:
        self.outcome.append(("abort", code))

    async def fulfill(self, **kw: Any) -> None:
        self.outcome.append(("fulfill", kw))

    async def continue_(self) -> None:
        self.outcome.append(("continue",))


DOC = guard.browser.Document("http://site.example/page", 200, [("Content-Type", "text/html"),
                                                              ("Content-Encoding", "gzip")], b"<p>hi</p>")


@pytest.mark.parametrize(("req", "outcome", "reason"), [
    (FakePlaywrightRequest("http://site.example/api", "POST", "fetch"), "abort", "method: POST not allowed"),
    (FakePlaywrightRequest("http://site.example/b", "POST", "ping"), "abort", "method: POST not allowed"),
    (FakePlaywrightRequest("http://site.example/es", "GET", "eventsource"), "abort", "browser: eventsource not allowed"),
    (FakePlaywrightRequest("http://site.example/other", "GET", "document", navigation=True), "abort",
     "browser: navigation away from the captured page not followed"),
    (FakePlaywrightRequest("data:image/png;base64,AAAA"), "continue", None),
])
def test_browser_gate_refuses_before_fetching(req: FakePlaywrightRequest, outcome: str, reason: str | None) -> None:
    sink = ListSink()

    async def never(request: Request) -> Any:
        raise AssertionError(f"fetched {request.url}")

    gate = guard.BrowserGate(never, sink, DOC)
    if req.navigation:  # the first main-frame navigation is the captured page itself
        asyncio.run(gate.handle(FakeRoute(FakePlaywrightRequest(DOC.url, "GET", "document", navigation=True))))
    route = FakeRoute(req)
    asyncio.run(gate.handle(route))
    assert route.outcome[0][0] == outcome
    if reason is None:
        assert sink.records == []
    else:
        assert sink.records == [(req.url, req.method, False, reason, None)] and gate.refused == 1


def test_browser_gate_serves_the_captured_document_once_and_fetches_the_rest_through_the_fetcher() -> None:
    from scrapy.http import HtmlResponse

    sink = ListSink()
    fetched: list[Request] = []

    async def fetch(request: Request) -> Any:
        fetched.append(request)
        return HtmlResponse(request.url, status=200, body=b"img", request=request,
                            headers={"Content-Type": "image/png", "Set-Cookie": "a=1"})

    gate = guard.BrowserGate(fetch, sink, DOC)
    page = FakeRoute(FakePlaywrightRequest(DOC.url, "GET", "document", navigation=True))
    image = FakeRoute(FakePlaywrightRequest("http://site.example/i.png"))
    asyncio.run(gate.handle(page))
    asyncio.run(gate.handle(image))
    kind, kw = page.outcome[0]
    assert kind == "fulfill" and kw["body"] == DOC.body and "content-encoding" not in kw["headers"]
    assert [r.url for r in fetched] == ["http://site.example/i.png"]  # the document was not fetched again
    assert b"Cookie" not in fetched[0].headers and fetched[0].meta["vetting_browser"] == "image"
    kind, kw = image.outcome[0]
    assert kind == "fulfill" and kw["body"] == b"img" and "set-cookie" not in kw["headers"]
    assert [e.url for e in gate.exchanges] == ["http://site.example/i.png"] and gate.allowed == 1


# -- settings ------------------------------------------------------------------------------------

def test_guard_settings() -> None:
    sink = ListSink()
    s = guard_settings("public", UA, ["site.example"], ["bad.example"], sink,
                       {"max_bytes": 1000, "timeout_seconds": 5, "max_redirects": 3, "delay_seconds": 2,
                        "concurrency_per_domain": 1})
    assert s["USER_AGENT"] == UA and s["VETTING_REQUEST_SINK"].sink is sink
    # Scrapy deep-copies settings: the sink must survive that as the same object
    from scrapy.settings import Settings

    copied = Settings(s).copy()
    assert copied["VETTING_REQUEST_SINK"].sink is sink
    assert (s["DOWNLOAD_MAXSIZE"], s["DOWNLOAD_WARNSIZE"], s["DOWNLOAD_TIMEOUT"]) == (1000, 500, 5.0)
    assert (s["REDIRECT_MAX_TIMES"], s["DOWNLOAD_DELAY"], s["CONCURRENT_REQUESTS_PER_DOMAIN"]) == (3, 2.0, 1)
    assert s["COOKIES_ENABLED"] is False and s["ROBOTSTXT_OBEY"] is True
    assert s["ROBOTSTXT_USER_AGENT"] == "KCPD-Vetting"
    assert s["DOWNLOADER_CLIENTCONTEXTFACTORY"] == "spiders.guard.VerifyingContextFactory"
    mws = s["DOWNLOADER_MIDDLEWARES"]
    assert mws["spiders.guard.LawfulGuardMiddleware"] < mws["spiders.guard.LawfulRobotsTxtMiddleware"]
    assert mws["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None
    # response side: classification after decompression (590) and before retries (550)
    assert 550 < mws["spiders.guard.LawfulResponseMiddleware"] < 590
    assert mws["spiders.guard.LawfulWireMiddleware"] > 900
    with pytest.raises(ValueError):
        guard_settings("internal", UA, [], [], sink, {})
    with pytest.raises(ValueError):
        guard_settings("public", "  ", [], [], sink, {})


@pytest.mark.parametrize(("ua", "token"), [
    ("KCPD-Vetting/1.0 (+https://agency.example)", "KCPD-Vetting"),
    ("Agency_Bot", "Agency_Bot"),
    ("", ""),
])
def test_robots_token(ua: str, token: str) -> None:
    assert robots_token(ua) == token


def test_plain_response_passthrough_types() -> None:
    """Non-HTML responses are classified too (binary bodies are fine)."""
    mw = LawfulResponseMiddleware(sink=None)
    request = Request("http://site.example/a.png")
    response = Response("http://site.example/a.png", status=200, body=b"\x89PNG\r\n", request=request)
    assert mw.process_response(request, response) is response
    assert response.meta["vetting_page_kind"].public


# -- the connection's own resolution (DNS rebinding) ---------------------------------------------

class FakeTwistedResolver:
    def __init__(self, addresses: list[str]):
        self.addresses = addresses

    def resolveHostName(self, receiver: Any, host: str, port: int = 0, addressTypes: Any = None,
                        transportSemantics: str = "TCP") -> Any:
        from twisted.internet.address import IPv4Address, IPv6Address

        receiver.resolutionBegan(None)
        for a in self.addresses:
            receiver.addressResolved((IPv6Address if ":" in a else IPv4Address)("TCP", a, port))
        receiver.resolutionComplete()
        return receiver


@dataclass
class CollectingReceiver:
    addresses: list[str] = field(default_factory=list)
    complete: bool = False

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        self.complete = True


@pytest.mark.parametrize(("profile", "answers", "delivered"), [
    ("public", ["93.184.215.14"], ["93.184.215.14"]),
    ("public", ["93.184.215.14", "2606:4700::1"], ["93.184.215.14", "2606:4700::1"]),
    ("public", ["93.184.215.14", "169.254.169.254"], []),   # rebinding to metadata at connect time
    ("public", ["10.0.0.1"], []),
    ("public", ["127.0.0.1"], []),
    ("loopback", ["127.0.0.1", "::1"], ["127.0.0.1", "::1"]),
    ("loopback", ["127.0.0.1", "10.0.0.1"], []),
    (None, ["10.0.0.1"], ["10.0.0.1"]),                     # no crawl active: untouched
])
def test_connection_resolution_obeys_the_profile(profile: str | None, answers: list[str],
                                                 delivered: list[str]) -> None:
    resolver = guard.GuardedNameResolver(FakeTwistedResolver(answers))
    guard._ACTIVE.policy = guard.GuardPolicy(profile=profile) if profile else None
    try:
        receiver = CollectingReceiver()
        resolver.resolveHostName(receiver, "name.example", 80)
    finally:
        guard._ACTIVE.policy = None
    assert receiver.complete and receiver.addresses == delivered


def test_guarded_resolver_is_installed_once() -> None:
    class FakeReactor:
        def __init__(self) -> None:
            self.nameResolver: Any = FakeTwistedResolver([])
            self.installs = 0

        def installNameResolver(self, resolver: Any) -> Any:
            self.installs += 1
            old, self.nameResolver = self.nameResolver, resolver
            return old

    reactor = FakeReactor()
    assert guard.install_guarded_resolver(reactor) and guard.install_guarded_resolver(reactor)
    assert reactor.installs == 1 and isinstance(reactor.nameResolver, guard.GuardedNameResolver)


def test_guard_settings_put_the_browser_under_the_same_profile() -> None:
    launch = {"executable_path": "/usr/bin/chromium", "headless": True,
              "args": ["--no-sandbox", "--proxy-server=http://rotating.example:8080"], "proxy": {"server": "x"}}
    s = guard_settings("public", UA, ["site.example"], ["bad.example"], None, {}, launch_options=launch)
    options = s["VETTING_BROWSER_LAUNCH_OPTIONS"]
    assert "proxy" not in options and "--proxy-server=http://rotating.example:8080" not in options["args"]
    assert options["args"] == ["--no-sandbox", f"--user-agent={UA}"]
    assert launch["args"] == ["--no-sandbox", "--proxy-server=http://rotating.example:8080"]  # not mutated
    assert "VETTING_BROWSER_LAUNCH_OPTIONS" not in guard_settings("public", UA, [], [], None, {})


def test_the_browser_is_launched_with_no_network_of_its_own() -> None:
    from spiders.browser import ClosedPort, no_network_args

    port = ClosedPort()
    try:
        args = no_network_args(port.port)
        assert f"--proxy-server=http://127.0.0.1:{port.port}" in args
        assert "--proxy-bypass-list=<-loopback>" in args and "--host-resolver-rules=MAP * ~NOTFOUND" in args
        import socket

        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port.port))  # bound, never listening: refused
    finally:
        port.close()


@pytest.mark.parametrize(("meta", "size", "timeout"), [
    ({}, 1000, 5.0),
    ({"download_maxsize": 0}, 1000, 5.0),              # 0 = unlimited: not allowed
    ({"download_maxsize": 10**9}, 1000, 5.0),          # larger than the procedure's cap
    ({"download_maxsize": 500}, 500, 5.0),             # smaller is fine
    ({"download_maxsize": "big"}, 1000, 5.0),
    ({"download_timeout": 0}, 1000, 5.0),
    ({"download_timeout": 3600}, 1000, 5.0),
    ({"download_timeout": 1.5}, 1000, 1.5),
])
def test_a_request_cannot_raise_the_caps(meta: dict[str, Any], size: int, timeout: float) -> None:
    mw = LawfulGuardMiddleware(user_agent=UA, resolver=PUBLIC_DNS, max_bytes=1000, timeout=5.0)
    request = Request("http://site.example/", meta=dict(meta))
    assert run(mw, request) == ""
    assert (request.meta["download_maxsize"], request.meta["download_timeout"]) == (size, timeout)
