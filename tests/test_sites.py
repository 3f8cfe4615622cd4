"""Site manifests: the project's format, WhatsMyName and Sherlock imports, hostile entries."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

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


# -- issue 15: every rule kept, degenerate entries refused, hostile values never a traceback --------
@pytest.mark.parametrize("entry,reason", [
    ({**WMN_SITE, "valid": False}, "valid: false"),
    ({**WMN_SITE, "m_string": "", "m_code": 200}, "empty missing text"),
    ({**WMN_SITE, "m_string": "profile-of", "m_code": 200}, "the same rule for found and missing"),
    ({**WMN_SITE, "e_code": float("inf")}, "not an HTTP status"),
    ({**WMN_SITE, "e_code": 200.5}, "not an HTTP status"),
    ({**WMN_SITE, "e_code": True}, "not an HTTP status"),
    ({**WMN_SITE, "e_code": [200, "x"]}, "not an HTTP status"),
    ({**WMN_SITE, "e_string": ["a", 3]}, "texts expected"),
    ({**WMN_SITE, "uri_check": "https://pics.{account}.example/"}, "must be its first label"),
    ({**WMN_SITE, "uri_check": "https://user:pw@pics.example/{account}"}, "credentials"),
    ({**WMN_SITE, "uri_check": "https://bad_host!.example/{account}"}, "not a valid host name"),
    ({**WMN_SITE, "name": 5}, "name must be a text"),
    ({**WMN_SITE, "known": {"a": 1}}, ""),
])
def test_degenerate_and_hostile_wmn_entries_refused_with_reason(entry, reason) -> None:
    manifest = parse_manifest(json.dumps({"sites": [entry, {**WMN_SITE, "name": "Good"}]}, allow_nan=True).encode())
    names = [s.name for s in manifest.sites]
    assert "Good" in names
    if reason:
        assert len(manifest.rejected) == 1 and reason in manifest.rejected[0][1], manifest.rejected


def test_e_code_1e400_and_error_type_empty_list_are_refusals_not_tracebacks() -> None:
    wmn_text = wmn(WMN_SITE).replace(b'"e_code": 200', b'"e_code": 1e400')
    manifest = parse_manifest(wmn_text)
    assert manifest.sites == [] and "not an HTTP status" in manifest.rejected[0][1]
    sherlock = parse_manifest(json.dumps({"S": {"url": "https://s.example/{}", "errorType": []},
                                          "T": {"url": "https://t.example/{}", "errorType": [7]},
                                          "U": {"url": "https://u.example/{}", "errorType": ["message", "status_code"],
                                                "errorMsg": "x"}}).encode())
    assert dict(sherlock.rejected) == {"S": "errorType is empty", "T": "errorType must be a text or a list of texts",
                                       "U": "errorType combination ['message', 'status_code'] is not supported"}


def test_deep_nesting_is_a_clear_error() -> None:
    with pytest.raises(ManifestError, match="nested more than 40 levels deep"):
        parse_manifest(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(ManifestError, match="nested more than 40 levels deep"):
        parse_manifest(b'{"sites": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def test_every_message_of_a_list_is_kept() -> None:
    (site,) = parse_manifest(json.dumps({"M": {"url": "https://m.example/{}", "errorType": "message",
                                               "errorMsg": ["No such user", "Sorry, gone"]}}).encode()).sites
    assert site.verdict(200, "Sorry, gone")[0] == "missing"
    assert site.verdict(200, "No such user")[0] == "missing"
    assert site.verdict(200, "alice's page")[0] == "exists"
    again = parse_manifest(json.dumps({"format": "vetting-sites/1", "sites": [site.to_json()]}).encode()).sites[0]
    assert again == site


def test_redirect_rules_are_not_followed() -> None:
    manifest = parse_manifest(wmn({**WMN_SITE, "m_code": 302, "m_string": ""},
                                  {**WMN_SITE, "name": "Follow", "e_code": 301, "e_string": ""}))
    assert [s.follow_redirects for s in manifest.sites] == [False, False]
    assert manifest.sites[0].verdict(302, "")[0] == "missing"
    own = {"format": "vetting-sites/1", "sites": [{"name": "Bad", "check_url": "https://b.example/{account}",
                                                   "exists": {"status": [200]}, "missing": {"status": [302]}}]}
    assert "redirects are followed" in parse_manifest(json.dumps(own).encode()).rejected[0][1]
    (resp,) = parse_manifest(json.dumps({"R": {"url": "https://r.example/{}", "errorType": "response_url"}}).encode()).sites
    assert not resp.follow_redirects and resp.verdict(302, "")[0] == "missing" and resp.verdict(200, "")[0] == "exists"


def test_subdomain_sites_take_the_username_as_a_host_label() -> None:
    from spiders.sites import NotApplicable

    (site,) = parse_manifest(wmn({**WMN_SITE, "uri_check": "https://{account}.blog.example/?hl=en",
                                  "strip_bad_char": "."})).sites
    assert site.subdomain and site.url_for("Jo.Doe") == "https://jodoe.blog.example/?hl=en"
    for bad in ("-jo", "jo-", "a" * 64, "jo_doe", "jo doe", "jó"):
        with pytest.raises(NotApplicable, match="host name label"):
            site.url_for(bad)


def test_regex_check_and_url_encoding() -> None:
    from spiders.sites import NotApplicable

    (site,) = parse_manifest(json.dumps({"T": {"url": "https://t.example/{}", "errorType": "status_code",
                                               "regexCheck": "^[a-zA-Z0-9_]{1,15}$"}}).encode()).sites
    assert site.url_for("jo_doe") == "https://t.example/jo_doe"
    with pytest.raises(NotApplicable, match="username pattern"):
        site.url_for("jo.doe")
    (plain,) = parse_manifest(wmn(WMN_SITE)).sites
    assert plain.url_for("../admin?x=1#y") == "https://pics.example/u/..%2Fadmin%3Fx=1%23y"
    bad = parse_manifest(json.dumps({"B": {"url": "https://b.example/{}", "errorType": "status_code",
                                           "regexCheck": "(unclosed"}}).encode())
    assert "not a valid regular expression" in bad.rejected[0][1]


def test_random_hostile_documents_never_raise_anything_but_manifest_error() -> None:
    """A seeded generator of adversarial JSON values in every field: parse or refuse, nothing else."""
    import random

    rnd = random.Random(1015)
    atoms = [None, True, False, 0, -1, 200, 302, 1e400, -1e400, 1e308, 2**70, "", "{account}", "x" * 300,
             "https://{account}.x.example/", "https://x.example/{}", "\u0000", "(", [], {}, [[[[]]]], {"a": []},
             [200, 404], ["a", "b"], "status_code", "message", "response_url", ["message"]]

    def value(depth: int = 0):
        r = rnd.random()
        if depth > 3 or r < 0.6:
            return rnd.choice(atoms)
        if r < 0.8:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(list(WMN_SITE) + ["errorType", "errorMsg", "url", "regexCheck", "exists", "missing"]):
                value(depth + 1) for _ in range(rnd.randint(0, 4))}

    keys = list(WMN_SITE) + ["valid", "post_body", "protection", "headers", "strip_bad_char", "uri_pretty"]
    sherlock_keys = ["url", "urlProbe", "errorType", "errorMsg", "errorCode", "regexCheck", "username_claimed",
                     "request_method", "headers"]
    own_keys = ["name", "check_url", "profile_url", "exists", "missing", "known_account", "protection", "method",
                "follow_redirects", "username_pattern", "strip_chars", "requires"]
    for _ in range(1500):
        kind = rnd.random()
        if kind < 0.4:
            entry = dict(WMN_SITE)
            for k in rnd.sample(keys, rnd.randint(1, 4)):
                entry[k] = value()
            doc = {"sites": [entry, value()]}
        elif kind < 0.7:
            entry = {"url": "https://s.example/{}", "errorType": "status_code"}
            for k in rnd.sample(sherlock_keys, rnd.randint(1, 4)):
                entry[k] = value()
            doc = {"S": entry}
        else:
            entry = {"name": "O", "check_url": "https://o.example/{account}", "exists": {"status": [200]},
                     "missing": {"status": [404]}}
            for k in rnd.sample(own_keys, rnd.randint(1, 4)):
                entry[k] = value()
            doc = {"format": "vetting-sites/1", "sites": [entry]}
        try:
            manifest = parse_manifest(json.dumps(doc, allow_nan=True).encode())
        except ManifestError:
            continue
        for site in manifest.sites:  # a site that was accepted can be used
            try:
                site.url_for("alice")
            except ValueError:
                pass
            site.verdict(200, "text")
            json.dumps(site.to_json())


def test_a_frozen_manifest_is_parsed_once_per_process() -> None:
    """The same bytes give the same sites, parsed once (procedure checks and every step ask);
    each caller's lists are its own; bytes that cannot be parsed raise every time."""
    from spiders.sites import _parsed_once, frozen_manifest

    data = (REPO / "procedures" / "sites" / "whatsmyname.json").read_bytes()
    first = frozen_manifest(data)
    hits = _parsed_once.cache_info().hits
    second = frozen_manifest(bytes(bytearray(data)))  # equal bytes, another object
    assert _parsed_once.cache_info().hits == hits + 1
    assert second.sites == first.sites == parse_manifest(data).sites
    assert second.rejected == first.rejected and second.header == first.header
    first.sites.clear()
    first.header.clear()
    third = frozen_manifest(data)
    assert third.sites == second.sites and third.sites and third.header == second.header
    for _ in range(2):
        with pytest.raises(ManifestError):
            frozen_manifest(b"{not json")
