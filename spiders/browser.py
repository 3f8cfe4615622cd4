"""Where the Chromium that Playwright drives comes from, and how it is launched.

Playwright cannot download its own browser on the machines this toolkit targets; it drives
Debian's ``chromium`` package instead. ``VETTING_CHROMIUM`` overrides the path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

#: Flags that work headless as root and keep the browser from phoning home on its own.
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
]


class BrowserNotFound(RuntimeError):
    """No Chromium binary: install Debian's ``chromium`` (``make deps``) or set VETTING_CHROMIUM."""


def find_chromium() -> str:
    override = os.environ.get("VETTING_CHROMIUM")
    if override:
        if not Path(override).is_file():
            raise BrowserNotFound(f"VETTING_CHROMIUM={override} does not exist")
        return override
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise BrowserNotFound("no Chromium found: install Debian's 'chromium' package (make deps) "
                          "or set VETTING_CHROMIUM to its path")


def launch_options() -> dict[str, object]:
    """Playwright launch options (PLAYWRIGHT_LAUNCH_OPTIONS)."""
    return {"executable_path": find_chromium(), "headless": True, "args": list(LAUNCH_ARGS)}
