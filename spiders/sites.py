"""Site manifests for account discovery: the project's format, read and checked.

A manifest is part of the procedure's fingerprint, so every candidate is checked against the
same site list. Every site gets a verdict for every username, negatives included, because the
negatives are part of the uniform record. Detection rules are explicit so a verdict can be
explained: ``exists`` needs BOTH the status and the marker of an existing account, ``missing``
needs both markers of a missing one, and anything else is ``indeterminate`` with the reason
(the WhatsMyName semantics, which are stricter than Sherlock's). WhatsMyName and Sherlock
files are converted by :mod:`spiders.site_imports`.

The project's format (``vetting-sites/1``)::

    {"format": "vetting-sites/1", "sites": [
      {"name": "Pics", "check_url": "https://pics.example/u/{account}",
       "profile_url": "https://pics.example/u/{account}",
       "exists": {"status": [200], "contains": "profile of"},
       "missing": {"status": [404], "contains": ["not found", "no such user"]},
       "known_account": "pics", "category": "social", "protection": [], "method": "GET",
       "follow_redirects": true, "username_pattern": "^[a-z0-9_]{1,30}$", "strip_chars": "",
       "requires": []}]}

* ``contains`` is one text or a list (any of them), ``not_contains`` likewise (none of them).
* ``follow_redirects: false``: the first response is judged as it is (a rule that names a
  3xx status can only hold on an unfollowed redirect). The guard still judges that response.
* ``{account}`` may be the first label of the host (``https://{account}.blog.example/``):
  then the username must be a valid host label (RFC 1123), otherwise ``not_applicable``.
* ``username_pattern`` (Sherlock's ``regexCheck``): a username it does not match cannot exist
  on the site, and is recorded ``not_applicable`` without a request.
* ``requires``: what the check needs that the lawful guard never does (``post``, ``login``,
  ``captcha``, ``bot-wall``, ``custom-headers``): such a site is recorded without a request.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

FORMAT = "vetting-sites/1"
PROTECTED_TAGS = {"user-auth", "captcha", "cloudflare", "login", "auth"}
#: What a check may need that the guard never does; a site requiring any is not requested.
REQUIREMENTS = ("post", "login", "captcha", "bot-wall", "custom-headers")
#: A site manifest's limits, enforced by :func:`load_json` (documented in docs/cli.md, "Limits").
#: Separate from ``vetting/domain/yamlsource.py``'s because ``spiders`` never imports ``vetting``;
#: larger in size (WhatsMyName's list is several MB) and as deep (real manifests nest 5 levels).
MAX_MANIFEST_BYTES = 20_000_000
MAX_MANIFEST_DEPTH = 40
#: Digits of one integer (a 64-bit one has at most 19; Python refuses to parse over 4,300).
MAX_MANIFEST_INT_DIGITS = 20
MAX_PATTERN_CHARS = 500
PLACEHOLDER = "{account}"
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")  # RFC 1123 section 2.1
_HOST_NAME = re.compile(r"^(?=.{1,253}$)((?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
#: Characters left as they are in a path or query; anything else in a username is %-encoded,
#: so a username can never add a path segment, a query or a fragment to the check URL.
_URL_SAFE = "@.-_~!$'()*+,;=:"


class NotApplicable(ValueError):
    """This username cannot exist on this site (its pattern, or not a host label)."""


@dataclass(frozen=True)
class Rule:
    """Both conditions must hold: a status in ``status`` (any if empty) and the body texts.

    ``contains``: at least one of these texts is in the body (none required if empty);
    ``not_contains``: none of these texts is in the body.
    """

    status: tuple[int, ...] = ()
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()

    def holds(self, status: int, body: str) -> bool:
        if self.status and status not in self.status:
            return False
        if self.contains and not any(text in body for text in self.contains):
            return False
        return not any(text in body for text in self.not_contains)

    @property
    def empty(self) -> bool:
        return not (self.status or self.contains or self.not_contains)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": list(self.status)}
        if self.contains:
            out["contains"] = self.contains[0] if len(self.contains) == 1 else list(self.contains)
        if self.not_contains:
            out["not_contains"] = self.not_contains[0] if len(self.not_contains) == 1 else list(self.not_contains)
        return out


@dataclass(frozen=True)
class Site:
    """One site of a manifest, normalized whatever format it came from."""

    name: str
    check_url: str
    profile_url: str
    exists: Rule
    missing: Rule
    known_account: str | None = None
    category: str = ""
    protection: tuple[str, ...] = ()
    method: str = "GET"
    source_format: str = FORMAT
    follow_redirects: bool = True
    username_pattern: str | None = None
    strip_chars: str = ""
    requires: tuple[str, ...] = ()

    @property
    def protected(self) -> bool:
        return bool(set(self.protection) & PROTECTED_TAGS)

    @property
    def subdomain(self) -> bool:
        """The username is a host label (``https://{account}.example.com``)."""
        return PLACEHOLDER in _authority(self.check_url)

    def account_for(self, username: str) -> str:
        """The username as the site holds it, or :class:`NotApplicable` with the reason."""
        account = "".join(c for c in username if c not in self.strip_chars) if self.strip_chars else username
        if not account:
            raise NotApplicable(f"username {username!r} is empty once {self.strip_chars!r} are stripped")
        if self.username_pattern is not None and _compiled(self.username_pattern).search(account) is None:
            raise NotApplicable(f"username {account!r} does not match the site's username pattern "
                                f"{self.username_pattern!r}")
        if self.subdomain and not _HOST_LABEL.match(account):
            raise NotApplicable(f"username {account!r} cannot be a host name label (RFC 1123: letters, "
                                "digits and inner hyphens, 1 to 63 characters)")
        return account

    def url_for(self, username: str, pretty: bool = False) -> str:
        """The check (or profile) URL for ``username``; :class:`NotApplicable` if it cannot exist."""
        account = self.account_for(username)
        return self.fill(account, pretty)

    def fill(self, account: str, pretty: bool = False) -> str:
        """The URL template filled with ``account`` (already checked), %-encoded in a path or query."""
        template = self.profile_url if pretty else self.check_url
        authority = _authority(template)
        value = account.lower() if PLACEHOLDER in authority else quote(account, safe=_URL_SAFE)
        return template.replace(PLACEHOLDER, value)

    def verdict(self, status: int, body: str) -> tuple[str, str]:
        """(``exists``|``missing``|``indeterminate``, reason) from a response."""
        exists = self.exists.holds(status, body)
        missing = self.missing.holds(status, body)
        if exists and not missing:
            return "exists", f"status {status} and the exists marker"
        if missing and not exists:
            return "missing", f"status {status} and the missing marker"
        if exists and missing:
            return "indeterminate", f"status {status} matches both the exists and the missing rule"
        return "indeterminate", f"status {status} matches neither the exists nor the missing rule"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "check_url": self.check_url, "profile_url": self.profile_url,
            "exists": self.exists.to_json(), "missing": self.missing.to_json(),
            "known_account": self.known_account, "category": self.category,
            "protection": list(self.protection), "method": self.method,
            "source_format": self.source_format,
        }
        # Defaults are left out so manifests written before these fields keep their bytes.
        if not self.follow_redirects:
            out["follow_redirects"] = False
        if self.username_pattern is not None:
            out["username_pattern"] = self.username_pattern
        if self.strip_chars:
            out["strip_chars"] = self.strip_chars
        if self.requires:
            out["requires"] = list(self.requires)
        return out


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


def _authority(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else ""
    return rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


@dataclass
class Manifest:
    """A parsed manifest: the usable sites, and the entries refused with their reasons."""

    sites: list[Site] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (entry name, reason)
    source_format: str = FORMAT
    header: dict[str, Any] = field(default_factory=dict)  # attribution, licence, source

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        out.update(self.header)
        out.update({"imported_from": self.source_format, "sites": [s.to_json() for s in self.sites],
                    "rejected": [{"name": n, "reason": r} for n, r in self.rejected]})
        return out


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (not JSON, unknown shape)."""


#: Keys of a vetting-sites/1 file kept as they are: who made the data and under which licence.
HEADER_KEYS = ("title", "source", "attribution", "license", "license_url", "license_notice", "authors",
               "notes")


def read_manifest_file(path: Any) -> bytes:
    """A manifest file's bytes, read up to the size limit (``/dev/zero`` or a huge file is refused
    after :data:`MAX_MANIFEST_BYTES`, never read to the end); ``OSError`` if it cannot be read."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"too large (over {MAX_MANIFEST_BYTES:,} bytes; at most {MAX_MANIFEST_BYTES:,})")
    return data


def load_json(data: bytes) -> Any:
    """JSON text to a document, or :class:`ManifestError` with one line on what is wrong.

    Bounded before parsing: at most :data:`MAX_MANIFEST_BYTES` bytes, brackets nested at most
    :data:`MAX_MANIFEST_DEPTH` deep (checked on the text, so a 200,000-deep file is refused
    without recursing), integers of at most :data:`MAX_MANIFEST_INT_DIGITS` digits. Non-finite
    numbers (``1e400``, ``NaN``) are left to each entry's checks, which refuse that entry.
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"too large ({len(data):,} bytes; at most {MAX_MANIFEST_BYTES:,})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if json_depth(text) > MAX_MANIFEST_DEPTH:
        raise ManifestError(f"nested more than {MAX_MANIFEST_DEPTH} levels deep")

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_MANIFEST_INT_DIGITS:
            raise ManifestError(f"number {digits[:20]}... has more than {MAX_MANIFEST_INT_DIGITS} digits")
        return int(digits)

    try:
        return json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # not reached after json_depth; kept so no input can ever give a traceback
        raise ManifestError(f"nested more than {MAX_MANIFEST_DEPTH} levels deep") from None


#: Escapes first, then strings, are removed before brackets are counted. In two passes, so
#: neither pattern can backtrack: one pattern for strings with escapes would rescan to the end
#: from every quote of an unterminated ``"\\"\\"\\"...`` (quadratic).
_JSON_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JSON_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deep the brackets of JSON ``text`` nest, outside strings (0 for a scalar).

    Linear, and in C (regular expressions, ``accumulate``): a 20 MB file of brackets takes
    under a second. Unbalanced or invalid text gives some depth, never an error (the parser refuses it).
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", _JSON_ESCAPE.sub("", text)))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


def parse_manifest(data: bytes) -> Manifest:
    """Parse any supported manifest format; per-site problems become ``rejected`` entries."""
    from spiders.site_imports import sherlock_site, wmn_header, wmn_site

    doc = load_json(data)
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        manifest = parse_entries(doc.get("sites"), own_site, FORMAT)
        manifest.header = {k: doc[k] for k in HEADER_KEYS if k in doc}
        return manifest
    if isinstance(doc, dict) and isinstance(doc.get("sites"), list):
        manifest = parse_entries(doc["sites"], wmn_site, "whatsmyname")
        manifest.header = wmn_header(doc)
        return manifest
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for k, v in doc.items()
                                             if not str(k).startswith("$")):
        entries = [dict(v, name=k) for k, v in doc.items() if not k.startswith("$")]
        return parse_entries(entries, sherlock_site, "sherlock")
    raise ManifestError("unknown manifest format: expected vetting-sites/1, WhatsMyName "
                        "wmn-data.json or Sherlock data.json")


@functools.lru_cache(maxsize=4)  # a process runs one or two procedures; each entry up to MAX_MANIFEST_BYTES
def _parsed_once(data: bytes) -> Manifest:
    return parse_manifest(data)


def frozen_manifest(data: bytes) -> Manifest:
    """:func:`parse_manifest` of a manifest's exact bytes, parsed once per process.

    A frozen manifest is checked when its procedure is loaded (three times per ``vet run``) and
    parsed again by each accounts and pages step: the shipped WhatsMyName list took 70 ms a
    time. The bytes are the key, so the same bytes always give the same manifest; each caller
    gets its own lists (the sites themselves are frozen). A manifest that cannot be parsed is
    not kept: it raises every time.
    """
    parsed = _parsed_once(bytes(data))
    return Manifest(sites=list(parsed.sites), rejected=list(parsed.rejected), source_format=parsed.source_format,
                    header=copy.deepcopy(parsed.header))


def parse_manifest_problems(data: bytes) -> list[str]:
    """Whole-manifest problems, for procedure validation (per-site rejections are recorded at run time)."""
    try:
        manifest = frozen_manifest(data)
    except ManifestError as exc:
        return [str(exc)]
    if not manifest.sites:
        return ["no usable site in the manifest"]
    return []


#: Anything a hostile entry can make a converter raise; each becomes that entry's refusal.
ENTRY_ERRORS = (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError, re.error,
                RecursionError)


def parse_entries(entries: Any, parse_one: Any, fmt: str) -> Manifest:
    if not isinstance(entries, list):
        raise ManifestError("'sites' must be a list")
    manifest = Manifest(source_format=fmt)
    names: set[str] = set()
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = name if isinstance(name, str) and name.strip() else f"entry {i}"
        if not isinstance(entry, dict):
            manifest.rejected.append((label, "not an object"))
            continue
        try:
            site = parse_one(entry)
            check_site(site)
        except ENTRY_ERRORS as exc:
            manifest.rejected.append((label, entry_reason(exc)))
            continue
        if site.name in names:
            manifest.rejected.append((label, "duplicate site name"))
            continue
        names.add(site.name)
        manifest.sites.append(site)
    return manifest


def entry_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    if isinstance(exc, re.error):
        return f"username pattern is not a valid regular expression: {exc}"
    if isinstance(exc, OverflowError):
        return "a number is out of range"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, (TypeError, AttributeError)) and not str(exc).startswith(("a ", "an ", "'")):
        return f"a field has the wrong type ({exc})"
    return str(exc)


def check_site(site: Site) -> None:
    """Refuse a site whose rules cannot work, with the reason."""
    if not site.name.strip():
        raise ValueError("empty site name")
    for url in (site.check_url, site.profile_url):
        _check_url(url)
    if PLACEHOLDER not in site.check_url and "post" not in site.requires:  # a POST body may carry it
        raise ValueError("check URL has no {account} placeholder")
    if site.exists.empty:
        raise ValueError("no rule for an existing account")
    if site.missing.empty:
        raise ValueError("no rule for a missing account")
    if site.exists == site.missing:
        raise ValueError("the same rule for found and missing: no response could tell them apart")
    if "" in site.exists.contains or "" in site.missing.contains:
        raise ValueError("an empty text in a rule matches every page")
    for rule, other, what in ((site.missing, site.exists, "missing"), (site.exists, site.missing, "found")):
        if rule.contains or rule.not_contains:
            continue
        overlap = not rule.status or not other.status or set(rule.status) & set(other.status)
        if overlap:
            raise ValueError(f"empty {what} text and a status the other rule also accepts: "
                             f"it matches every {'found' if what == 'missing' else 'missing'} page")
    if site.username_pattern is not None:
        if len(site.username_pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"username pattern longer than {MAX_PATTERN_CHARS} characters")
        _compiled(site.username_pattern)
    for req in site.requires:
        if req not in REQUIREMENTS:
            raise ValueError(f"unknown requirement {req!r} (known: {', '.join(REQUIREMENTS)})")
    if site.method not in ("GET", "HEAD", "POST"):
        raise ValueError(f"unknown method {site.method!r}")
    redirect_rule = any(300 <= s < 400 for s in site.exists.status + site.missing.status)
    if redirect_rule and site.follow_redirects:
        raise ValueError("a rule names a 3xx status but redirects are followed: it could never hold")


def _check_url(url: str) -> None:
    if not re.match(r"^https?://", url, re.I) or any(c.isspace() for c in url):
        raise ValueError(f"URL {url!r} is not http(s)")
    authority = _authority(url)
    if PLACEHOLDER in authority:
        if not authority.startswith(PLACEHOLDER + "."):
            raise ValueError(f"URL {url!r}: {{account}} in the host must be its first label")
        authority = "a" + authority[len(PLACEHOLDER):]
    host = authority.rsplit("@", 1)[-1]
    if "@" in authority:
        raise ValueError(f"URL {url!r} carries credentials")
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not host or "{" in host or "}" in host:
        raise ValueError(f"URL {url!r} has no usable host")
    try:
        urlsplit(url.replace(PLACEHOLDER, "a"))
    except ValueError as exc:
        raise ValueError(f"URL {url!r} is not a valid URL: {exc}") from None
    if not (host.startswith("[") or _HOST_NAME.match(host)):
        raise ValueError(f"URL {url!r}: host {host!r} is not a valid host name")


# -- the project's own format ----------------------------------------------------------------
def status_codes(value: Any) -> tuple[int, ...]:
    """A status or a list of statuses, each an integer HTTP status (100-599)."""
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"status {v!r} is not an HTTP status")
        try:
            number = float(v) if not isinstance(v, int) else v
            code = int(number)
        except (ValueError, OverflowError):
            raise ValueError(f"status {v!r} is not an HTTP status") from None
        if code != number or not 100 <= code <= 599:
            raise ValueError(f"status {v!r} is not an HTTP status")
        out.append(code)
    return tuple(out)


def texts(value: Any, what: str) -> tuple[str, ...]:
    """One text or a list of texts (every one kept)."""
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what}: texts expected")
    return tuple(values)


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise ValueError("a rule must be an object")
    return Rule(status_codes(raw.get("status")), texts(raw.get("contains"), "contains"),
                texts(raw.get("not_contains"), "not_contains"))


def _str(value: Any, what: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a text")
    return value


def own_site(e: dict[str, Any]) -> Site:
    check_url = _str(e["check_url"], "check_url")
    known = e.get("known_account")
    pattern = e.get("username_pattern")
    follow = e.get("follow_redirects", True)
    if not isinstance(follow, bool):
        raise ValueError("follow_redirects must be true or false")
    return Site(
        name=_str(e["name"], "name"), check_url=check_url,
        profile_url=_str(e.get("profile_url"), "profile_url") or check_url,
        exists=_rule(e["exists"]), missing=_rule(e.get("missing", {})),
        known_account=_str(known, "known_account") or None, category=_str(e.get("category"), "category"),
        protection=texts(e.get("protection") or [], "protection"),
        method=_str(e.get("method"), "method", "GET").upper(),
        source_format=_str(e.get("source_format"), "source_format", FORMAT),
        follow_redirects=follow, username_pattern=_str(pattern, "username_pattern") if pattern is not None else None,
        strip_chars=_str(e.get("strip_chars"), "strip_chars"),
        requires=_requires(texts(e.get("requires") or [], "requires"), e.get("method")),
    )


def _requires(listed: tuple[str, ...], method: Any) -> tuple[str, ...]:
    """A check by POST requires POST, whether or not the file said so."""
    if isinstance(method, str) and method.upper() == "POST" and "post" not in listed:
        return (*listed, "post")
    return listed
