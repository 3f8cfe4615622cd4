"""The render floor: Chromium alone doing the renders of one case, with no crawl and no Python
client beside it. Not a test: ``bench/bench_accounts.py`` runs it (part ``floor``).

    .venv/bin/python bench/render_floor.py URL [URL ...] [--binary PATH] [--pages 8]

Every found profile of a case is rendered inside the case (docs/evidence.md): the raw capture
and the page a person would see, with its screenshot, are both evidence. So no ``vet run``
that finds N profiles can end sooner than Chromium can launch and render those N pages on the
same machine. This script measures exactly that work, nothing else: the renderer's binary and
launch flags (``spiders.browser``: the network shut), one fresh context per page with every
request routed (here served from bytes fetched beforehand, so no fetching is counted), the
page document, ``load`` and network idle, a full-page PNG screenshot and the DOM, at most
``--pages`` at once, as ``spiders.render.Renderer`` does. It prints one JSON line: the wall
time from before the Playwright import to the browser's close, the launch alone, and the
renders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fetch_all(urls: list[str]) -> dict[str, tuple[bytes, str]]:
    """The pages' bytes and content types, fetched before the clock starts (loopback only)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    pages = {}
    for url in urls:
        with opener.open(url, timeout=30) as resp:
            pages[url] = (resp.read(), resp.headers.get("Content-Type", "text/html"))
    return pages


async def render_all(pages: dict[str, tuple[bytes, str]], binary: str | None, at_once: int) -> dict[str, float]:
    t0 = time.perf_counter()
    from playwright.async_api import async_playwright

    from spiders.browser import LAUNCH_ARGS, ClosedPort, find_chromium, no_network_args

    closed = ClosedPort()
    slots = asyncio.Semaphore(at_once)
    shots: list[int] = []

    async def one(browser: object, url: str) -> None:
        body, ctype = pages[url]

        async def serve(route: object) -> None:
            if route.request.url == url:  # type: ignore[attr-defined]
                await route.fulfill(status=200, body=body, headers={"Content-Type": ctype})  # type: ignore[attr-defined]
            else:
                await route.abort()  # type: ignore[attr-defined]

        async with slots:
            context = await browser.new_context(java_script_enabled=True, accept_downloads=False,  # type: ignore[attr-defined]
                                                service_workers="block")
            await context.route("**/*", serve)
            page = await context.new_page()
            await page.goto(url, wait_until="domcontentloaded")
            await page.wait_for_load_state("load")
            await page.wait_for_load_state("networkidle", timeout=10_000)
            shots.append(len(await page.screenshot(full_page=True, type="png")))
            await page.content()
            await context.close()

    async with async_playwright() as pw:
        t1 = time.perf_counter()
        browser = await pw.chromium.launch(executable_path=binary or find_chromium(), headless=True,
                                           args=[*LAUNCH_ARGS, *no_network_args(closed.port)])
        t2 = time.perf_counter()
        await asyncio.gather(*(one(browser, url) for url in pages))
        t3 = time.perf_counter()
        await browser.close()
    closed.close()
    t4 = time.perf_counter()
    return {"wall_s": round(t4 - t0, 3), "playwright_start_s": round(t1 - t0, 3), "launch_s": round(t2 - t1, 3),
            "renders_s": round(t3 - t2, 3), "close_s": round(t4 - t3, 3), "pages": len(pages),
            "screenshots": len(shots), "binary": binary or find_chromium()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("urls", nargs="+")
    p.add_argument("--binary", help="the Chromium to launch (default: the renderer's, spiders.browser)")
    p.add_argument("--pages", type=int, default=8, help="pages rendered at once (VETTING_BROWSER_MAX_PAGES)")
    args = p.parse_args(argv)
    pages = fetch_all(args.urls)
    print(json.dumps(asyncio.run(render_all(pages, args.binary, args.pages))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
