"""The small HTTP layer every demo site shares: requests, responses, routing, a quiet server.

Sites are written as plain objects that turn a :class:`Request` into a :class:`Response`, so
their logic can be read (and tested) without sockets. The handler here does the wire work:
Content-Length or chunked framing, HEAD, streaming bodies that stop when the demo web stops,
and silence on stderr (the demo runs inside test suites and the ``vet demo`` console).
"""

from __future__ import annotations

import html
import json
import logging
import re
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vetting.demoweb.html import page

log = logging.getLogger("vetting.demoweb")

#: Longest any request may keep a handler thread busy (slow and endless endpoints included).
MAX_RESPONSE_SECONDS = 30.0
#: Largest request body a demo site reads (only form-style lookups send one).
MAX_REQUEST_BODY = 1_000_000


@dataclass
class Request:
    """What a site sees of an HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base_url: str

    def arg(self, name: str, default: str = "") -> str:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """A response; ``body`` may be bytes or an iterator of chunks (streamed).

    A streamed body with ``length`` set is sent with that Content-Length; without it, chunked.
    """

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    length: int | None = None


def html_response(body: str, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, body.encode("utf-8"), "text/html; charset=utf-8", headers or [])


def text_response(body: str, status: int = 200) -> Response:
    return Response(status, body.encode("utf-8"), "text/plain; charset=utf-8")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"),
                    "application/json; charset=utf-8")


def redirect(location: str, status: int = 302) -> Response:
    body = f'<!doctype html><title>Moved</title><p>Moved to <a href="{html.escape(location)}">here</a>.'
    return Response(status, body.encode(), "text/html; charset=utf-8", [("Location", location)])


Handler = Callable[..., Response]


class SiteApp:
    """Base of every demo site: a name, a robots.txt, a route table, a shared stop signal.

    Subclasses add routes with :meth:`route` in ``__init__``; a route's pattern is matched
    against the whole path and its named groups are passed to the handler as keywords.
    """

    #: the placeholder name, e.g. ``social`` (also the host's role in the README table)
    name: str = ""
    #: the fictional brand shown on pages
    title: str = ""
    robots_txt: str = "User-agent: *\nAllow: /\n"

    def __init__(self, context: SiteContext) -> None:
        self.context = context
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []

    def route(self, pattern: str, handler: Handler, methods: Iterable[str] = ("GET", "HEAD")) -> None:
        self._routes.append((frozenset(methods), re.compile(pattern), handler))

    def handle(self, req: Request) -> Response:
        """Dispatch to the first route whose pattern matches; 404 or 405 otherwise."""
        if req.path == "/robots.txt" and req.method in ("GET", "HEAD"):
            return text_response(self.robots_txt)
        allowed: set[str] = set()
        for methods, pattern, handler in self._routes:
            m = pattern.fullmatch(req.path)
            if m is None:
                continue
            if req.method not in methods:
                allowed |= methods
                continue
            return handler(req, **m.groupdict())
        if allowed:
            resp = html_response(self.page("Method not allowed", "<h1>405 Method Not Allowed</h1>"), 405)
            resp.headers.append(("Allow", ", ".join(sorted(allowed))))
            return resp
        return self.not_found()

    def not_found(self, message: str = "Page not found") -> Response:
        return html_response(self.page("Not found", f"<h1>{html.escape(message)}</h1>"), 404)

    def page(self, title: str, body: str, head: str = "") -> str:
        """A complete HTML page in the site's simple house style (``body`` is trusted markup)."""
        return page(self.title, title, body, head)

    def documents(self) -> list[Document]:
        """The public pages this site offers to the demo search index."""
        return []


@dataclass(frozen=True)
class Document:
    """A page as the search index knows it: where it is, its title, text and date."""

    path: str
    title: str
    text: str
    published: str | None = None  # ISO date or datetime


@dataclass
class SiteContext:
    """What every site shares: the placeholder map and the demo web's stop signal."""

    placeholders: dict[str, str]
    stop: threading.Event

    def resolve(self, text: str) -> str:
        return resolve_placeholders(text, self.placeholders)


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_-]*)\}")


def resolve_placeholders(text: str, placeholders: dict[str, str]) -> str:
    """Replace ``{name}`` with the base URL of site ``name``; other braces are left alone."""
    return _PLACEHOLDER.sub(lambda m: placeholders.get(m.group(1), m.group(0)), text)


class DemoServer(ThreadingHTTPServer):
    """One site's listener: threaded, daemon threads, reusable address, no stderr output."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    #: socketserver's default listen backlog is 5: a browser rendering a page with many
    #: subresources overflows it, the kernel drops the SYNs, and each dropped connection is
    #: retried after 1, 3, 7, 15... seconds, so a render stalls for a minute on a quiet machine.
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (socket.getfqdn) of the address,
        # which can stall for seconds without a resolver; the name is never needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-stream (size caps, tests reading a few bytes) are normal here.
        # socketserver calls this from inside its ``except`` block, so the exception is current.
        log.debug("demo web: error serving %s", client_address, exc_info=True)  # noqa: LOG014


def make_handler(app: SiteApp, base_url: str,
                 on_request: Callable[[str, str, str], None] | None = None) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one site; ``on_request(site, method, path)`` is called
    as each request arrives (tests log request times per host with it)."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"DemoWeb-{app.name}/1.0"
        sys_version = ""
        timeout = 15  # idle keep-alive connections do not hold threads for long

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s " + format, app.name, self.address_string(), *args)

        def _serve(self) -> None:
            if on_request is not None:
                on_request(app.name, self.command, self.path)
            parts = urlsplit(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_REQUEST_BODY:
                self.close_connection = True
                self._send(text_response("request body too large or malformed", 413))
                return
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, parts.path or "/", parse_qs(parts.query, keep_blank_values=True),
                          self.headers, body, base_url)
            try:
                resp = app.handle(req)
            except Exception:  # a bug in a demo site must not kill the server
                log.exception("demo site %s failed on %s", app.name, self.path)
                resp = text_response("internal error", 500)
            self._send(resp)

        def _send(self, resp: Response) -> None:
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            for k, v in resp.headers:
                self.send_header(k, v)
            streamed = not isinstance(resp.body, (bytes, bytearray))
            if not streamed:
                self.send_header("Content-Length", str(len(resp.body)))  # type: ignore[arg-type]
            else:
                # A stream may be cut short (time cap, stop): never reuse its connection.
                self.close_connection = True
                self.send_header("Connection", "close")
                if resp.length is not None:
                    self.send_header("Content-Length", str(resp.length))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if self.command == "HEAD":
                _close(resp.body)
                return
            if not streamed:
                self.wfile.write(resp.body)  # type: ignore[arg-type]
                return
            chunked = resp.length is None
            chunks: Iterator[bytes] = iter(resp.body)  # type: ignore[arg-type]
            try:
                for chunk in chunks:
                    if not chunk:
                        continue
                    if chunked:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        self.wfile.write(chunk)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                _close(chunks)
            self.wfile.flush()

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = _serve

    return _Handler


def _close(body: Any) -> None:
    close = getattr(body, "close", None)
    if callable(close):
        close()
