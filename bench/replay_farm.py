"""A loopback replay of real WhatsMyName entries, for the benchmarks.

    .venv/bin/python bench/replay_farm.py --sites 100 --usernames 28 --manifest OUT.json [--latency 0.05]

Takes the first ``--sites`` checkable GET entries of the shipped site list
(``procedures/sites/whatsmyname.json``, derived from WhatsMyName, CC BY-SA 4.0), every host
renamed under ``.localhost`` (``https://www.x.com/u/{account}`` becomes
``http://s7-www-x-com.localhost:PORT/u/{account}``, a subdomain site
``http://{account}.s7-x-com.localhost:PORT/``), and answers each check as the entry says the
real site answers: the found status and text for an account that exists, the missing status
and text otherwise (a 3xx with a ``Location``), after ``--latency`` seconds. It writes that
``vetting-sites/1`` manifest, the usernames and the truth (which account exists where) to
``--manifest`` and friends, prints ``READY <port>`` and serves on 127.0.0.1 until its stdin
closes. Nothing here listens on or talks to anything outside loopback.

The truth: every entry's known account exists; username ``k`` exists on site ``i`` when
``(7 * i + k) % 36 == 0`` (about 78 pairs of 2,800, as in the issue's replay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "procedures" / "sites" / "whatsmyname.json"


def _sanitize(host: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-")[:40]


def rewrite(url: str, i: int, port: int) -> str:
    scheme_rest = url.split("://", 1)[1]
    host, _, rest = scheme_rest.partition("/")
    if host.startswith("{account}."):
        new = "{account}." + f"s{i}-{_sanitize(host[len('{account}.'):])}.localhost"
    else:
        new = f"s{i}-{_sanitize(host)}.localhost"
    return f"http://{new}:{port}/{rest}"


def pick(n: int) -> list[dict[str, Any]]:
    """The first ``n`` entries a check can be run on (GET, nothing required), in file order,
    with every subdomain and 3xx entry among them moved to the front so both are replayed."""
    sites = json.loads(SHIPPED.read_text(encoding="utf-8"))["sites"]
    ok = [s for s in sites if not s.get("requires") and s.get("method", "GET") == "GET" and not s.get("protection")]
    special = [s for s in ok if "{account}." in s["check_url"] or s.get("follow_redirects") is False]
    rest = [s for s in ok if s not in special]
    return (special[:n // 3] + rest)[:n]


def usernames(k: int) -> list[str]:
    return [f"replayuser{j:02d}" for j in range(k)]


def exists(i: int, j: int) -> bool:
    return (7 * i + j) % 36 == 0


class Replay:
    def __init__(self, sites: list[dict[str, Any]], names: list[str], port: int, latency: float):
        self.latency = latency
        self.names = names
        self.by_host: dict[str, tuple[int, dict[str, Any], bool, re.Pattern[str] | None]] = {}
        self.manifest: list[dict[str, Any]] = []
        self.truth: dict[str, list[str]] = {}
        self.counts: Counter[str] = Counter()
        self.profiles: dict[str, list[tuple[dict[str, Any], bool, re.Pattern[str] | None]]] = {}
        for i, site in enumerate(sites):
            entry = dict(site)
            entry["check_url"] = rewrite(site["check_url"], i, port)
            entry["profile_url"] = rewrite(site["profile_url"], i, port)
            self.manifest.append(entry)
            sub = entry["check_url"].split("/")[2].startswith("{account}.")
            host = entry["check_url"].split("/")[2].split(":")[0].removeprefix("{account}.")
            tail = "/" + entry["check_url"].split("/", 3)[3].split("#", 1)[0]
            pattern = None if sub else re.compile(
                re.escape(tail).replace(re.escape("{account}"), "(?P<account>[^/?&#]*)") + "/?")
            self.by_host[host] = (i, entry, sub, pattern)
            # The public profile, when it is another page than the check (an API, a JSON
            # endpoint): a found account's profile is rendered from it, so it is served too.
            phost = entry["profile_url"].split("/")[2].split(":")[0].removeprefix("{account}.")
            ptail = "/" + entry["profile_url"].split("/", 3)[3].split("#", 1)[0]
            psub = entry["profile_url"].split("/")[2].startswith("{account}.")
            ppattern = None if psub else re.compile(
                re.escape(ptail).replace(re.escape("{account}"), "(?P<account>[^/?&#]*)") + "/?")
            if entry["profile_url"] != entry["check_url"]:
                self.profiles.setdefault(phost, []).append((entry, psub, ppattern))
            holders = {site["known_account"]} if site.get("known_account") else set()
            holders.update(n for j, n in enumerate(names) if exists(i, j))
            self.truth[site["name"]] = sorted(holders)

    def answer(self, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            self.counts["robots"] += 1
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"
        self.counts["account"] += 1
        account, found = None, None
        for candidate in (host, host.split(".", 1)[1] if "." in host else ""):
            found = self.by_host.get(candidate)
            if found is None:
                continue
            _, entry, sub, pattern = found
            if sub and candidate != host:
                account = host.split(".", 1)[0]
            elif not sub and pattern is not None:
                m = pattern.fullmatch(path)
                account = unquote(m.group("account")) if m else None
            break
        if found is None or account is None:
            return self.profile(host, path)
        entry = found[1]
        holders = {h.lower() for h in self.truth[entry["name"]]}
        rule = entry["exists"] if account.lower() in holders else entry["missing"]
        status = rule["status"][0] if rule["status"] else 200
        text = rule.get("contains") or ""
        text = text[0] if isinstance(text, list) else text
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if 300 <= status < 400:
            headers["Location"] = "/"
        body = b"" if status in (204, 304) else f"<html><body><p>{text}</p></body></html>".encode()
        return status, headers, body

    def profile(self, host: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """A found account's public profile page (HTML); 404 for anyone else or any other path."""
        for candidate in (host, host.split(".", 1)[1] if "." in host else ""):
            for entry, sub, pattern in self.profiles.get(candidate, []):
                if sub:
                    account = host.split(".", 1)[0] if candidate != host else None
                else:
                    m = pattern.fullmatch(path) if pattern is not None else None
                    account = unquote(m.group("account")) if m else None
                if account and account.lower() in {h.lower() for h in self.truth[entry["name"]]}:
                    self.counts["profile"] += 1
                    page = f"<html><body><h1>{account}</h1><p>public profile</p></body></html>"
                    return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()
        return 404, {"Content-Type": "text/plain"}, b"no such page"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                method, target, _ = parts
                headers = {}
                for line in lines[1:]:
                    k, sep, v = line.partition(":")
                    if sep:
                        headers[k.strip().lower()] = v.strip()
                host = headers.get("host", "").rsplit(":", 1)[0].lower()
                if target == "/__farm/stats":
                    status, hdrs, body = 200, {"Content-Type": "application/json"}, json.dumps(
                        {"counts": dict(self.counts)}).encode()
                else:
                    await asyncio.sleep(self.latency)
                    status, hdrs, body = self.answer(host, target)
                out = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                if status not in (204, 304):
                    out += f"Content-Length: {len(body)}\r\n"
                out += "Connection: keep-alive\r\n\r\n"
                writer.write(out.encode() + (b"" if method == "HEAD" else body))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()


async def main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # reserve a port
    port = server.sockets[0].getsockname()[1]
    server.close()
    names = usernames(args.usernames)
    replay = Replay(pick(args.sites), names, port, args.latency)
    server = await asyncio.start_server(replay.handle, "127.0.0.1", port, backlog=1024)
    out = Path(args.manifest)
    out.write_text(json.dumps({"format": "vetting-sites/1",
                               "source": "WhatsMyName entries (CC BY-SA 4.0) replayed on loopback",
                               "license": "CC BY-SA 4.0", "sites": replay.manifest}), encoding="utf-8")
    out.with_suffix(".truth.json").write_text(json.dumps({"usernames": names, "truth": replay.truth}),
                                              encoding="utf-8")
    print(f"READY {port}", flush=True)

    def watch() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        import os

        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
    async with server:
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sites", type=int, default=100)
    p.add_argument("--usernames", type=int, default=28)
    p.add_argument("--latency", type=float, default=0.05)
    p.add_argument("--manifest", required=True)
    p.add_argument("--lifetime", type=float, default=1800)
    asyncio.run(main(p.parse_args()))
