"""Where the Chromium that Playwright drives comes from, and how it is launched: with no
network path of its own.

Playwright cannot download its own browser on the machines this toolkit targets; it drives
Debian's Chromium instead. ``VETTING_CHROMIUM`` overrides the path. Every browser the toolkit
starts is headless, so Debian's ``chromium-headless-shell`` is preferred when installed: the
same engine and version without the desktop browser's user interface, it renders in about half
the time (``make bench``, Chromium alone rendering 10 found profiles: 2.2 s against 4.5 s) with
a smaller browser process (151 MiB against 295; docs/benchmarks.md). The full ``chromium`` is
the fallback.

Every request the browser makes is performed by the guarded fetcher
(:mod:`spiders.guard.browser`). So that nothing can go around that gate (a redirect Chromium
would follow by itself, a preconnect, a WebRTC candidate), Chromium's own network is shut:
:func:`no_network_args` sends every connection to a proxy on a loopback port that this process
holds bound and never listens on (so it refuses, and no other program can take it), with
loopback itself proxied too (``<-loopback>``), and maps every host name to "not found".
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium", "/usr/bin/chromium-browser",
              "/usr/bin/google-chrome")

#: Flags that work headless as root and keep the browser from phoning home on its own.
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
]




class ClosedPort:
    """A loopback TCP port bound and never listened on: connections to it are refused."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()


def no_network_args(closed_port: int) -> list[str]:
    """Chromium flags that leave it no working network path: see the module docstring."""
    return [
        f"--proxy-server=http://127.0.0.1:{closed_port}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--dns-prefetch-disable",
        "--disable-features=NetworkPrediction,Prefetch,PrefetchProxy,SpeculationRulesPrefetchFuture",
    ]


class BrowserNotFound(RuntimeError):
    """No Chromium binary: install Debian's ``chromium-headless-shell`` or ``chromium`` (``make deps``)
    or set VETTING_CHROMIUM."""


def find_chromium() -> str:
    override = os.environ.get("VETTING_CHROMIUM")
    if override:
        if not Path(override).is_file():
            raise BrowserNotFound(f"VETTING_CHROMIUM={override} does not exist")
        return override
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    found = (shutil.which("chromium-headless-shell") or shutil.which("chromium")
             or shutil.which("chromium-browser"))
    if found:
        return found
    raise BrowserNotFound("no Chromium found: install Debian's 'chromium-headless-shell' package "
                          "(make deps) or set VETTING_CHROMIUM to its path")


def launch_options() -> dict[str, object]:
    """Playwright launch options (guard_settings turns them into VETTING_BROWSER_LAUNCH_OPTIONS)."""
    return {"executable_path": find_chromium(), "headless": True, "args": list(LAUNCH_ARGS)}
