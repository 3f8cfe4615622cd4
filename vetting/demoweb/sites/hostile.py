"""``hostile``: one host with every nasty case a careful collector must survive, one per path.

Each endpoint is bounded in time (``MAX_RESPONSE_SECONDS``) and stops as soon as the demo web
stops, so a collector bug can make a test fail but never hang the suite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from vetting.demoweb.gzipbomb import bomb
from vetting.demoweb.html import esc
from vetting.demoweb.http import (
    MAX_RESPONSE_SECONDS,
    Request,
    Response,
    SiteApp,
    SiteContext,
    html_response,
    redirect,
)

HUGE_BYTES = 50 * 1024 * 1024
SLOW_SECONDS = 20.0
TRICKLE_INTERVAL = 0.5

ENDPOINTS: dict[str, str] = {
    "/redirect-private": "302 to a private address (http://10.0.0.5/)",
    "/redirect-metadata": "302 to the cloud metadata address (169.254.169.254)",
    "/redirect-loop": "redirect loop: /redirect-loop -> /redirect-loop/b -> /redirect-loop ...",
    "/huge": "about 50 MB of HTML with a Content-Length",
    "/huge-chunked": "about 50 MB of HTML, chunked (no Content-Length)",
    "/slow": "waits 20 s before answering",
    "/never-ends": "chunked body trickling a few bytes every 0.5 s, cut at 30 s",
    "/gzip-bomb": "Content-Encoding: gzip, ~10 MB on the wire, ~10 GiB of zeros inflated",
    "/scripts": "hostile markup: scripts, event handlers, javascript: links, meta refresh",
    "/post-only": "405 on GET (Allow: POST)",
    "/set-cookie": "sets a session cookie",
    "/login-form": "a login page with a password form",
}

HOSTILE_MARKUP = """<!doctype html>
<html><head><meta charset="utf-8"><title>Totally normal page<script>alert('title')</script></title>
<meta http-equiv="refresh" content="5; url=javascript:alert('refresh')">
<base href="http://10.0.0.5/">
<style>body{background:url("javascript:alert('css')")} .hidden{display:none}
 .x::after{content:"injected by CSS"} @import url("http://169.254.169.254/style.css");</style>
<script>alert('head script'); document.cookie = 'stolen=' + document.cookie;</script>
</head>
<body onload="alert('onload')">
<h1>Hostile markup test page</h1>
<p>Visible text the extractor should keep: the quick brown fox.</p>
<img src="x" onerror="alert('onerror')" alt="broken image with onerror">
<a href="javascript:alert('link')">a javascript: link</a>
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">a data: link</a>
<a href="http://10.0.0.5/admin">a link to a private address</a>
<a href="http://169.254.169.254/latest/meta-data/">a link to the metadata service</a>
<svg onload="alert('svg')"><script>alert('svg script')</script></svg>
<iframe src="javascript:alert('iframe')"></iframe>
<object data="javascript:alert('object')"></object>
<form action="http://10.0.0.5/steal" method="post"><input name="q" value="x"><button>Go</button></form>
<div class="hidden">Hidden text: SECRET_HIDDEN_MARKER should not be shown as visible.</div>
<p style="position:absolute;left:-9999px">Off-screen text</p>
<script>document.write('<p>text written by a script</p>')</script>
<!-- <script>alert('comment')</script> -->
<![CDATA[ <script>alert('cdata')</script> ]]>
<p>Unclosed <b>bold <i>italic <div>nested </p></b> &notanentity; &#xD800; &#0;
<table><tr><td>cell<td>cell two</table></table></table>
<textarea></textarea><script>alert('after textarea')</script>
<scr<script>ipt>alert('split')</scr</script>ipt>
"""


class HostileSite(SiteApp):
    name = "hostile"
    title = "Hostile test host"

    def __init__(self, context: SiteContext) -> None:
        super().__init__(context)
        self.route(r"/", self.index)
        self.route(r"/redirect-private", lambda req: redirect("http://10.0.0.5/"))
        self.route(r"/redirect-metadata", lambda req: redirect("http://169.254.169.254/latest/meta-data/"))
        self.route(r"/redirect-loop", lambda req: redirect(f"{req.base_url}/redirect-loop/b"))
        self.route(r"/redirect-loop/b", lambda req: redirect(f"{req.base_url}/redirect-loop"))
        self.route(r"/huge", self.huge)
        self.route(r"/huge-chunked", self.huge_chunked)
        self.route(r"/slow", self.slow)
        self.route(r"/never-ends", self.never_ends)
        self.route(r"/gzip-bomb", self.gzip_bomb)
        self.route(r"/scripts", lambda req: html_response(HOSTILE_MARKUP))
        self.route(r"/post-only", self.post_only, methods=("POST",))
        self.route(r"/set-cookie", self.set_cookie)
        self.route(r"/login-form", self.login_form)
        self.route(r"/login-form", lambda req: html_response(
            self.page("Login failed", "<h1>Login failed</h1>"), 401), methods=("POST",))

    def index(self, req: Request) -> Response:
        rows = "".join(f'<li><a href="{esc(p)}">{esc(p)}</a>: {esc(d)}</li>' for p, d in ENDPOINTS.items())
        return html_response(self.page("Hostile cases", f"<h1>Hostile cases</h1><ul>{rows}</ul>"))

    def _bounded(self, chunks: Iterator[bytes], seconds: float = MAX_RESPONSE_SECONDS) -> Iterator[bytes]:
        """Stop a stream at the time cap or when the demo web stops."""
        deadline = time.monotonic() + seconds
        for chunk in chunks:
            if self.context.stop.is_set() or time.monotonic() > deadline:
                return
            yield chunk

    @staticmethod
    def _huge_chunks() -> Iterator[bytes]:
        head = b"<!doctype html><html><head><title>Huge page</title></head><body>\n"
        tail = b"</body></html>\n"
        line = b"<p>" + b"This page is far bigger than any reasonable profile page. " * 16 + b"</p>\n"
        block = line * (65536 // len(line))
        sent = len(head) + len(tail)
        yield head
        while sent + len(block) <= HUGE_BYTES:
            yield block
            sent += len(block)
        yield b" " * (HUGE_BYTES - sent)
        yield tail

    def huge(self, req: Request) -> Response:
        return Response(200, self._bounded(self._huge_chunks()), length=HUGE_BYTES)

    def huge_chunked(self, req: Request) -> Response:
        return Response(200, self._bounded(self._huge_chunks()))

    def slow(self, req: Request) -> Response:
        self.context.stop.wait(SLOW_SECONDS)
        return html_response(self.page("Slow", "<h1>Finally</h1><p>This answer took 20 seconds.</p>"))

    def never_ends(self, req: Request) -> Response:
        def trickle() -> Iterator[bytes]:
            yield b"<!doctype html><html><body><p>This page never finishes loading"
            while not self.context.stop.wait(TRICKLE_INTERVAL):
                yield b"."
        return Response(200, self._bounded(trickle()))

    def gzip_bomb(self, req: Request) -> Response:
        b = bomb()
        return Response(200, self._bounded(b.chunks()), "text/html; charset=utf-8",
                        [("Content-Encoding", "gzip")], length=b.compressed_size)

    def post_only(self, req: Request) -> Response:
        return html_response(self.page("Thanks", "<h1>Form received</h1>"))

    def set_cookie(self, req: Request) -> Response:
        return html_response(
            self.page("Cookie", "<h1>Welcome</h1><p>This page set a session cookie.</p>"),
            headers=[("Set-Cookie", "demo_session=abc123; Path=/; HttpOnly; SameSite=Lax"),
                     ("Set-Cookie", "tracking_id=xyz789; Path=/; Max-Age=31536000")])

    def login_form(self, req: Request) -> Response:
        body = ('<h1>Sign in</h1><form method="post" action="/login-form">'
                '<label>Username <input name="username" autocomplete="username"></label>'
                '<label>Password <input type="password" name="password"></label>'
                '<button type="submit">Sign in</button></form>')
        return html_response(self.page("Sign in", body))
