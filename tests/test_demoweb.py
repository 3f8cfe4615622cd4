"""The bundled demo web: real HTTP over loopback, as the engine and the other tests see it."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import pytest

from vetting.demoweb import DemoWeb
from vetting.demoweb.gzipbomb import GzipBomb, crc32_combine, crc32_repeated
from vetting.demoweb.searchindex import IndexedPage, SearchIndex, parse_query

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def web() -> Any:
    with DemoWeb() as running:
        yield running


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, method: str = "GET", data: bytes | None = None, timeout: float = 5,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request; redirects are not followed, errors not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def hostile_conn(web: DemoWeb, timeout: float) -> http.client.HTTPConnection:
    """A raw connection to the hostile host, to read just part of a response."""
    parts = urlsplit(web.base_url("hostile"))
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def get_json(url: str) -> Any:
    status, _, body = fetch(url)
    assert status == 200, (url, status, body[:200])
    return json.loads(body)


def search(web: DemoWeb, query: str) -> dict[str, Any]:
    from urllib.parse import urlencode

    return get_json(f"{web.base_url('search')}/search?{urlencode({'q': query, 'format': 'json'})}")


# -- addresses, robots.txt, lifecycle -------------------------------------------------------------


def test_every_site_has_its_own_loopback_address_on_one_port(web: DemoWeb) -> None:
    hosts = [urlsplit(u) for u in web.placeholders.values()]
    assert len({h.hostname for h in hosts}) == len(hosts) >= 15
    assert {h.port for h in hosts} == {web.port}
    for h in hosts:
        assert re.fullmatch(r"127\.0\.0\.\d+", h.hostname or "")
    assert web.base_url("social") == f"http://127.0.0.11:{web.port}"
    with pytest.raises(KeyError):
        web.base_url("nonexistent")


def test_sites_listen_only_on_their_address(web: DemoWeb) -> None:
    # the same port on an unused loopback address and on 127.0.0.1 is closed
    for address in ("127.0.0.2", "127.0.0.1", "127.0.0.200"):
        with pytest.raises(OSError):
            socket.create_connection((address, web.port), timeout=1).close()
    for srv in web._servers.values():
        host, port = srv.server_address[:2]
        assert host.startswith("127.") and port == web.port


def test_every_site_serves_robots_txt(web: DemoWeb) -> None:
    for name, base in web.placeholders.items():
        status, headers, body = fetch(base + "/robots.txt")
        assert status == 200, name
        assert headers["Content-Type"].startswith("text/plain")
        assert body.startswith(b"User-agent: *"), name


def _robots(base: str) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(fetch(base + "/robots.txt")[2].decode().splitlines())
    return parser


def test_robots_rules_where_the_readme_says(web: DemoWeb) -> None:
    social = _robots(web.base_url("social"))
    assert not social.can_fetch("*", web.base_url("social") + "/private-area/export")
    assert not social.can_fetch("*", web.base_url("social") + "/search?q=x")
    assert social.can_fetch("*", web.base_url("social") + "/u/jhale_kc")
    assert not _robots(web.base_url("forum")).can_fetch("*", web.base_url("forum") + "/admin/queue")
    quiet = _robots(web.base_url("quiet"))
    assert not quiet.can_fetch("*", web.base_url("quiet") + "/people/cnavarro")
    assert _robots(web.base_url("search")).can_fetch("*", web.base_url("search") + "/search?q=a&format=json")


def test_start_stop_twice_and_fixed_port_restart() -> None:
    port = None
    for _ in range(2):
        with DemoWeb() as w:
            assert fetch(w.base_url("news") + "/")[0] == 200
            port = w.port
        assert not w.running
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.13", port), timeout=1).close()
    with DemoWeb(port=port) as again:  # the same port, straight after a stop
        assert again.port == port
        assert fetch(again.base_url("forum") + "/robots.txt")[0] == 200


def test_stop_ends_streaming_responses_promptly() -> None:
    w = DemoWeb().start()
    conn = hostile_conn(w, 5)
    conn.request("GET", "/never-ends")
    resp = conn.getresponse()
    assert resp.read(10)
    started = time.monotonic()
    w.stop()
    rest = resp.read()  # the server ends the chunked body once it stops
    assert time.monotonic() - started < 3
    assert rest.count(b".") < 10
    conn.close()


def test_no_output_on_stderr(web: DemoWeb, capfd: pytest.CaptureFixture[str]) -> None:
    fetch(web.base_url("social") + "/u/nobody-here")
    conn = hostile_conn(web, 5)
    conn.request("GET", "/huge")
    conn.getresponse().read(1000)
    conn.close()  # hang up mid-stream
    time.sleep(0.2)
    captured = capfd.readouterr()
    assert captured.err == ""


def test_main_serves_in_the_foreground_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vetting.demoweb"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("Ctrl-C") or not line:
                break
        social = next(ln.split()[1] for ln in lines if ln.strip().startswith("social"))
        assert fetch(social + "robots.txt")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert err == ""


# -- social: JS-rendered profiles, private account, login wall -------------------------------------


def test_profile_text_is_only_in_the_json_api(web: DemoWeb) -> None:
    base = web.base_url("social")
    status, _, shell = fetch(base + "/u/jhale_kc")
    assert status == 200
    html = shell.decode()
    profile = get_json(base + "/api/u/jhale_kc.json")
    assert profile["display_name"] == "Jordan Hale"
    for text in [profile["display_name"], profile["bio"], profile["location"]] + \
            [p["text"] for p in profile["posts"]]:
        assert text not in html
    assert 'data-handle="jhale_kc"' in html and "/api/u/" in html  # the script fetches the API
    assert any("120 mph" in p["text"] for p in profile["posts"])
    assert all(re.match(r"\d{4}-\d\d-\d\dT", p["date"]) for p in profile["posts"])
    assert any(p["image"] and p["image"]["alt"] for p in profile["posts"])
    # cross-links point at the running sites
    assert f"{web.base_url('pics')}/u/jhale_kc" in profile["links"]
    image = next(p["image"]["src"] for p in profile["posts"] if p["image"])
    status, headers, _ = fetch(image)
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"


def test_missing_and_private_profiles(web: DemoWeb) -> None:
    base = web.base_url("social")
    status, _, body = fetch(base + "/u/no_such_person_42")
    assert status == 404 and b"This account doesn't exist" in body
    assert fetch(base + "/api/u/no_such_person_42.json")[0] == 404
    status, _, body = fetch(base + "/u/riley.quiet")
    assert status == 200 and b"This account is private" in body
    assert b"PRIVATE_ACCOUNT_TEXT" not in body
    status, _, body = fetch(base + "/api/u/riley.quiet.json")
    assert status == 403 and b"PRIVATE_ACCOUNT_TEXT" not in body


def test_social_login_wall(web: DemoWeb) -> None:
    base = web.base_url("social")
    status, headers, _ = fetch(base + "/settings/privacy")
    assert status == 302 and headers["Location"].startswith(base + "/login")
    status, _, body = fetch(base + "/login")
    assert status == 200 and b'type="password"' in body
    assert fetch(base + "/login", "POST", b"user=x&password=y")[0] == 401


# -- forum and news -------------------------------------------------------------------------------


def test_forum_threads_and_members(web: DemoWeb) -> None:
    base = web.base_url("forum")
    status, _, body = fetch(base + "/t/101")
    text = body.decode()
    assert status == 200
    assert '<time datetime="2026-08-13T20:42:00-05:00">' in text
    assert 'href="/members/jhale_kc"' in text and "120 mph" in text
    status, _, body = fetch(base + "/members/jhale_kc")
    assert status == 200 and b"Member since" in body and web.base_url("social").encode() in body
    status, _, body = fetch(base + "/members/not_a_member")
    assert status == 404 and b"No member by that name" in body
    for path in ("/members/ghost_rider", "/members/"):
        status, headers, _ = fetch(base + path)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")


def test_news_articles_carry_author_and_dates(web: DemoWeb) -> None:
    base = web.base_url("news")
    status, _, body = fetch(base + "/articles/springfield-man-arrested-after-interstate-chase")
    text = body.decode()
    assert status == 200
    assert '<meta name="author" content="Leon Marsh">' in text
    assert '<meta property="article:published_time" content="2025-09-22T14:30:00-05:00">' in text
    assert '<time datetime="2025-09-22T14:30:00-05:00">' in text
    assert "Taylor Brooks, 58, of Springfield, Illinois" in text
    assert fetch(base + "/articles/no-such-article")[0] == 404


# -- search ---------------------------------------------------------------------------------------


def test_search_finds_a_candidate_by_name(web: DemoWeb) -> None:
    data = search(web, '"Taylor Brooks"')
    assert data["query"] == '"Taylor Brooks"'
    urls = [r["url"] for r in data["results"]]
    assert data["number_of_results"] == len(urls) >= 3
    assert f"{web.base_url('scribbles')}/blog/tbrooks-outdoors" in urls
    assert f"{web.base_url('news')}/articles/springfield-man-arrested-after-interstate-chase" in urls
    for r in data["results"]:
        assert set(r) >= {"url", "title", "content", "engine", "score", "category", "publishedDate"}
        assert "taylor brooks" in (r["title"] + r["content"]).lower()
    assert [r["score"] for r in data["results"]] == sorted((r["score"] for r in data["results"]), reverse=True)
    # the indexed URLs are served
    assert all(fetch(u)[0] == 200 for u in urls)


def test_search_matches_terms_phrases_and_emails(web: DemoWeb) -> None:
    hits = search(web, '"casey.navarro@mail.example"')["results"]
    assert [h["url"] for h in hits] == [f"{web.base_url('news')}/articles/independence-5k-raises-funds-for-animal-shelter"]
    assert "casey.navarro@mail.example" in hits[0]["content"]
    assert search(web, '"Brooks Taylor"')["number_of_results"] == 0  # phrase order matters
    assert search(web, "zzzunknownword")["number_of_results"] == 0
    with_city = {h["url"] for h in search(web, '"Taylor Brooks" Kansas City')["results"]}
    springfield = {h["url"] for h in search(web, '"Taylor Brooks" Springfield')["results"]}
    stranger = f"{web.base_url('news')}/articles/springfield-man-arrested-after-interstate-chase"
    assert springfield == {stranger} and stranger in with_city  # the stranger mentions Kansas City
    minus = {h["url"] for h in search(web, '"Taylor Brooks" -Springfield')["results"]}
    assert minus == with_city - {stranger}
    handle = search(web, '"jhale_kc"')["results"]
    assert len(handle) >= 4 and any("gamerz" not in h["url"] for h in handle)


def test_search_refuses_other_formats(web: DemoWeb) -> None:
    base = web.base_url("search")
    assert fetch(base + "/search?q=Jordan+Hale&format=html")[0] == 403
    assert fetch(base + "/search?q=Jordan+Hale")[0] == 403
    assert fetch(base + "/search?format=json")[0] == 400


def test_search_index_semantics_without_sockets() -> None:
    index = SearchIndex([IndexedPage("http://a/1", "Alpha", "Jordan Hale of Kansas City", None),
                         IndexedPage("http://a/2", "Beta", "Hale, Jordan; lives in Denver", None)])
    assert [h.page.url for h in index.search('"Jordan Hale"')] == ["http://a/1"]
    assert {h.page.url for h in index.search("Jordan Hale")} == {"http://a/1", "http://a/2"}
    assert [h.page.url for h in index.search("jordan -denver")] == ["http://a/1"]
    assert index.search("") == [] and index.search("-jordan") == []
    assert parse_query('"a.b@c.example" x')[0].verbatim


# -- placeholders, candidates, manifests ----------------------------------------------------------


def test_resolve_replaces_only_known_site_names(web: DemoWeb) -> None:
    text = "{social}/u/{account} {} {unknown} {forum}"
    assert web.resolve(text) == f"{web.base_url('social')}/u/{{account}} {{}} {{unknown}} {web.base_url('forum')}"


def test_candidates_resolve_and_load(web: DemoWeb, tmp_path: Path) -> None:
    from vetting.domain.candidates import load_candidate_file

    files = web.candidate_files()
    assert len(files) >= 4
    seen = {}
    for source in files:
        resolved = tmp_path / source.name
        resolved.write_text(web.resolve(source.read_text(encoding="utf-8")), encoding="utf-8")
        data_lines = [ln for ln in resolved.read_text().splitlines() if not ln.startswith("#")]
        names = "|".join(web.placeholders)
        assert not re.search(rf"\{{({names})\}}", "\n".join(data_lines))
        cand, _ = load_candidate_file(resolved)
        auth_file = source.parent / cand.authorization.file  # type: ignore[union-attr]
        assert auth_file.is_file() and cand.full_name in auth_file.read_text()
        for url in cand.profile_urls:
            if url.startswith(web.base_url("hostile")):
                continue  # riley-chen's hostile "homepage" links exist to be refused by the guard
            assert fetch(url)[0] == 200, url
        seen[cand.id] = cand
    assert {"jordan-hale", "casey-navarro", "taylor-brooks", "riley-chen"} <= set(seen)
    assert seen["taylor-brooks"].usernames == []


def test_wmn_manifest_resolves_and_covers_every_account_site(web: DemoWeb) -> None:
    raw = web.sites_manifest_path().read_text(encoding="utf-8")
    doc = json.loads(web.resolve(raw))
    assert set(doc) >= {"license", "authors", "categories", "sites"}
    hosts = {urlsplit(s["uri_check"]).netloc for s in doc["sites"]}
    account_sites = ["pics", "clips", "codehub", "gamerz", "tunes", "scribbles", "quiet",
                     "wildcard", "walled", "blocked"]
    for name in account_sites:
        assert urlsplit(web.base_url(name)).netloc in hosts, name
    for s in doc["sites"]:
        assert {"name", "uri_check", "e_code", "e_string", "m_code", "m_string", "known", "cat"} <= set(s)
        assert "{account}" in s["uri_check"] and s["cat"] in doc["categories"]
    assert sum(1 for s in doc["sites"] if s.get("post_body")) == 1
    assert any(s.get("protection") == ["captcha"] for s in doc["sites"])


def test_sherlock_manifest_resolves(web: DemoWeb) -> None:
    doc = json.loads(web.resolve(web.sherlock_manifest_path().read_text(encoding="utf-8")))
    kinds = {v["errorType"] for k, v in doc.items() if not k.startswith("$")}
    assert kinds == {"status_code", "message", "response_url"}
    for key, entry in doc.items():
        if not key.startswith("$"):
            assert "{}" in entry["url"] and entry["url"].startswith("http://127.")


def test_sherlock_entries_answer_as_their_error_type_says(web: DemoWeb) -> None:
    doc = json.loads(web.resolve(web.sherlock_manifest_path().read_text(encoding="utf-8")))
    random_name = "zz" + uuid.uuid4().hex[:12]
    for name, e in doc.items():
        if name.startswith("$") or name == "EveryName":
            continue
        check = e.get("urlProbe", e["url"])
        status, _, body = fetch(check.replace("{}", e["username_claimed"]))
        assert 200 <= status < 300, name
        status, headers, body = fetch(check.replace("{}", random_name))
        if e["errorType"] == "status_code":
            assert status >= 400, name
        elif e["errorType"] == "message":
            assert e["errorMsg"].encode() in body, name
        else:
            assert 300 <= status < 400 and headers["Location"] == e["errorUrl"], name
    status, _, _ = fetch(doc["EveryName"]["url"].replace("{}", random_name))
    assert status == 200  # the wildcard "claims" every name


def _check(web: DemoWeb, site: dict[str, Any], account: str) -> tuple[int, bytes]:
    url = web.resolve(site["uri_check"]).replace("{account}", account)
    if site.get("post_body"):
        status, _, body = fetch(url, "POST", site["post_body"].replace("{account}", account).encode(),
                                headers=site.get("headers"))
    else:
        status, _, body = fetch(url)
    return status, body


def test_account_sites_answer_like_the_manifest_says(web: DemoWeb) -> None:
    doc = json.loads(web.resolve(web.sites_manifest_path().read_text(encoding="utf-8")))
    special = {"EveryName", "InnerCircle", "InnerCircle API", "ShieldWall Social", "ShieldWall People Search"}
    random_name = "zz" + uuid.uuid4().hex[:12]
    for site in doc["sites"]:
        if site["name"] in special:
            continue
        for known in site["known"]:
            status, body = _check(web, site, known)
            assert status == site["e_code"] and site["e_string"].encode() in body, (site["name"], known)
        status, body = _check(web, site, random_name)
        assert status == site["m_code"] and site["m_string"].encode() in body, site["name"]
        assert site["e_string"].encode() not in body


def test_wildcard_walled_and_blocked_sites(web: DemoWeb) -> None:
    random_name = "zz" + uuid.uuid4().hex[:12]
    status, _, body = fetch(f"{web.base_url('wildcard')}/people/{random_name}")
    assert status == 200 and b"Profile of" in body  # "exists" for any name: a health check catches it
    walled = web.base_url("walled")
    status, headers, _ = fetch(f"{walled}/members/jhale_kc")
    assert status == 302 and headers["Location"].startswith(f"{walled}/login")
    assert b'type="password"' in fetch(f"{walled}/login")[2]
    status, headers, _ = fetch(f"{walled}/api/members/jhale_kc")
    assert status == 401 and "WWW-Authenticate" in headers
    for path in ("/profile/jhale_kc", "/search/people?name=jhale_kc", "/"):
        status, _, body = fetch(web.base_url("blocked") + path)
        assert status == 403 and b"Checking your browser" in body and b"CAPTCHA" in body
    status, _, body = fetch(f"{web.base_url('quiet')}/people/cnavarro")
    assert status == 200 and b"ROBOTS_DISALLOWED_TEXT" in body  # served; robots.txt says don't


# -- hostile ----------------------------------------------------------------------------------------


def test_hostile_redirects(web: DemoWeb) -> None:
    base = web.base_url("hostile")
    status, headers, _ = fetch(base + "/redirect-private")
    assert status == 302 and headers["Location"] == "http://10.0.0.5/"
    status, headers, _ = fetch(base + "/redirect-metadata")
    assert status == 302 and headers["Location"] == "http://169.254.169.254/latest/meta-data/"
    status, headers, _ = fetch(base + "/redirect-loop")
    assert status == 302 and headers["Location"] == base + "/redirect-loop/b"
    status, headers, _ = fetch(headers["Location"])
    assert status == 302 and headers["Location"] == base + "/redirect-loop"


def test_hostile_simple_cases(web: DemoWeb) -> None:
    base = web.base_url("hostile")
    status, headers, _ = fetch(base + "/post-only")
    assert status == 405 and headers["Allow"] == "POST"
    assert fetch(base + "/post-only", "POST", b"a=1")[0] == 200
    status, headers, _ = fetch(base + "/set-cookie")
    assert status == 200 and "demo_session=" in headers["Set-Cookie"]
    assert b'type="password"' in fetch(base + "/login-form")[2]
    body = fetch(base + "/scripts")[2]
    for marker in (b"<script>alert(", b"onerror=", b'href="javascript:', b'http-equiv="refresh"'):
        assert marker in body


def test_hostile_huge_and_gzip_bomb_are_streamed(web: DemoWeb) -> None:
    conn = hostile_conn(web, 5)
    conn.request("GET", "/huge")
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("Content-Length")) >= 50_000_000
    assert resp.read(100_000).startswith(b"<!doctype html>")
    conn.close()

    conn = hostile_conn(web, 5)
    conn.request("GET", "/gzip-bomb", headers={"Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
    assert 9_000_000 < int(resp.getheader("Content-Length")) < 12_000_000
    first = resp.read(50_000)
    conn.close()
    inflated = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(first, 5_000_000)
    assert len(inflated) == 5_000_000 and inflated.count(0) == len(inflated)


def test_hostile_slow_and_never_ending(web: DemoWeb) -> None:
    conn = hostile_conn(web, 0.5)
    conn.request("GET", "/slow")
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    conn = hostile_conn(web, 3)
    conn.request("GET", "/never-ends")
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked" and resp.getheader("Content-Length") is None
    started = time.monotonic()
    got = b""
    while time.monotonic() - started < 1.2:
        got += resp.read1(100)
    assert got.startswith(b"<!doctype html>") and got.count(b".") >= 1
    conn.close()


def test_gzip_bomb_is_a_valid_gzip_stream() -> None:
    small = GzipBomb(unit_size=1 << 16, units=37)
    data = b"".join(small.chunks())
    assert len(data) == small.compressed_size
    assert gzip.decompress(data) == bytes(small.inflated_size)  # CRC-32 and size trailer check out
    a, b = b"hello ", b"world" * 1000
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert crc32_repeated(zlib.crc32(b"xyz"), 3, 1001) == zlib.crc32(b"xyz" * 1001)


def test_streaming_threads_do_not_pile_up(web: DemoWeb) -> None:
    before = threading.active_count()
    for _ in range(3):
        conn = hostile_conn(web, 5)
        conn.request("GET", "/huge-chunked")
        conn.getresponse().read(10_000)
        conn.close()
    time.sleep(0.5)
    assert threading.active_count() <= before + 1


def test_readme_answer_key_names_every_site_and_candidate(web: DemoWeb) -> None:
    readme = (REPO / "vetting" / "demoweb" / "README.md").read_text(encoding="utf-8")
    for name in web.placeholders:
        assert f"`{name}`" in readme, name
    for source in web.candidate_files():
        assert f"`{source.stem}`" in readme, source.stem
    for path in ("/redirect-private", "/redirect-metadata", "/redirect-loop", "/huge", "/slow",
                 "/never-ends", "/gzip-bomb", "/scripts", "/post-only", "/set-cookie", "/login-form"):
        assert f"`{path}`" in readme, path
