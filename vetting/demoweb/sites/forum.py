"""``forum`` (KC Gearheads): a plain server-rendered discussion forum.

Threads carry posts by username with ``<time datetime>``; member pages exist (200), are
missing (404) or are visible to logged-in members only (401 with ``WWW-Authenticate``), which
is the login wall a collector must record as ``not public``. ``/admin/`` is disallowed by
robots.txt.
"""

from __future__ import annotations

from typing import Any

from vetting.demoweb.content import load
from vetting.demoweb.html import esc, time_tag
from vetting.demoweb.http import Document, Request, Response, SiteApp, SiteContext, html_response

_USER = r"(?P<username>[\w.\-]{1,64})"


class ForumSite(SiteApp):
    name = "forum"
    title = "KC Gearheads Forum"
    robots_txt = "User-agent: *\nDisallow: /admin/\nAllow: /\n"

    def __init__(self, context: SiteContext) -> None:
        super().__init__(context)
        data = load("forum")
        self.members: dict[str, dict[str, Any]] = data["members"]
        self.threads: dict[int, dict[str, Any]] = {t["id"]: t for t in data["threads"]}
        self.route(r"/", self.index)
        self.route(r"/t/(?P<thread_id>\d+)", self.thread)
        self.route(r"/members/?", self.member_list)
        self.route(r"/members/" + _USER, self.member)
        self.route(r"/admin/.*", self.admin)

    def _members_only(self, what: str) -> Response:
        resp = html_response(self.page("Members only", f"<h1>Members only</h1><p>Log in to view {esc(what)}.</p>"), 401)
        resp.headers.append(("WWW-Authenticate", 'Basic realm="KC Gearheads members"'))
        return resp

    def index(self, req: Request) -> Response:
        rows = "".join(f'<li><a href="/t/{t["id"]}">{esc(t["title"])}</a> in {esc(t["board"])}'
                       f' ({len(t["posts"])} posts)</li>' for t in self.threads.values())
        return html_response(self.page("Boards", f"<h1>KC Gearheads Forum</h1><ul class=\"threads\">{rows}</ul>"))

    def thread(self, req: Request, thread_id: str) -> Response:
        t = self.threads.get(int(thread_id))
        if t is None:
            return self.not_found("No such thread")
        posts = "".join(
            f'<article class="post" id="p{i + 1}"><header><a class="author" href="/members/{esc(p["author"])}">'
            f'{esc(p["author"])}</a> {time_tag(p["date"])}</header><div class="body"><p>{esc(p["text"])}</p></div>'
            f'{self._signature(p["author"])}</article>' for i, p in enumerate(t["posts"]))
        body = f'<h1>{esc(t["title"])}</h1><p class="board">Board: {esc(t["board"])}</p>{posts}'
        return html_response(self.page(t["title"], body))

    def _signature(self, username: str) -> str:
        """The author's signature, shown under each of their posts as forums do."""
        sig = self.members[username]["signature"]
        return f'<footer class="signature">{esc(sig)}</footer>' if sig else ""

    def member_list(self, req: Request) -> Response:
        return self._members_only("the member list")

    def posts_by(self, username: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(t, p) for t in self.threads.values() for p in t["posts"] if p["author"] == username]

    def member(self, req: Request, username: str) -> Response:
        m = self.members.get(username)
        if m is None:
            return self.not_found("No member by that name")
        if m["visibility"] != "public":
            return self._members_only("this member's profile")
        posts = self.posts_by(username)
        links = "".join(f'<li><a rel="me" href="{esc(self.context.resolve(u))}">{esc(self.context.resolve(u))}'
                        "</a></li>" for u in m["links"])
        # Titles only, as forums list "threads posted in": post texts live on their thread pages,
        # each under its own date (so an old post is never re-dated by a recent member page).
        threads = {t["id"]: (t, p["date"]) for t, p in sorted(posts, key=lambda tp: tp[1]["date"])}
        recent = "".join(f'<li><a href="/t/{t["id"]}">{esc(t["title"])}</a> {time_tag(last)}</li>'
                         for t, last in sorted(threads.values(), key=lambda tl: tl[1], reverse=True))
        body = (f'<h1>{esc(username)}</h1><p class="title">{esc(m["title"])}</p>'
                # "Member since" is plain text: a page's dates are those of its posts.
                f'<dl><dt>Member since</dt><dd>{esc(m["joined"])}</dd>'
                f'<dt>Location</dt><dd>{esc(m["location"] or "not given")}</dd>'
                f'<dt>Posts</dt><dd>{len(posts)}</dd></dl>'
                + (f'<p class="signature">{esc(m["signature"])}</p>' if m["signature"] else "")
                + (f'<ul class="links">{links}</ul>' if links else "")
                + f'<h2>Threads posted in</h2><ul class="recent">{recent}</ul>')
        return html_response(self.page(f"Member {username}", body))

    def admin(self, req: Request) -> Response:
        return html_response(self.page("Admin", "<h1>Moderation queue</h1>"
                                       "<p>ROBOTS_DISALLOWED_TEXT: reported posts awaiting review.</p>"))

    def documents(self) -> list[Document]:
        docs = [Document(f"/t/{t['id']}", f"{t['title']} · {self.title}",
                         " ".join(f"{p['author']}: {p['text']} {self.members[p['author']]['signature']}"
                                  for p in t["posts"]),
                         t["posts"][-1]["date"]) for t in self.threads.values()
                if all(self.members[p["author"]]["visibility"] == "public" for p in t["posts"])]
        for username, m in self.members.items():
            if m["visibility"] == "public":
                posts = self.posts_by(username)
                docs.append(Document(f"/members/{username}", f"{username} · {self.title}",
                                     " ".join([username, m["title"], m["location"], m["signature"]]
                                              + sorted({t["title"] for t, _ in posts})),
                                     max((p["date"] for _, p in posts), default=None)))
        return docs
