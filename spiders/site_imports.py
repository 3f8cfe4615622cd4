"""WhatsMyName and Sherlock manifests, converted entry by entry to :class:`spiders.sites.Site`.

Each converter keeps every rule of its format (a list of messages stays a list, a 3xx rule
is judged on the unfollowed redirect, a subdomain site keeps ``{account}`` in its host, a
``regexCheck`` becomes the site's username pattern) and raises ``ValueError`` with the reason
for an entry that cannot work (``valid: false``, an empty or unknown ``errorType``, a status
that is no HTTP status); :func:`spiders.sites.parse_entries` records that as the entry's
refusal, so no input ends in a traceback.
"""

from __future__ import annotations

from typing import Any

from spiders.sites import Rule, Site, status_codes, texts

#: Request headers a site may ask for that the guard never sends (no disguise, no session).
FORBIDDEN_HEADERS = {"cookie", "authorization", "user-agent", "host", "proxy-authorization"}
WMN_CAPTCHA_TAGS = {"captcha", "cloudflare", "cloudfront", "ddos-guard", "anubis", "multiple", "other"}


def _name(e: dict[str, Any]) -> str:
    name = e["name"]
    if not isinstance(name, str):
        raise ValueError("name must be a text")
    return name


def _url(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a text")
    return value


def _redirect_rule(*rules: Rule) -> bool:
    return any(300 <= code < 400 for rule in rules for code in rule.status)


def _forbidden_headers(headers: Any) -> list[str]:
    if headers is None:
        return []
    if not isinstance(headers, dict):
        raise ValueError("headers must be an object")
    return sorted(k for k in headers if str(k).lower() in FORBIDDEN_HEADERS)


# -- WhatsMyName -----------------------------------------------------------------------------
def wmn_header(doc: dict[str, Any]) -> dict[str, Any]:
    """The attribution and licence WhatsMyName's data carries (CC BY-SA 4.0: it must travel on)."""
    header: dict[str, Any] = {
        "source": "WhatsMyName (https://github.com/WebBreacher/WhatsMyName), wmn-data.json",
        "attribution": "Site checks from WhatsMyName by Micah Hoffman and contributors "
                       "(https://github.com/WebBreacher/WhatsMyName), converted to the vetting-sites/1 "
                       "format by `vet sites import`: each check's URL, statuses and texts are "
                       "WhatsMyName's; the requirements (post, captcha, bot-wall, custom-headers) "
                       "are derived from its post_body, protection and headers fields.",
        "license": "CC BY-SA 4.0", "license_url": "https://creativecommons.org/licenses/by-sa/4.0/",
    }
    lic = doc.get("license")
    if isinstance(lic, list) and all(isinstance(x, str) for x in lic):
        header["license_notice"] = " ".join(x.strip() for x in lic)
    authors = doc.get("authors")
    if isinstance(authors, list) and all(isinstance(x, str) for x in authors):
        header["authors"] = authors
    return header


def wmn_site(e: dict[str, Any]) -> Site:
    """WhatsMyName: exists = e_code AND e_string; missing = m_code AND m_string (empty: status only).

    WhatsMyName's own checker does not follow redirects, so a 3xx code is judged on the first
    response. ``post_body`` checks submit a form and are marked ``requires: post``; a
    ``protection`` of CAPTCHA or bot-wall kind, or headers the guard never sends (a Cookie, a
    disguised User-Agent), are marked too, and the site is recorded without a request.
    """
    if e.get("valid") is False:
        raise ValueError("marked valid: false in the manifest (its maintainers found the check broken)")
    uri = _url(e["uri_check"], "uri_check")
    known = e.get("known") or []
    if not isinstance(known, list):
        known = [known]
    exists = Rule(status_codes(e["e_code"]), tuple(t for t in texts(e["e_string"], "e_string") if t))
    missing = Rule(status_codes(e["m_code"]), tuple(t for t in texts(e["m_string"], "m_string") if t))
    protection = texts(e.get("protection") or [], "protection")
    requires: list[str] = []
    if e.get("post_body") is not None:
        requires.append("post")
    if set(protection) & {"captcha"}:
        requires.append("captcha")
    if set(protection) & (WMN_CAPTCHA_TAGS - {"captcha", "other"}):
        requires.append("bot-wall")
    if set(protection) & {"user-auth", "login", "auth"}:
        requires.append("login")
    if _forbidden_headers(e.get("headers")):
        requires.append("custom-headers")
    strip = e.get("strip_bad_char") or ""
    if not isinstance(strip, str):
        raise ValueError("strip_bad_char must be a text")
    return Site(
        name=_name(e), check_url=uri, profile_url=_url(e.get("uri_pretty") or uri, "uri_pretty"),
        exists=exists, missing=missing,
        known_account=str(known[0]) if known and isinstance(known[0], (str, int)) else None,
        category=str(e.get("cat", "")) if isinstance(e.get("cat", ""), str) else "",
        protection=protection,
        method="POST" if e.get("post_body") is not None else "GET",
        source_format="whatsmyname",
        follow_redirects=not _redirect_rule(exists, missing),
        strip_chars=strip, requires=tuple(requires),
    )


# -- Sherlock --------------------------------------------------------------------------------
def sherlock_site(e: dict[str, Any]) -> Site:
    """Sherlock: ``errorType`` status_code / message / response_url (or a list of them, all kept).

    * status_code: missing = ``errorCode`` (default: not 2xx), exists = 2xx;
    * message: missing = any of ``errorMsg`` in the body, exists = 2xx with none of them;
    * response_url: Sherlock does not follow the redirect; a 2xx is found, a 3xx missing.

    Several types at once would need "missing if any one says so", which two AND-rules cannot
    express faithfully; no entry of Sherlock's data uses it, so such an entry is refused with
    the reason rather than checked with a weaker rule.
    """
    url = _url(e["url"], "url").replace("{}", "{account}")
    check = _url(e.get("urlProbe") or e["url"], "urlProbe").replace("{}", "{account}")
    kinds = e["errorType"]
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if not kinds:
        raise ValueError("errorType is empty")
    if not all(isinstance(k, str) for k in kinds):
        raise ValueError("errorType must be a text or a list of texts")
    known = {"status_code", "message", "response_url"}
    for kind in kinds:
        if kind not in known:
            raise ValueError(f"unknown errorType {kind!r}")
    kinds = sorted(set(kinds))
    success = tuple(range(200, 300))
    follow = True
    if kinds == ["status_code"]:
        codes = status_codes(e.get("errorCode"))
        # Sherlock: an errorCode is missing even inside 2xx (a 204), and found is 2xx otherwise.
        exists = Rule(tuple(c for c in success if c not in codes))
        missing = Rule(codes or tuple(range(400, 600)))  # redirects are followed
    elif kinds == ["message"]:
        msgs = texts(e["errorMsg"], "errorMsg")
        exists, missing = Rule(success, (), msgs), Rule((), msgs)
    elif kinds == ["response_url"]:
        follow = False
        exists, missing = Rule(success), Rule(tuple(range(300, 400)))
    else:
        raise ValueError(f"errorType combination {kinds!r} is not supported")
    method = e.get("request_method") or "GET"
    if not isinstance(method, str):
        raise ValueError("request_method must be a text")
    requires = []
    if method.upper() not in ("GET", "HEAD") or e.get("request_payload") is not None:
        requires.append("post")
    if _forbidden_headers(e.get("headers")):
        requires.append("custom-headers")
    pattern = e.get("regexCheck")
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError("regexCheck must be a text")
    claimed = e.get("username_claimed")
    return Site(
        name=_name(e), check_url=check, profile_url=url, exists=exists, missing=missing,
        known_account=claimed if isinstance(claimed, str) and claimed else None, category="",
        protection=(), method=method.upper(), source_format="sherlock", follow_redirects=follow,
        username_pattern=pattern, requires=tuple(requires),
    )
