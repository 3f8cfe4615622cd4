"""Account discovery: every username checked on every site of the manifest, every verdict kept.

Before any username is checked on a site, the site's health is checked with its known
account (it must be found) and a random name (it must not be): a site that "finds" the
random name answers yes to everything that day, so its results are recorded
``indeterminate`` instead of being taken for accounts. Sites behind logins or captchas are
recorded ``not_checked`` without a request, and POST-based checks are refused: GET only.
An account found is captured as evidence (raw and rendered).

Debugging: ``scrapy crawl accounts -a usernames=alice,bob -a manifest=procedures/sites/whatsmyname.json``.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders.capture import Capture, CollectionContext
from spiders.exchange import hop_exchanges, received_exchange
from spiders.guard import record_failure
from spiders.outcomes import page_kind
from spiders.render import NON_REDIRECT_STATUSES, RenderMixin, failed_capture, request_headers, response_headers
from spiders.sites import Manifest, NotApplicable, Site, parse_manifest, read_manifest_file


@dataclass
class SiteHealth:
    """The result of one site's pre-run check."""

    known: str | None = None  # verdict for the known account
    random: str | None = None  # verdict for the random name
    pending: int = 0
    notes: list[str] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (username, found_by) to check after
    reused: bool = False  # taken from an earlier case of the day, not checked in this run
    random_name: str | None = None  # the random name of the check (another run's when reused)

    @property
    def unreliable(self) -> bool:
        return self.random == "exists"

    @property
    def degraded(self) -> bool:
        return self.known is not None and self.known != "exists"


class AccountsSpider(RenderMixin, scrapy.Spider):
    name = "accounts"
    kind = "account"

    def __init__(self, usernames: Iterable[tuple[str, str]] | str = (), manifest: Manifest | str | None = None,
                 context: CollectionContext | None = None, render: bool | str = True,
                 random_name: str | None = None, health_only: bool = False,
                 known_health: dict[str, SiteHealth] | None = None, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(usernames, str):
            usernames = [(u.strip(), f"usernames:{u.strip()}") for u in usernames.split(",") if u.strip()]
        if isinstance(manifest, str):
            manifest = parse_manifest(read_manifest_file(manifest))
        self.usernames = list(usernames)
        self.manifest = manifest or Manifest()
        self.context = context
        self.render = render not in (False, "0", "false", "no") and (context is None or context.render)
        # A name nobody registers: 12 lowercase letters, which every username pattern and host
        # label of the manifests accepts (digits are refused by some, e.g. ``^[a-z][a-z._-]+``).
        self.random_name = random_name or "zq" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        self.health: dict[str, SiteHealth] = {}
        # Health results of today kept from an earlier case (vetting/engine/daycache.py): reused, and
        # said so in every verdict's health notes, instead of checked again.
        self.known_health = dict(known_health or {})
        # ``vet sites health``: the known/random check of every checkable site, no username.
        self.health_only = health_only in (True, "1", "true", "yes")

    def _captured(self, key: str) -> bool:
        return self.context is not None and self.context.is_captured(key)

    async def start(self) -> AsyncIterator[Any]:
        for name, reason in self.manifest.rejected:
            for username, found_by in self.usernames:
                yield Capture(key=f"account:{name}:{username}", kind=self.kind, url="", outcome="error",
                              reason=f"manifest entry rejected: {reason}", found_by=found_by,
                              meta={"site": name, "username": username})
        for site in self.manifest.sites:
            unchecked = unchecked_reason(site)
            if unchecked is not None:
                for username, found_by in self.usernames:
                    yield self._unchecked(site, username, found_by, *unchecked)
                continue
            pending = []
            for username, found_by in self.usernames:
                if self._captured(f"account:{site.name}:{username}"):
                    continue
                try:
                    site.account_for(username)
                except NotApplicable as exc:
                    yield self._unchecked(site, username, found_by, "not_applicable", str(exc))
                    continue
                pending.append((username, found_by))
            if not pending and not self.health_only:
                continue
            kept = self.known_health.get(site.name)
            if kept is not None and not self.health_only:
                health = self.health[site.name] = SiteHealth(known=kept.known, random=kept.random,
                                                             notes=list(kept.notes), waiting=pending,
                                                             reused=True, random_name=kept.random_name)
                for request in self._after_health(site, countdown=False):
                    yield request
                continue
            health = self.health[site.name] = SiteHealth(waiting=pending)
            checks = []
            for role, account in (("known", site.known_account), ("random", self.random_name)):
                if account is None:
                    health.notes.append("no known account in the manifest")
                    continue
                try:
                    site.account_for(account)
                except NotApplicable as exc:
                    health.notes.append(f"{role} check not applicable: {exc}")
                    continue
                checks.append((role, account))
            health.pending = len(checks)
            if not checks:
                for request in self._after_health(site, countdown=False):
                    yield request
                continue
            for role, account in checks:
                yield scrapy.Request(site.url_for(account), callback=self.health_checked,
                                     errback=self.health_failed, dont_filter=True,
                                     meta={"vetting_site": site, "vetting_role": role, **_status_meta(site)})

    def _unchecked(self, site: Site, username: str, found_by: str, outcome: str, reason: str) -> Capture:
        try:
            url = site.url_for(username)
        except NotApplicable:
            url = ""
        return Capture(key=f"account:{site.name}:{username}", kind=self.kind, url=url,
                       outcome=outcome, reason=reason, found_by=found_by,
                       meta={"site": site.name, "username": username})

    # -- health checks -------------------------------------------------------------------
    def health_checked(self, response: Response) -> Any:
        site: Site = response.meta["vetting_site"]
        verdict, _ = self._verdict(site, response)
        setattr(self.health[site.name], response.meta["vetting_role"], verdict)
        yield from self._after_health(site)

    def health_failed(self, failure: Failure) -> Any:
        site: Site = failure.request.meta["vetting_site"]  # type: ignore[attr-defined]
        role = failure.request.meta["vetting_role"]  # type: ignore[attr-defined]
        setattr(self.health[site.name], role, "error")
        self.health[site.name].notes.append(f"{role} check: {record_failure(failure, self.context)}")
        yield from self._after_health(site)

    def _after_health(self, site: Site, countdown: bool = True) -> Any:
        health = self.health[site.name]
        if countdown:
            health.pending -= 1
        if health.pending:
            return
        for username, found_by in health.waiting:
            yield scrapy.Request(site.url_for(username), callback=self.checked, errback=self.failed,
                                 dont_filter=True,
                                 meta={"vetting_site": site, "vetting_key": f"account:{site.name}:{username}",
                                       "vetting_found_by": found_by, "vetting_username": username,
                                       "vetting_meta": {"site": site.name, "username": username},
                                       **_status_meta(site)})

    # -- username checks -----------------------------------------------------------------
    def _verdict(self, site: Site, response: Response) -> tuple[str, str]:
        kind = page_kind(response)
        if kind.kind != "public":
            return kind.kind.replace(" ", "_"), kind.reason
        return site.verdict(response.status, response.text if hasattr(response, "text") else "")

    async def checked(self, response: Response) -> Any:
        site: Site = response.meta["vetting_site"]
        username = response.meta["vetting_username"]
        health = self.health[site.name]
        verdict, reason = self._verdict(site, response)
        if health.unreliable and verdict in ("exists", "missing"):
            reason = (f"site unreliable this run: it also 'found' the random name "
                      f"{health.random_name or self.random_name!r} "
                      f"(raw verdict {verdict}: {reason})")
            verdict = "indeterminate"
        elif health.degraded and verdict == "missing":
            reason = (f"site check degraded: its known account was {health.known}, so a 'missing' "
                      f"cannot be trusted ({reason})")
            verdict = "indeterminate"
        capture = Capture(
            key=response.meta["vetting_key"], kind=self.kind, url=site.url_for(username), outcome=verdict,
            reason=reason, found_by=response.meta["vetting_found_by"], final_url=response.url,
            status=response.status, request_headers=request_headers(response.request),
            response_headers=response_headers(response), body=response.body,
            received=received_exchange(response), exchanges=hop_exchanges(response),
            meta={"site": site.name, "username": username, "profile_url": site.url_for(username, pretty=True),
                  "health": {"known": health.known, "random": health.random,
                             "random_name": health.random_name or self.random_name, "notes": health.notes}},
        )
        if verdict != "exists":
            yield capture
            return
        profile = site.url_for(username, pretty=True)
        if profile in (response.url, capture.url):
            yield await self.render_capture(capture, response)
            return
        follow = self.render_request(capture, profile)
        yield follow if follow is not None else capture

    def failed(self, failure: Failure) -> Any:
        yield failed_capture(failure, self.kind, self.context)


def _status_meta(site: Site) -> dict[str, Any]:
    """Which responses reach the callback: all but followed redirects, or, for a site whose
    rules are judged on the first response, every status with no redirect followed."""
    if site.follow_redirects:
        return {"handle_httpstatus_list": NON_REDIRECT_STATUSES}
    return {"dont_redirect": True, "handle_httpstatus_all": True}


def unchecked_reason(site: Site) -> tuple[str, str] | None:
    """(outcome, reason) for a site checked for nobody, or None when it can be checked."""
    if site.protected:
        return "not_checked", f"protected: {', '.join(site.protection)}; never worked around"
    if site.method not in ("GET", "HEAD") or "post" in site.requires:
        method = site.method if site.method not in ("GET", "HEAD") else "POST"
        return "refused", f"method: {method} check not allowed (GET and HEAD only)"
    walls = [r for r in site.requires if r in ("login", "captcha", "bot-wall")]
    if walls:
        return "not_checked", f"requires: {', '.join(walls)}; never worked around"
    if "custom-headers" in site.requires:
        return "refused", "headers: the check needs a Cookie or a disguised User-Agent (never sent)"
    return None
