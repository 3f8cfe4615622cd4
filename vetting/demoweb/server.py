"""``DemoWeb``: start every demo site on its own loopback address, on one shared port.

Each site gets its own address (127.0.0.11, .12, ...; Linux routes all of 127/8 to ``lo``) so
that URLs differ by host, as real sites do, and per-host rules (robots.txt, rate limits,
allow/deny lists) can be exercised. All sites share one port, picked by the kernel for the
first site and reused for the others; if that port is taken on another address, everything is
closed and tried again with a fresh port. Nothing ever binds outside 127/8.
"""

from __future__ import annotations

import errno
import ipaddress
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Self

from vetting.demoweb.content import CANDIDATES_DIR, MANIFESTS_DIR
from vetting.demoweb.http import DemoServer, SiteContext, make_handler, resolve_placeholders
from vetting.demoweb.sites import build_sites, site_names

FIRST_HOST = 11
BIND_ATTEMPTS = 25
WMN_MANIFEST = "wmn-demo.json"
SHERLOCK_MANIFEST = "sherlock-demo.json"


class DemoWebError(RuntimeError):
    """The demo web could not start (no free port, or a non-loopback address was asked for)."""


def site_address(index: int) -> str:
    """The loopback address of the ``index``-th site; refuses anything outside 127/8."""
    address = f"127.0.0.{FIRST_HOST + index}"
    if not ipaddress.ip_address(address).is_loopback or FIRST_HOST + index > 254:
        raise DemoWebError(f"{address} is not a usable loopback address")
    return address


class DemoWeb:
    """The bundled fictional web, served on loopback for ``vet demo`` and the tests.

    Use as a context manager: ``with DemoWeb() as web: web.base_url("social")``. ``port=0``
    (default) picks a free port; a fixed ``port`` is used as given, with no retry.
    ``on_request(site, method, path)``, if given, is called as each request arrives.
    """

    def __init__(self, port: int = 0, on_request: Callable[[str, str, str], None] | None = None) -> None:
        self.requested_port = port
        self.on_request = on_request
        self.port: int | None = None
        self.names = site_names()
        self._servers: dict[str, DemoServer] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.placeholders: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> Self:
        """Bind every site, then serve each in a daemon thread; returns once all are listening."""
        if self._servers:
            raise DemoWebError("the demo web is already running")
        self._stop = threading.Event()
        self._servers = self._bind_all()
        self.port = next(iter(self._servers.values())).server_address[1]
        self.placeholders = {name: f"http://{srv.server_address[0]}:{self.port}"
                             for name, srv in self._servers.items()}
        context = SiteContext(dict(self.placeholders), self._stop)
        apps = build_sites(context)
        for name, srv in self._servers.items():
            srv.RequestHandlerClass = make_handler(apps[name], self.placeholders[name], self.on_request)
            thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"demoweb-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _bind_all(self) -> dict[str, DemoServer]:
        attempts = 1 if self.requested_port else BIND_ATTEMPTS
        last_error: OSError | None = None
        for _ in range(attempts):
            servers: dict[str, DemoServer] = {}
            port = self.requested_port
            try:
                for i, name in enumerate(self.names):
                    # The handler is set once every address is bound and the sites know their URLs.
                    srv = DemoServer((site_address(i), port), BaseHTTPRequestHandler)
                    port = srv.server_address[1]
                    servers[name] = srv
                return servers
            except OSError as exc:
                for srv in servers.values():
                    srv.server_close()
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                last_error = exc
        raise DemoWebError(f"no port free on every demo address after {attempts} attempt(s): {last_error}")

    def stop(self) -> None:
        """Stop every site: end streaming responses, stop accepting, close the sockets."""
        self._stop.set()
        stoppers = [threading.Thread(target=srv.shutdown, daemon=True) for srv in self._servers.values()]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=5)
        for srv in self._servers.values():
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    @property
    def running(self) -> bool:
        return bool(self._servers)

    # -- the API the engine and tests use -----------------------------------------------------

    def base_url(self, name: str) -> str:
        """``http://127.0.0.N:PORT`` of site ``name``."""
        try:
            return self.placeholders[name]
        except KeyError:
            raise KeyError(f"no demo site {name!r}; known: {', '.join(self.names)}") from None

    def resolve(self, text: str) -> str:
        """Replace ``{name}`` placeholders of known site names with their base URLs."""
        if not self.placeholders:
            raise DemoWebError("the demo web is not running: start it before resolving URLs")
        return resolve_placeholders(text, self.placeholders)

    @staticmethod
    def candidate_files() -> list[Path]:
        """The shipped sample candidates (YAML, with ``{site}`` placeholders), sorted by name."""
        return sorted(CANDIDATES_DIR.glob("*.yaml"))

    @staticmethod
    def sites_manifest_path() -> Path:
        """The WhatsMyName-format manifest of the demo's account sites (with placeholders)."""
        return MANIFESTS_DIR / WMN_MANIFEST

    @staticmethod
    def sherlock_manifest_path() -> Path:
        """A Sherlock ``data.json``-format manifest of some of the same sites (with placeholders)."""
        return MANIFESTS_DIR / SHERLOCK_MANIFEST
