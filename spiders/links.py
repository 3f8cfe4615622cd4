"""Which links on a captured profile are links to other profiles (``limits.max_depth``).

A pages step with ``max_depth`` above 0 follows links from the pages it captured, but only
links that point at *profiles*, never the whole web:

* a link marked ``rel="me"`` (on ``<a>`` or ``<link>``): the page's owner says "this is also
  me" (the convention of the IndieWeb and of Mastodon's verified links, used by link-in-bio
  pages and most profile pages' link lists); or
* a link whose URL has the shape of a profile on a site of the procedure's own site list
  (the ``profile_url`` of a manifest entry, ``{account}`` standing for one path segment):
  the department already decided those sites are where candidates' accounts are looked for.

Links to the page itself, to anything but http(s), and repeats are dropped. At most
``limit`` profile links are taken from one page (the first in document order; ``rel="me"``
links before pattern matches); the caller records the rest as not collected. Pure function:
parsing only, no request is made here, and everything followed still goes through the guard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

#: Profile links taken from one page at most.
PROFILE_LINKS_PER_PAGE = 10
#: Links looked at on one page at most (a hostile page may hold millions).
MAX_LINKS_READ = 2000


@dataclass(frozen=True)
class ProfileLink:
    """A link to follow: its absolute URL and why it counts as a profile."""

    url: str
    rel_me: bool
    site: str = ""  # the site-list entry whose profile pattern it matches, if any


def profile_pattern(template: str) -> re.Pattern[str] | None:
    """A site list's ``profile_url`` template as a regular expression over comparable URLs
    (:func:`comparable`): ``https://pics.example/u/{account}`` matches
    ``pics.example/u/anyone`` and nothing deeper. None for a template without ``{account}``
    or without a host."""
    if "{account}" not in template:
        return None
    comparable_template = comparable(template.replace("{account}", "\x00"))
    if not comparable_template or comparable_template.startswith("\x00"):
        return None
    body = re.escape(comparable_template).replace("\x00", r"[^/?#\x00]+")
    return re.compile(body + r"/?")


def comparable(url: str) -> str:
    """A URL without scheme, fragment, ``www.`` or a trailing slash, host lower-cased."""
    try:
        parts = urlsplit(urldefrag(url.strip())[0])
        host = (parts.hostname or "").lower().removeprefix("www.")
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return netloc + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")


def profile_links(html: str | bytes, base_url: str, patterns: Iterable[tuple[str, re.Pattern[str]]] = (),
                  limit: int = PROFILE_LINKS_PER_PAGE) -> tuple[list[ProfileLink], list[ProfileLink]]:
    """The profile links of a page to follow (at most ``limit``), and those over the limit.

    ``patterns`` are ``(site name, compiled profile pattern)`` pairs from the site list.
    """
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    soup = BeautifulSoup(html, "html.parser")
    base = base_url
    base_tag = soup.find("base", href=True)
    if base_tag is not None:
        try:
            base = urljoin(base_url, str(base_tag["href"]))
        except ValueError:
            base = base_url
    here = comparable(base_url)
    patterns = list(patterns)
    rel_me: list[ProfileLink] = []
    by_pattern: list[ProfileLink] = []
    seen: set[str] = {here}
    for tag in soup.find_all(["a", "link"], href=True, limit=MAX_LINKS_READ):
        try:  # hostile hrefs ("http://[::1") are skipped, never fatal
            absolute = urldefrag(urljoin(base, str(tag["href"]).strip()))[0]
            if urlsplit(absolute).scheme not in ("http", "https"):
                continue
        except ValueError:
            continue
        key = comparable(absolute)
        if not key or key in seen:
            continue
        rel = tag.get("rel") or []
        rels = {r.lower() for r in (rel.split() if isinstance(rel, str) else rel)}
        if "me" in rels:
            seen.add(key)
            rel_me.append(ProfileLink(absolute, True, _site_of(key, patterns)))
            continue
        site = _site_of(key, patterns)
        if site:
            seen.add(key)
            by_pattern.append(ProfileLink(absolute, False, site))
    found = rel_me + by_pattern
    return found[:limit], found[limit:]


def _site_of(key: str, patterns: list[tuple[str, re.Pattern[str]]]) -> str:
    for name, rx in patterns:
        if rx.fullmatch(key):
            return name
    return ""
