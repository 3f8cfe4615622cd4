"""``social`` (Murmur): a social network whose profiles exist only after JavaScript runs.

``/u/<handle>`` is an application shell: the HTML names the handle and nothing else, and an
inline script fetches ``/api/u/<handle>.json`` and builds the profile with DOM methods. A
collector that reads the initial HTML sees no profile text; only a real browser does. This is
what the pages collector's rendered capture is for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from vetting.demoweb.content import load
from vetting.demoweb.html import esc, login_form, svg_image
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

_HANDLE = r"(?P<handle>[\w.\-]{1,64})"

# Built with createElement/textContent only: profile data is never parsed as markup.
PROFILE_SCRIPT = """
(function () {
  var root = document.getElementById('profile');
  var handle = root.getAttribute('data-handle');
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  fetch('/api/u/' + encodeURIComponent(handle) + '.json', {headers: {'Accept': 'application/json'}})
    .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
    .then(function (p) {
      root.textContent = '';
      var card = el('section', 'profile-card');
      card.appendChild(el('h1', 'display-name', p.display_name));
      card.appendChild(el('p', 'handle', '@' + p.handle));
      card.appendChild(el('p', 'bio', p.bio));
      card.appendChild(el('p', 'location', p.location));
      card.appendChild(el('p', 'joined', 'Joined ' + p.joined));
      if (p.links.length) {
        var ul = el('ul', 'links');
        p.links.forEach(function (u) {
          var li = el('li'); var a = el('a', null, u); a.href = u; a.rel = 'me';
          li.appendChild(a); ul.appendChild(li);
        });
        card.appendChild(ul);
      }
      root.appendChild(card);
      p.posts.forEach(function (post) {
        var art = el('article', 'post'); art.id = 'post-' + post.id;
        art.appendChild(el('p', 'text', post.text));
        if (post.image) {
          var img = el('img'); img.src = post.image.src; img.alt = post.image.alt;
          img.width = 480; img.height = 320; art.appendChild(img);
        }
        var t = el('time', null, post.date.slice(0, 10)); t.setAttribute('datetime', post.date);
        art.appendChild(t);
        root.appendChild(art);
      });
      document.title = p.display_name + ' (@' + p.handle + ') \\u00b7 Murmur';
      root.setAttribute('data-loaded', 'true');
    })
    .catch(function (err) { root.textContent = 'Could not load this profile (' + err.message + ').'; });
})();
"""


class SocialSite(SiteApp):
    name = "social"
    title = "Murmur"
    robots_txt = "User-agent: *\nDisallow: /private-area/\nDisallow: /search\nAllow: /\n"

    def __init__(self, context: SiteContext) -> None:
        super().__init__(context)
        self.profiles: dict[str, dict[str, Any]] = load("social")["profiles"]
        self.route(r"/", self.home)
        self.route(r"/u/" + _HANDLE, self.profile_shell)
        self.route(r"/api/u/" + _HANDLE + r"\.json", self.profile_api)
        self.route(r"/media/" + _HANDLE + r"/(?P<post_id>[\w\-]+)\.svg", self.media)
        self.route(r"/login", self.login)
        self.route(r"/login", self.login_failed, methods=("POST",))
        self.route(r"/settings(?:/.*)?", lambda req: redirect(f"{req.base_url}/login?next={quote(req.path)}"))
        self.route(r"/private-area/.*", self.private_area)
        self.route(r"/search", self.search)

    def home(self, req: Request) -> Response:
        body = ("<h1>Murmur</h1><p>Share what's on your mind. Profiles need JavaScript.</p>"
                '<p><a href="/login">Log in</a></p>')
        return html_response(self.page("Home", body))

    def profile_shell(self, req: Request, handle: str) -> Response:
        profile = self.profiles.get(handle)
        if profile is None:
            return html_response(self.page("Account not found",
                                           "<h1>This account doesn't exist</h1>"
                                           "<p>Try searching for another.</p>"), 404)
        if profile.get("private"):
            body = (f'<h1>@{esc(handle)}</h1><p class="private-notice">This account is private</p>'
                    "<p>Only approved followers can see this account's posts.</p>"
                    '<p><a href="/login">Log in</a> to request to follow.</p>')
            return html_response(self.page(f"@{handle}", body))
        body = (f'<div id="profile" data-handle="{esc(handle)}"><p class="loading">Loading…</p></div>'
                "<noscript><p>Murmur needs JavaScript to show profiles.</p></noscript>"
                f"<script>{PROFILE_SCRIPT}</script>")
        return html_response(self.page(f"@{handle}", body))

    def profile_json(self, base_url: str, handle: str) -> dict[str, Any]:
        p = self.profiles[handle]
        posts = []
        for post in p["posts"]:
            image = None
            if post.get("image"):
                image = {"src": f"{base_url}/media/{quote(handle)}/{post['id']}.svg", "alt": post["image"]["alt"]}
            posts.append({"id": post["id"], "text": post["text"], "date": post["date"], "image": image})
        return {"handle": handle, "display_name": p["display_name"], "bio": p["bio"],
                "location": p["location"], "joined": p["joined"],
                "links": [self.context.resolve(u) for u in p["links"]], "posts": posts}

    def profile_api(self, req: Request, handle: str) -> Response:
        profile = self.profiles.get(handle)
        if profile is None:
            return json_response({"error": "This account doesn't exist"}, 404)
        if profile.get("private"):
            return json_response({"error": "This account is private"}, 403)
        return json_response(self.profile_json(req.base_url, handle))

    def media(self, req: Request, handle: str, post_id: str) -> Response:
        profile = self.profiles.get(handle)
        if profile is None or profile.get("private"):
            return self.not_found()
        for post in profile["posts"]:
            if post["id"] == post_id and post.get("image"):
                return Response(200, svg_image(post["image"]["alt"]), "image/svg+xml")
        return self.not_found()

    def login(self, req: Request) -> Response:
        return html_response(self.page("Log in", login_form("Murmur", req.arg("next"),
                                                            user_label="Email or handle")))

    def login_failed(self, req: Request) -> Response:
        return html_response(self.page("Log in", "<h1>Wrong password</h1>"), 401)

    def private_area(self, req: Request) -> Response:
        body = ("<h1>Private area</h1><p>ROBOTS_DISALLOWED_TEXT: follower lists and exports. "
                "Crawlers are asked not to come here (robots.txt).</p>")
        return html_response(self.page("Private area", body))

    def search(self, req: Request) -> Response:
        q = req.arg("q").strip().lower()
        hits = [h for h, p in self.profiles.items() if q and not p.get("private") and q in h.lower()]
        rows = "".join(f'<li><a href="/u/{esc(h)}">@{esc(h)}</a></li>' for h in hits)
        return html_response(self.page("Search", f"<h1>Search</h1><ul>{rows}</ul>"))

    def documents(self) -> list[Document]:
        """Public profiles as a rendering search engine would index them."""
        docs = []
        for handle, p in self.profiles.items():
            if p.get("private"):
                continue
            text = " ".join([p["display_name"], f"@{handle}", p["bio"], p["location"]]
                            + [post["text"] + (" " + post["image"]["alt"] if post.get("image") else "")
                               for post in p["posts"]])
            latest = max((post["date"] for post in p["posts"]), default=None)
            docs.append(Document(f"/u/{handle}", f"{p['display_name']} (@{handle}) · Murmur", text, latest))
        return docs
