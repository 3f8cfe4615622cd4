"""The demo sites, one module per kind, and the order in which they get their loopback addresses.

This folder also holds the demo's site manifests (``wmn-demo.json``, ``sherlock-demo.json``),
next to the sites they describe.
"""

from __future__ import annotations

from vetting.demoweb.content import load
from vetting.demoweb.http import SiteApp, SiteContext
from vetting.demoweb.searchindex import IndexedPage, SearchIndex
from vetting.demoweb.sites.accounts import account_sites
from vetting.demoweb.sites.forum import ForumSite
from vetting.demoweb.sites.hostile import HostileSite
from vetting.demoweb.sites.news import NewsSite
from vetting.demoweb.sites.profilelinks import profile_link_site_names, profile_link_sites
from vetting.demoweb.sites.search import SearchSite
from vetting.demoweb.sites.social import SocialSite

CORE_SITES = ("social", "forum", "news", "search", "hostile")


def site_names() -> list[str]:
    """Every site's placeholder name, in address order (127.0.0.11 is the first)."""
    return (list(CORE_SITES) + [spec["name"] for spec in load("accounts")["sites"]]
            + profile_link_site_names())


def build_sites(context: SiteContext) -> dict[str, SiteApp]:
    """Instantiate every site; the search site indexes the public pages of all the others."""
    apps: list[SiteApp] = [SocialSite(context), ForumSite(context), NewsSite(context),
                           HostileSite(context), *account_sites(context), *profile_link_sites(context)]
    index = SearchIndex()
    for app in apps:
        base = context.placeholders[app.name]
        for doc in app.documents():
            index.add(IndexedPage(base + doc.path, doc.title, doc.text, doc.published))
    apps.append(SearchSite(context, index))
    by_name = {app.name: app for app in apps}
    missing = set(site_names()) ^ set(by_name)
    if missing:
        raise RuntimeError(f"demo site list and site modules disagree on: {sorted(missing)}")
    return by_name
