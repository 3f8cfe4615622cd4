"""Site manifests for account discovery: the project's format, and imports of WhatsMyName and Sherlock.

A manifest is part of the procedure's fingerprint, so every candidate is checked against the
same site list. Every site gets a verdict for every username, negatives included, because the
negatives are part of the uniform record. Detection rules are explicit so a verdict can be
explained: ``exists`` needs BOTH the status and the marker of an existing account, ``missing``
needs both markers of a missing one, and anything else is ``indeterminate`` with the reason
(the WhatsMyName semantics, which are stricter than Sherlock's).

The project's format (``vetting-sites/1``)::

    {"format": "vetting-sites/1", "sites": [
      {"name": "Pics", "check_url": "https://pics.example/u/{account}",
       "profile_url": "https://pics.example/u/{account}",
       "exists": {"status": [200], "contains": "profile of"},
       "missing": {"status": [404], "contains": "not found"},
       "known_account": "pics", "category": "social", "protection": [], "method": "GET"}]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

FORMAT = "vetting-sites/1"
PROTECTED_TAGS = {"user-auth", "captcha", "cloudflare", "login", "auth"}
_SCHEME = re.compile(r"^https?://[^/\s{}]+", re.I)


@dataclass(frozen=True)
class Rule:
    """Both conditions must hold: a status in ``status`` (any if empty) and ``contains`` in the body."""

    status: tuple[int, ...] = ()
    contains: str | None = None
    not_contains: str | None = None

    def holds(self, status: int, body: str) -> bool:
        if self.status and status not in self.status:
            return False
        if self.contains is not None and self.contains not in body:
            return False
        return not (self.not_contains is not None and self.not_contains in body)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": list(self.status)}
        if self.contains is not None:
            out["contains"] = self.contains
        if self.not_contains is not None:
            out["not_contains"] = self.not_contains
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

    @property
    def protected(self) -> bool:
        return bool(set(self.protection) & PROTECTED_TAGS)

    def url_for(self, account: str, pretty: bool = False) -> str:
        template = self.profile_url if pretty else self.check_url
        return template.replace("{account}", account)

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
        return {
            "name": self.name, "check_url": self.check_url, "profile_url": self.profile_url,
            "exists": self.exists.to_json(), "missing": self.missing.to_json(),
            "known_account": self.known_account, "category": self.category,
            "protection": list(self.protection), "method": self.method,
            "source_format": self.source_format,
        }


@dataclass
class Manifest:
    """A parsed manifest: the usable sites, and the entries refused with their reasons."""

    sites: list[Site] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (entry name, reason)
    source_format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "imported_from": self.source_format,
                "sites": [s.to_json() for s in self.sites],
                "rejected": [{"name": n, "reason": r} for n, r in self.rejected]}


class ManifestError(ValueError):
    """The manifest as a whole cannot be used (not JSON, unknown shape)."""


def parse_manifest(data: bytes) -> Manifest:
    """Parse any supported manifest format; per-site problems become ``rejected`` entries."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(doc, dict) and doc.get("format") == FORMAT:
        return _parse_entries(doc.get("sites"), _own_site, FORMAT)
    if isinstance(doc, dict) and isinstance(doc.get("sites"), list):
        return _parse_entries(doc["sites"], _wmn_site, "whatsmyname")
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for k, v in doc.items()
                                             if not k.startswith("$")):
        entries = [dict(v, name=k) for k, v in doc.items() if not k.startswith("$")]
        return _parse_entries(entries, _sherlock_site, "sherlock")
    raise ManifestError("unknown manifest format: expected vetting-sites/1, WhatsMyName "
                        "wmn-data.json or Sherlock data.json")


def parse_manifest_problems(data: bytes) -> list[str]:
    """Whole-manifest problems, for procedure validation (per-site rejections are recorded at run time)."""
    try:
        manifest = parse_manifest(data)
    except ManifestError as exc:
        return [str(exc)]
    if not manifest.sites:
        return ["no usable site in the manifest"]
    return []


def _parse_entries(entries: Any, parse_one: Any, fmt: str) -> Manifest:
    if not isinstance(entries, list):
        raise ManifestError("'sites' must be a list")
    manifest = Manifest(source_format=fmt)
    names: set[str] = set()
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = str(name) if name else f"entry {i}"
        if not isinstance(entry, dict):
            manifest.rejected.append((label, "not an object"))
            continue
        try:
            site = parse_one(entry)
            _check_site(site)
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            manifest.rejected.append((label, reason))
            continue
        if site.name in names:
            manifest.rejected.append((label, "duplicate site name"))
            continue
        names.add(site.name)
        manifest.sites.append(site)
    return manifest


def _check_site(site: Site) -> None:
    if not site.name.strip():
        raise ValueError("empty site name")
    for url in (site.check_url, site.profile_url):
        if not _SCHEME.match(url):
            raise ValueError(f"URL {url!r} is not http(s)")
    if "{account}" not in site.check_url:
        raise ValueError("check URL has no {account} placeholder")
    if not (site.exists.status or site.exists.contains):
        raise ValueError("no rule for an existing account")


def _status(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    out = tuple(int(v) for v in values)
    if any(not 100 <= v <= 599 for v in out):
        raise ValueError(f"status {value!r} is not an HTTP status")
    return out


def _rule(raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise ValueError("a rule must be an object")
    return Rule(_status(raw.get("status")), raw.get("contains"), raw.get("not_contains"))


def _own_site(e: dict[str, Any]) -> Site:
    return Site(
        name=str(e["name"]), check_url=str(e["check_url"]),
        profile_url=str(e.get("profile_url") or e["check_url"]),
        exists=_rule(e["exists"]), missing=_rule(e.get("missing", {})),
        known_account=e.get("known_account"), category=str(e.get("category", "")),
        protection=tuple(e.get("protection") or ()), method=str(e.get("method", "GET")).upper(),
        source_format=str(e.get("source_format", FORMAT)),
    )


def _wmn_site(e: dict[str, Any]) -> Site:
    """WhatsMyName: exists = e_code AND e_string; missing = m_code AND m_string."""
    uri = str(e["uri_check"])
    known = e.get("known") or []
    return Site(
        name=str(e["name"]), check_url=uri, profile_url=str(e.get("uri_pretty") or uri),
        exists=Rule(_status(e["e_code"]), str(e["e_string"])),
        missing=Rule(_status(e["m_code"]), str(e["m_string"])),
        known_account=str(known[0]) if known else None, category=str(e.get("cat", "")),
        protection=tuple(e.get("protection") or ()),
        # WhatsMyName's post_body checks submit a form: recorded, then refused at run time.
        method="POST" if e.get("post_body") else "GET",
        source_format="whatsmyname",
    )


def _sherlock_site(e: dict[str, Any]) -> Site:
    """Sherlock: errorType status_code / message / response_url, url with ``{}``."""
    url = str(e["url"]).replace("{}", "{account}")
    check = str(e.get("urlProbe", url)).replace("{}", "{account}")
    kind = e["errorType"]
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "status_code":
        codes = e.get("errorCode")
        missing = Rule(_status(codes) if codes else tuple(range(400, 600)))
        exists = Rule(tuple(range(200, 300)))
    elif kind == "message":
        msg = e["errorMsg"]
        msg = msg[0] if isinstance(msg, list) else msg
        missing, exists = Rule((), str(msg)), Rule(tuple(range(200, 300)), None, str(msg))
    elif kind == "response_url":
        # Sherlock follows no redirect here: a 3xx to errorUrl means missing.
        missing, exists = Rule(tuple(range(300, 400))), Rule(tuple(range(200, 300)))
    else:
        raise ValueError(f"unknown errorType {kind!r}")
    return Site(
        name=str(e["name"]), check_url=check, profile_url=url, exists=exists, missing=missing,
        known_account=e.get("username_claimed"), category="",
        protection=(),
        method=str(e.get("request_method", "GET")).upper(), source_format="sherlock",
    )
