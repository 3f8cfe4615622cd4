"""Account sites: small hosts that answer "does this username exist?" the ways real sites do.

One class serves every account site, driven by ``data/accounts.json``: where profiles live,
the text that marks an existing profile, and how an unknown name is answered (an error status,
a 200 page with a "not found" text, a JSON API 404, a redirect). Three modes reproduce the
sites a checker must not trust or must not pass: ``wildcard`` (every name "exists", caught by
a health check with a random name), ``walled`` (login wall) and ``blocked`` (bot challenge).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from vetting.demoweb.html import esc, esc_text, login_form, png_with_text, svg_image, time_tag
from vetting.demoweb.http import (
    Document,
    Request,
    Response,
    SiteApp,
    SiteContext,
    html_response,
    json_response,
    redirect,
)

_ACCOUNT = r"(?P<account>[\w.\-]{1,64})"

CHALLENGE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Just a moment...</title><meta name="robots" content="noindex,nofollow"></head>
<body><div id="challenge-stage"><h1>Checking your browser… before accessing this site.</h1>
<p>Please complete the CAPTCHA below to prove you are human.</p>
<div class="captcha-box" data-sitekey="demo-captcha">[ I'm not a robot ]</div>
<noscript>Enable JavaScript and cookies to continue.</noscript></div></body></html>
"""


#: A post's ``badge`` is drawn by CSS (generated content): in the screenshot, not in the DOM's text.
BADGE_STYLE = ("<style>.post[data-badge]::before{content:attr(data-badge);display:inline-block;"
               "background:#1d4e89;color:#fff;font-weight:600;padding:.1rem .5rem;border-radius:3px}</style>")


def path_pattern(template: str) -> str:
    """``/u/{account}`` -> a regular expression with a named ``account`` group."""
    return re.escape(template).replace(re.escape("{account}"), _ACCOUNT)


class AccountSite(SiteApp):
    """One account site, configured by its entry of ``data/accounts.json``."""

    def __init__(self, context: SiteContext, spec: dict[str, Any]) -> None:
        super().__init__(context)
        self.spec = spec
        self.name = spec["name"]
        self.title = spec["title"]
        self.mode: str = spec.get("mode", "normal")
        self.accounts: dict[str, dict[str, Any]] = spec.get("accounts", {})
        disallow = spec.get("robots_disallow", [])
        self.robots_txt = "User-agent: *\n" + "".join(f"Disallow: {p}\n" for p in disallow) + "Allow: /\n"
        if self.mode == "blocked":
            self.route(r"/.*", self.challenge, methods=("GET", "HEAD", "POST"))
            return
        self.route(r"/", self.home)
        self.route(r"/media/" + _ACCOUNT + r"/(?P<index>\d+)\.svg", self.media)
        self.route(r"/media/" + _ACCOUNT + r"/(?P<index>\d+)\.png", self.media_png)
        if self.mode == "walled":
            self.route(r"/login", self.login)
            self.route(r"/login", self.login_failed, methods=("POST",))
            self.route(path_pattern("/api/members/{account}"), self.api_wall)
            self.route(path_pattern(spec["profile_path"]), self.wall)
            return
        if "api_path" in spec:
            self.route(path_pattern(spec["api_path"]), self.api_user)
        if "lookup_api" in spec:
            self.route(re.escape(spec["lookup_api"]), self.lookup, methods=("POST",))
        self.route(path_pattern(spec["profile_path"]), self.profile)

    # -- pages ---------------------------------------------------------------------------------

    def home(self, req: Request) -> Response:
        note = ""
        if req.arg("error") == "player-not-found":
            note = "<p class=\"error\">That player could not be found (player-not-found).</p>"
        return html_response(self.page(self.title, f"<h1>{esc(self.title)}</h1>{note}"
                                       "<p>A fictional demo site.</p>"))

    def profile(self, req: Request, account: str) -> Response:
        if self.mode == "wildcard":
            data = {"display_name": account, "bio": "This profile has no posts yet.",
                    "location": "", "links": [], "items": []}
            return html_response(self.render_profile(account, data))
        data = self.accounts.get(account)
        if data is not None:
            return html_response(self.render_profile(account, data))
        return self.missing(req, account)

    def missing(self, req: Request, account: str) -> Response:
        """Answer an unknown name the way this site does."""
        spec = self.spec
        marker = spec["missing_marker"]
        style = spec["missing"]
        if style == "redirect":
            return redirect(req.base_url + spec["missing_location"], spec.get("missing_status", 302))
        if style == "json":
            return Response(spec.get("missing_status", 404), json.dumps(
                {"message": "Not Found", "documentation_url": f"{req.base_url}/docs"}, indent=1).encode(),
                "application/json; charset=utf-8")
        status = 200 if style == "marker" else spec.get("missing_status", 404)
        body = f"<h1>{esc_text(marker)}</h1><p>Check the spelling of @{esc(account)} and try again.</p>"
        return html_response(self.page("Not found", body), status)

    def render_profile(self, account: str, data: dict[str, Any]) -> str:
        links = "".join(f'<li><a rel="me" href="{esc(self.context.resolve(u))}">'
                        f"{esc(self.context.resolve(u))}</a></li>" for u in data.get("links", []))
        items = []
        for i, item in enumerate(data.get("items", [])):
            items.append(self.render_item(account, i, item))
        body = (f'<section class="profile" data-account="{esc(account)}">'
                f'<p class="marker">{esc_text(self.spec.get("profile_marker", self.spec["exists_marker"]))}</p>'
                f'<h1>{esc(data["display_name"])}</h1><p class="handle">@{esc(account)}</p>'
                f'<p class="bio">{esc(data.get("bio", ""))}</p>'
                + (f'<p class="location">{esc(data["location"])}</p>' if data.get("location") else "")
                + (f'<ul class="links">{links}</ul>' if links else "")
                + "</section>" + "".join(items))
        return self.page(f"{data['display_name']} (@{account})", body, head=BADGE_STYLE)

    @staticmethod
    def render_item(account: str, i: int, item: dict[str, Any]) -> str:
        """One post. Optional fields put words where a screenshot shows them but a text
        extractor may not: ``heading``, ``caption`` (a figure caption), ``badge`` (CSS generated
        content), ``image_text`` (words painted into a PNG), ``lang``."""
        img = ""
        if item.get("image_text"):
            img = (f'<img src="/media/{quote(account)}/{i}.png" alt="{esc(item.get("alt", ""))}" '
                   f'width="480" height="200">')
        elif item.get("alt"):
            img = (f'<img src="/media/{quote(account)}/{i}.svg" alt="{esc(item["alt"])}" '
                   f'width="480" height="320">')
        if img and item.get("caption"):
            img = f"<figure>{img}<figcaption>{esc_text(item['caption'])}</figcaption></figure>"
        heading = f"<h2>{esc_text(item['heading'])}</h2>" if item.get("heading") else ""
        attrs = f' lang="{esc(item["lang"])}"' if item.get("lang") else ""
        attrs += f' data-badge="{esc(item["badge"])}"' if item.get("badge") else ""
        return (f'<article class="post"{attrs}>{heading}{img}<p>{esc(item["text"])}</p>'
                f'{time_tag(item["date"])}</article>')

    def media(self, req: Request, account: str, index: str) -> Response:
        items = self.accounts.get(account, {}).get("items", [])
        i = int(index)
        if i >= len(items) or not items[i].get("alt"):
            return self.not_found()
        return Response(200, svg_image(items[i]["alt"]), "image/svg+xml")

    def media_png(self, req: Request, account: str, index: str) -> Response:
        items = self.accounts.get(account, {}).get("items", [])
        i = int(index)
        if i >= len(items) or not items[i].get("image_text"):
            return self.not_found()
        return Response(200, png_with_text(items[i]["image_text"]), "image/png")

    def api_user(self, req: Request, account: str) -> Response:
        data = self.accounts.get(account)
        if data is None:
            return self.missing(req, account)
        return json_response({"login": account, "name": data["display_name"], "bio": data.get("bio", ""),
                              "location": data.get("location", ""),
                              "public_repos": len(data.get("items", [])),
                              "html_url": req.base_url + self.spec["profile_path"].replace("{account}", account)})

    def lookup(self, req: Request) -> Response:
        """A form-style POST lookup, the kind of check the collector must refuse to make."""
        try:
            name = str(json.loads(req.body or b"{}").get("username", ""))
        except (ValueError, AttributeError):
            return json_response({"error": "bad request"}, 400)
        return json_response({"username": name, "exists": name in self.accounts})

    # -- walls ---------------------------------------------------------------------------------

    def wall(self, req: Request, account: str) -> Response:
        return redirect(f"{req.base_url}/login?next={quote(req.path)}")

    def api_wall(self, req: Request, account: str) -> Response:
        resp = json_response({"error": "authentication required"}, 401)
        resp.headers.append(("WWW-Authenticate", f'Bearer realm="{self.title}"'))
        return resp

    def login(self, req: Request) -> Response:
        intro = "<p>Members only. Log in to see profiles.</p>"
        return html_response(self.page("Log in", login_form(self.title, req.arg("next"), intro)))

    def login_failed(self, req: Request) -> Response:
        return html_response(self.page("Log in", "<h1>Wrong email or password</h1>"), 401)

    def challenge(self, req: Request) -> Response:
        return Response(403, CHALLENGE_PAGE.encode("utf-8"), "text/html; charset=utf-8",
                        [("Cache-Control", "no-store"), ("X-Challenge", "captcha")])

    # -- search ------------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        """Profiles a search engine would have indexed: not behind walls, not robots-disallowed."""
        if self.mode != "normal" or self.spec.get("robots_disallow"):
            return []
        docs = []
        for account, data in self.accounts.items():
            texts = [data["display_name"], f"@{account}", data.get("bio", ""), data.get("location", "")]
            texts += [" ".join(it.get(k, "") for k in ("heading", "text", "alt", "caption"))
                      for it in data.get("items", [])]
            dates = sorted(it["date"] for it in data.get("items", []))
            docs.append(Document(self.spec["profile_path"].replace("{account}", account),
                                 f"{data['display_name']} (@{account}) · {self.title}",
                                 " ".join(t for t in texts if t), dates[-1] if dates else None))
        return docs


def account_sites(context: SiteContext) -> list[AccountSite]:
    """Every account site of ``data/accounts.json``, in file order."""
    from vetting.demoweb.content import load

    return [AccountSite(context, spec) for spec in load("accounts")["sites"]]
