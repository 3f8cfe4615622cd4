"""Page classification: login walls and block pages are recognised, public pages are not flagged."""

from __future__ import annotations

import pytest
from scrapy.http import Headers

from spiders.pagekind import (
    CHALLENGE,
    FORBIDDEN,
    LOGIN_WALL,
    RATE_LIMITED,
    classify_page,
    is_login_url,
)

LOGIN_FORM = (b"<html><head><title>Log in to Friendly</title></head><body>"
              b"<form method=post action=/session><input name=user>"
              b"<input type=\"password\" name=pw></form></body></html>")
LONG_PUBLIC_WITH_SIDEBAR_LOGIN = (
    b"<html><head><title>Forum: fishing trip</title></head><body><main>"
    + b"<p>" + b"A long public post about a fishing trip with friends. " * 80 + b"</p></main>"
    b"<aside><form action=/session><input type='password' name=pw></form></aside></body></html>")
CF_CHALLENGE = (b"<html><head><title>Just a moment...</title></head><body>"
                b"<div id=\"cf-challenge-running\">Checking your browser before accessing</div>"
                b"<script src=\"/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1\"></script>"
                b"</body></html>")
RECAPTCHA_403 = b"<html><body><div class=\"g-recaptcha\" data-sitekey=\"x\"></div></body></html>"
PLAIN = b"<html><head><title>Alex's blog</title></head><body><p>Hello</p></body></html>"


@pytest.mark.parametrize(("status", "headers", "body", "url", "kind", "reason"), [
    # login walls
    (401, {"WWW-Authenticate": "Basic realm=x"}, b"", "http://s.example/private", "not public", LOGIN_WALL),
    (407, {}, b"", "http://s.example/", "not public", LOGIN_WALL),
    (302, {"Location": "/login?next=/u/alex"}, b"", "http://s.example/u/alex", "not public", LOGIN_WALL),
    (301, {"Location": "https://accounts.s.example/signin"}, b"", "http://s.example/u", "not public",
     LOGIN_WALL),
    (303, {"Location": "/users/sign_in"}, b"", "http://s.example/u", "not public", LOGIN_WALL),
    (302, {"Location": "/i/flow/login"}, b"", "http://s.example/u", "not public", LOGIN_WALL),
    (200, {}, LOGIN_FORM, "http://s.example/login", "not public", LOGIN_WALL),
    (200, {}, LOGIN_FORM, "http://s.example/u/alex", "not public", LOGIN_WALL),  # title says log in
    (403, {}, LOGIN_FORM, "http://s.example/members", "not public", LOGIN_WALL),
    (200, {}, b"<form><INPUT TYPE=PASSWORD name=p></form>", "http://s.example/x", "not public", LOGIN_WALL),
    # challenge and block pages
    (503, {"Server": "cloudflare"}, CF_CHALLENGE, "http://s.example/", "blocked", CHALLENGE),
    (403, {}, CF_CHALLENGE, "http://s.example/", "blocked", CHALLENGE),
    (200, {}, CF_CHALLENGE, "http://s.example/", "blocked", CHALLENGE),  # interstitial on 200
    (403, {}, RECAPTCHA_403, "http://s.example/", "blocked", CHALLENGE),
    (429, {}, b"<p>Please complete the CAPTCHA</p>", "http://s.example/", "blocked", CHALLENGE),
    (403, {"cf-mitigated": "challenge"}, b"", "http://s.example/", "blocked", CHALLENGE),
    (200, {"cf-mitigated": "challenge"}, b"", "http://s.example/", "blocked", CHALLENGE),
    (405, {"x-amzn-waf-action": "captcha"}, b"", "http://s.example/", "blocked", CHALLENGE),
    (403, {"X-DataDome": "protected"}, b"", "http://s.example/", "blocked", CHALLENGE),
    (503, {}, b"<h1>Attention Required!</h1>", "http://s.example/", "blocked", CHALLENGE),
    (429, {"Retry-After": "60"}, b"slow down", "http://s.example/", "blocked", RATE_LIMITED),
    (403, {}, b"<h1>Forbidden</h1>", "http://s.example/", "blocked", FORBIDDEN),
    # public
    (200, {}, PLAIN, "http://s.example/", "public", ""),
    (200, {}, LONG_PUBLIC_WITH_SIDEBAR_LOGIN, "http://forum.example/t/1", "public", ""),
    (200, {}, b"<p>we use recaptcha on our contact form</p>", "http://s.example/", "public", ""),
    (301, {"Location": "https://s.example/u/alex"}, b"", "http://s.example/u/alex", "public", ""),
    (404, {}, b"not found", "http://s.example/u/nobody", "public", ""),
    (503, {}, b"<h1>Service unavailable</h1>", "http://s.example/", "public", ""),
    (200, {}, b"", "http://s.example/", "public", ""),
    (200, {}, None, "http://s.example/", "public", ""),
])
def test_classify_page(status: int, headers: dict[str, str], body: bytes | None, url: str,
                       kind: str, reason: str) -> None:
    verdict = classify_page(status, headers, body, url)
    assert (verdict.kind, verdict.reason) == (kind, reason), verdict.detail
    assert verdict.public is (kind == "public")


def test_scrapy_headers_and_pair_lists_are_read() -> None:
    assert classify_page(302, Headers({"Location": "/login"}), b"", "http://s.example/a").reason == LOGIN_WALL
    assert classify_page(302, [(b"location", b"/login")], b"", "http://s.example/a").reason == LOGIN_WALL
    assert classify_page(302, [("Location", ["/signin"])], b"", "http://s.example/a").reason == LOGIN_WALL


def test_markers_beyond_the_scan_window_are_ignored() -> None:
    body = b"<p>" + b"x" * (600 * 1024) + b"checking your browser</p>"
    assert classify_page(200, {}, body, "http://s.example/").public


@pytest.mark.parametrize(("url", "expected"), [
    ("http://s.example/login", True),
    ("http://s.example/login/", True),
    ("http://s.example/login.php", True),
    ("http://s.example/accounts/login?next=/", True),
    ("http://s.example/signin", True),
    ("http://s.example/sign-in", True),
    ("http://s.example/session/new", True),
    ("http://s.example/oauth/authorize?client_id=1", True),
    ("http://s.example/index.php?action=login", True),
    ("http://s.example/u/alex", False),
    ("http://s.example/blog/login-tips-for-seniors", False),
    ("http://s.example/authors/alex", False),
    ("http://s.example/", False),
    ("not a url", False),
])
def test_is_login_url(url: str, expected: bool) -> None:
    assert is_login_url(url) is expected


@pytest.mark.parametrize(("body", "kind"), [
    (b"<html><body><h1>riley.quiet</h1><p>This account is private.</p></body></html>", "not public"),
    (b"<html><body><p>Only approved followers can see these posts.</p></body></html>", "not public"),
    # a long public page that merely talks about private accounts stays public
    (b"<html><body><p>" + b"How to tell when this account is private or public, a guide. " * 60 + b"</p></body></html>",
     "public"),
    (PLAIN, "public"),
])
def test_private_account_notice(body: bytes, kind: str) -> None:
    from spiders.pagekind import PRIVATE_ACCOUNT

    got = classify_page(200, Headers({}), body, "http://s.example/u/x")
    assert got.kind == kind
    if kind == "not public":
        assert got.reason == PRIVATE_ACCOUNT
