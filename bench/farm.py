"""The loopback site farm: N fake "sites", each on its own 127.x address, for the benchmarks.

    .venv/bin/python bench/farm.py [--sites 500] [--latency 0.05] [--found-every 50] [--lifetime 900]

Why a farm of addresses and not one server: the tools under test (ours, Sherlock, Maigret)
schedule per host (robots.txt per host, per-domain concurrency, connection pools per host),
so a fair account-discovery benchmark needs as many distinct hosts as the site list has
sites. Linux routes the whole of 127.0.0.0/8 to ``lo``, so site ``i`` listens on its own
address (``127.0.1.1``, ``127.0.1.2``, ... ``127.0.1.254``, ``127.0.2.1``, ...), all on one
shared port. Nothing here ever listens on, or talks to, anything outside 127.0.0.0/8.

Why one asyncio process with a hand-written HTTP/1.1 responder: the farm must never be the
bottleneck, and it runs in a process of its own so the measured client keeps the CPU it
needs. Every response waits ``--latency`` seconds (an ``asyncio.sleep``, so thousands of
requests can wait at once) to stand for a real site's round trip.

What each site serves (every response after the latency):

* ``/robots.txt``: allows everything (so the account path is allowed);
* ``/u/<name>``: 200 ``<h1>profile of <name></h1>`` for an existing account, else 404
  ``not found``. On every site the account ``owner<i>`` exists (the manifest's known
  account); the benchmark username (``--username``) exists only on every ``--found-every``-th
  site, so most checks are negatives and only a few found profiles get rendered;
* ``/page/<n>.html`` and ``/page/<n>.txt``: a small page as ``text/html`` or ``text/plain``
  (the render-cost measurement: the toolkit renders HTML only);
* anything else: 404.

Control, on the first site's address without latency: ``/__farm/stats`` (JSON request
counters by kind and by User-Agent family, and ``inflight_max``, the most requests ever
in flight at once: the client's real concurrency) and ``/__farm/reset``.

Lifetime is bounded: the farm exits by itself after ``--lifetime`` seconds, or as soon as its
stdin closes (the parent benchmark died or finished). Once every server listens it prints
one line ``READY <port> <sites>`` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
from collections import Counter
from urllib.parse import unquote

MAX_HEAD = 16 * 1024


def site_address(i: int) -> str:
    """The address of site ``i`` (0-based): 127.0.1.1 .. 127.0.1.254, 127.0.2.1 ..."""
    return f"127.0.{1 + i // 254}.{1 + i % 254}"


def site_index(address: str) -> int:
    _, _, third, fourth = address.split(".")
    return (int(third) - 1) * 254 + int(fourth) - 1


def known_account(i: int) -> str:
    return f"owner{i}"


def username_exists(i: int, found_every: int) -> bool:
    """Whether the benchmark username exists on site ``i``: sites 0, k, 2k, ..."""
    return found_every > 0 and i % found_every == 0


def ua_family(ua: str) -> str:
    low = ua.lower()
    for needle, name in (("kcpd", "vetting"), ("vetting", "vetting"), ("headlesschrome", "chromium"),
                         ("python-requests", "requests"), ("aiohttp", "aiohttp")):
        if needle in low:
            return name
    return "other" if ua else "none"


class Farm:
    def __init__(self, sites: int, latency: float, username: str, found_every: int):
        self.sites = sites
        self.latency = latency
        self.username = username
        self.found_every = found_every
        self.counts: Counter[str] = Counter()
        self.agents: Counter[str] = Counter()
        self.connections = 0
        self.inflight = 0  # requests waiting out their latency right now
        self.inflight_max = 0  # the most ever at once: the client's real concurrency

    # -- responses -----------------------------------------------------------------------
    def respond(self, site: int, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for ``path`` on site ``site``."""
        path = unquote(path.split("?", 1)[0])
        if path == "/robots.txt":
            self.counts["robots"] += 1
            return 200, "text/plain", b"User-agent: *\nAllow: /\n"
        if path.startswith("/u/"):
            name = path[3:]
            self.counts["account"] += 1
            if name == known_account(site) or (name == self.username and username_exists(site, self.found_every)):
                self.counts["account_200"] += 1
                body = (f"<!doctype html><html><head><title>{name} on site{site}</title></head>"
                        f"<body><h1>profile of {name}</h1><p>Member of site{site}.</p></body></html>")
                return 200, "text/html; charset=utf-8", body.encode()
            return 404, "text/html; charset=utf-8", b"<!doctype html><html><body><p>not found</p></body></html>"
        if path.startswith("/page/"):
            stem, _, ext = path[6:].rpartition(".")
            if ext in ("html", "txt"):
                self.counts[f"page_{ext}"] += 1
                if ext == "html":
                    body = (f"<!doctype html><html><head><title>Page {stem}</title></head><body>"
                            f"<h1>Page {stem}</h1><p>A public page of site{site} for the render benchmark."
                            f"</p></body></html>").encode()
                    return 200, "text/html; charset=utf-8", body
                return 200, "text/plain; charset=utf-8", f"Page {stem}\nA public page of site{site}.\n".encode()
        self.counts["other"] += 1
        return 404, "text/plain", b"not found\n"

    def control(self, path: str) -> tuple[int, str, bytes]:
        if path == "/__farm/reset":
            self.counts.clear()
            self.agents.clear()
            self.inflight_max = 0
            self.connections = 0
        body = json.dumps({"counts": dict(self.counts), "agents": dict(self.agents),
                           "connections": self.connections, "inflight_max": self.inflight_max,
                           "sites": self.sites,
                           "latency": self.latency}).encode()
        return 200, "application/json", body

    # -- HTTP/1.1 ------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: requests answered in order, kept alive unless the client closes."""
        self.connections += 1
        sockname = writer.get_extra_info("sockname")
        site = site_index(sockname[0])
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    return
                method, target, version = parts
                headers = {}
                for line in lines[1:]:
                    key, sep, value = line.partition(":")
                    if sep:
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    await reader.readexactly(length)
                if target.startswith("http://") or target.startswith("https://"):
                    target = "/" + target.split("/", 3)[-1]
                if target.startswith("/__farm/"):
                    status, ctype, body = self.control(target)
                else:
                    self.agents[ua_family(headers.get("user-agent", ""))] += 1
                    self.inflight += 1
                    self.inflight_max = max(self.inflight_max, self.inflight)
                    try:
                        await asyncio.sleep(self.latency)
                    finally:
                        self.inflight -= 1
                    status, ctype, body = self.respond(site, target)
                close = (headers.get("connection", "").lower() == "close"
                         or (version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive"))
                reason = {200: "OK", 404: "Not Found"}.get(status, "OK")
                out = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                       f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                       f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
                writer.write(out if method == "HEAD" else out + body)
                await writer.drain()
                if close:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()


async def listen_all(farm: Farm, port: int) -> tuple[int, list[asyncio.Server]]:
    """Bind every site's address on one port; with port 0, the first bind picks a free one."""
    servers: list[asyncio.Server] = []
    for attempt in range(20):
        chosen = port
        try:
            for i in range(farm.sites):
                server = await asyncio.start_server(farm.handle, site_address(i), chosen,
                                                    backlog=1024, reuse_address=True, limit=MAX_HEAD)
                if chosen == 0:
                    chosen = server.sockets[0].getsockname()[1]
                servers.append(server)
            return chosen, servers
        except OSError:  # the port picked on the first address is taken on another: start over
            for server in servers:
                server.close()
            servers.clear()
            if port != 0 or attempt == 19:
                raise
    raise RuntimeError("unreachable")


def exit_when_stdin_closes() -> None:
    """The parent benchmark owns the farm: when it goes away, so does the farm."""
    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


async def main(args: argparse.Namespace) -> None:
    farm = Farm(args.sites, args.latency, args.username, args.found_every)
    port, _servers = await listen_all(farm, args.port)
    print(f"READY {port} {args.sites}", flush=True)
    if args.watch_stdin:
        exit_when_stdin_closes()
    await asyncio.sleep(args.lifetime)
    print(f"farm: lifetime of {args.lifetime:.0f} s over, exiting", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sites", type=int, default=500, help="number of sites (each its own 127.x address)")
    p.add_argument("--latency", type=float, default=0.05, help="seconds each response waits")
    p.add_argument("--port", type=int, default=0, help="shared port (0: a free one)")
    p.add_argument("--username", default="benchuser", help="the username being searched for")
    p.add_argument("--found-every", type=int, default=50,
                   help="the username exists on every N-th site (0: nowhere)")
    p.add_argument("--lifetime", type=float, default=900, help="exit after this many seconds")
    p.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    args = p.parse_args(argv)
    if not 1 <= args.sites <= 254 * 254:
        p.error("--sites must be between 1 and 64516")
    return args


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    asyncio.run(main(parse_args()))
