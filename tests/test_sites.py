"""Site manifests: the project's format, WhatsMyName and Sherlock imports, hostile entries."""

from __future__ import annotations

import json

import pytest

from spiders.sites import ManifestError, parse_manifest, parse_manifest_problems

WMN_SITE = {"name": "Pics", "uri_check": "https://pics.example/u/{account}", "e_code": 200,
            "e_string": "profile-of", "m_code": 404, "m_string": "not found", "known": ["alice"], "cat": "images"}


def wmn(*sites: dict) -> bytes:
    return json.dumps({"license": ["CC BY-SA 4.0"], "authors": [], "categories": [], "sites": list(sites)}).encode()


@pytest.mark.parametrize("status,body,verdict", [
    (200, "<h1>profile-of alice</h1>", "exists"),
    (404, "user not found", "missing"),
    (200, "user not found", "indeterminate"),      # e_code matches but e_string absent
    (404, "profile-of alice", "indeterminate"),    # e_string present but wrong code
    (500, "oops", "indeterminate"),
])
def test_whatsmyname_semantics(status: int, body: str, verdict: str) -> None:
    (site,) = parse_manifest(wmn(WMN_SITE)).sites
    got, reason = site.verdict(status, body)
    assert got == verdict and f"status {status}" in reason


@pytest.mark.parametrize("entry,reason", [
    ({**WMN_SITE, "uri_check": "https://pics.example/u/alice"}, "no {account} placeholder"),
    ({**WMN_SITE, "uri_check": "file:///etc/passwd?{account}"}, "is not http(s)"),
    ({**WMN_SITE, "uri_check": "javascript:alert(1)//{account}"}, "is not http(s)"),
    ({k: v for k, v in WMN_SITE.items() if k != "e_string"}, "missing field 'e_string'"),
    ({**WMN_SITE, "e_code": 999}, "not an HTTP status"),
    ("not an object", "not an object"),
])
def test_hostile_entries_rejected_with_reason_others_kept(entry, reason) -> None:
    good = {**WMN_SITE, "name": "Good"}
    manifest = parse_manifest(wmn(good, entry))
    assert [s.name for s in manifest.sites] == ["Good"]
    assert len(manifest.rejected) == 1 and reason in manifest.rejected[0][1]


def test_post_body_and_protection_are_kept_but_marked() -> None:
    manifest = parse_manifest(wmn({**WMN_SITE, "name": "Poster", "post_body": "user={account}"},
                                  {**WMN_SITE, "name": "Guarded", "protection": ["captcha"]}))
    by_name = {s.name: s for s in manifest.sites}
    assert by_name["Poster"].method == "POST"       # refused at run time: GET and HEAD only
    assert by_name["Guarded"].protected


def test_sherlock_import() -> None:
    data = json.dumps({
        "$schema": "x",
        "Codey": {"url": "https://codey.example/{}", "urlMain": "https://codey.example", "errorType": "status_code",
                  "username_claimed": "blue"},
        "Chatty": {"url": "https://chatty.example/u/{}", "errorType": "message", "errorMsg": "No such user",
                   "username_claimed": "red"},
        "Broken": {"url": "https://broken.example/{}", "errorType": "telepathy"},
    }).encode()
    manifest = parse_manifest(data)
    sites = {s.name: s for s in manifest.sites}
    assert sites["Codey"].verdict(200, "")[0] == "exists" and sites["Codey"].verdict(404, "")[0] == "missing"
    assert sites["Chatty"].verdict(200, "No such user")[0] == "missing"
    assert sites["Chatty"].verdict(200, "red's page")[0] == "exists"
    assert manifest.rejected == [("Broken", "unknown errorType 'telepathy'")]


@pytest.mark.parametrize("data,message", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "unknown manifest format"),
])
def test_unusable_manifest(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_manifest(data)
    assert message in parse_manifest_problems(data)[0]


def test_roundtrip_own_format() -> None:
    manifest = parse_manifest(wmn(WMN_SITE))
    again = parse_manifest(json.dumps(manifest.to_json()).encode())
    assert again.sites == [s for s in manifest.sites]
