"""``linkring`` (Linkring) and ``folio`` (Folio): profiles that link to other profiles.

Linkring is a link-in-bio service (``/<handle>``), Folio a portfolio host (``/p/<handle>``).
Their pages list the owner's other profiles with ``rel="me"``, the chain a pages step follows
with ``limits.max_depth``: a disclosed Linkring page (depth 0) links to a Folio portfolio
(depth 1), which links to an old Linkring page (depth 2), which links to a 2019 portfolio
(depth 3). Also a plain link to a Folio page (a profile only by the site list's pattern), a
non-profile link, and a link farm of 12 ``rel="me"`` links (over the per-page cap). Content is
in ``data/profilelinks.json``. Folio's portfolios are in the search index; Linkring's are not.
"""

from __future__ import annotations

import re
from typing import Any

from vetting.demoweb.content import load
from vetting.demoweb.html import esc
from vetting.demoweb.http import Document, Request, Response, SiteApp, SiteContext, html_response

_HANDLE = r"(?P<handle>[\w.\-]{1,64})"


class ProfileLinksSite(SiteApp):
    """One of the two sites, configured by its entry of ``data/profilelinks.json``."""

    def __init__(self, context: SiteContext, spec: dict[str, Any]) -> None:
        super().__init__(context)
        self.spec = spec
        self.name = spec["name"]
        self.title = spec["title"]
        self.profiles: dict[str, dict[str, Any]] = dict(spec["profiles"])
        generated = spec.get("generated")
        if generated:
            for n in range(1, generated["count"] + 1):
                self.profiles[f"{generated['prefix']}{n}"] = {
                    "display_name": generated["display_name"].format(n=n), "bio": generated["bio"], "links": []}
        self.route(r"/", self.home)
        self.route(r"/about", self.about)
        self.route(re.escape(spec["profile_path"]).replace(re.escape("{account}"), _HANDLE), self.profile)

    def home(self, req: Request) -> Response:
        return html_response(self.page(self.title, f"<h1>{esc(self.title)}</h1><p>A fictional demo site.</p>"))

    def about(self, req: Request) -> Response:
        return html_response(self.page("About", f"<h1>About {esc(self.title)}</h1>"
                                       "<p>One page for all your links.</p>"))

    def profile(self, req: Request, handle: str) -> Response:
        data = self.profiles.get(handle)
        if data is None:
            return self.not_found("No profile by that name")
        items = []
        for link in data["links"]:
            url = self.context.resolve(link["url"])
            rel = ' rel="me"' if link.get("rel_me") else ""
            items.append(f'<li><a href="{esc(url)}"{rel}>{esc(link.get("label") or url)}</a></li>')
        body = (f'<section class="profile" data-handle="{esc(handle)}"><h1>{esc(data["display_name"])}</h1>'
                f'<p class="handle">@{esc(handle)}</p><p class="bio">{esc(data["bio"])}</p>'
                + (f'<ul class="links">{"".join(items)}</ul>' if items else "") + "</section>")
        return html_response(self.page(f"{data['display_name']} (@{handle})", body))

    def documents(self) -> list[Document]:
        if self.name != "folio":
            return []
        path = self.spec["profile_path"]
        return [Document(path.replace("{account}", handle), f"{p['display_name']} (@{handle}) · {self.title}",
                         f"{p['display_name']} @{handle} {p['bio']}")
                for handle, p in self.spec["profiles"].items()]


def profile_link_sites(context: SiteContext) -> list[ProfileLinksSite]:
    """Linkring and Folio, in file order."""
    return [ProfileLinksSite(context, spec) for spec in load("profilelinks")["sites"]]


def profile_link_site_names() -> list[str]:
    return [spec["name"] for spec in load("profilelinks")["sites"]]
