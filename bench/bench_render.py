"""The cost of rendering a captured page in Chromium, per page, on the demo web (issue 11).

    .venv/bin/python bench/bench_render.py [--tree DIR] [--repeat 3] [--json OUT]

Before interception (the commit before this branch's browser work): ``mkdir /tmp/before &&
git archive 465b720 | tar -x -C /tmp/before && bench/bench_render.py --tree /tmp/before``.

A pages crawl (the real ``PagesSpider`` under the real guard settings of the demo procedure:
loopback profile, 0.05 s delay, 4 per host) over the demo web's HTML pages (social profiles
rendered by JavaScript, forum threads, news articles), run twice in fresh processes: with
rendering and without. The difference divided by the number of pages is the render cost per
page; the audit records the crawl's sink received for browser requests, per page, is the
requests figure. ``--tree DIR`` runs the code of another checkout (for the figure *before*
interception: ``git archive <commit> | tar -x -C DIR``), with this checkout's demo web.

Each crawl's time is measured inside its process around the crawl alone (Chromium's launch
included, the interpreter's start-up not). The median of ``--repeat`` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The worker measures the checkout it is given (BENCH_TREE), the parent this one.
sys.path.insert(0, os.environ.get("BENCH_TREE", str(ROOT)))

UA = "KCPD-Vetting/1.0 (+https://agency.example/vetting)"
PATHS = {
    "social": ["/u/casey_nav", "/u/jhale_kc", "/u/rileyc_runs", "/u/riley.quiet", "/"],
    "forum": ["/", "/t/1", "/t/2", "/t/3", "/members"],
    "news": ["/"],
}


def demo_urls(web: Any) -> list[str]:
    urls = [web.base_url(site) + path for site, paths in PATHS.items() for path in paths]
    with urllib.request.urlopen(web.base_url("news") + "/") as r:  # noqa: S310 - loopback
        body = r.read().decode()
    urls += [web.base_url("news") + "/articles/" + part.split('"', 1)[0]
             for part in body.split('href="/articles/')[1:5]]
    ok = []
    for url in urls:
        try:
            with urllib.request.urlopen(url) as r:  # noqa: S310 - loopback
                if r.status == 200 and "html" in r.headers.get("Content-Type", ""):
                    ok.append(url)
        except OSError:
            pass
    return ok


def _cpu() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_worker(tree: Path, urls: list[str], render: bool) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(urls, fh)
        urls_file = fh.name
    env = dict(os.environ, PYTHONPATH=str(tree), BENCH_TREE=str(tree))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", urls_file,
                           "1" if render else "0"], cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    os.unlink(urls_file)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker(urls_file: str, render: bool) -> None:
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    import asyncio

    from scrapy.crawler import AsyncCrawlerRunner
    from scrapy.settings import Settings
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from spiders.browser import launch_options
    from spiders.guard import guard_settings
    from spiders.pages import PagesSpider

    assert Path(sys.modules["spiders"].__file__ or "").resolve().is_relative_to(Path.cwd().resolve()), "wrong tree"

    urls = json.loads(Path(urls_file).read_text())
    records: list[tuple[bool, str]] = []
    captures: list[Any] = []

    class Sink:
        def record_request(self, url: str, method: str, allowed: bool, reason: str, status: int | None = None) -> None:
            records.append((allowed, reason))

    class Context:
        def __init__(self) -> None:
            self.render = render

        def is_captured(self, key: str) -> bool:
            return False

        def save_capture(self, capture: Any) -> None:
            captures.append(capture)

    out: dict[str, Any] = {}

    async def crawl() -> None:
        settings = Settings()
        settings.setmodule("spiders.settings", priority="project")
        settings.setdict(guard_settings("loopback", UA, [], [], Sink(),
                                        {"max_bytes": 5_000_000, "timeout_seconds": 30, "delay_seconds": 0.05,
                                         "concurrency_per_domain": 4, "max_redirects": 5},
                                        launch_options=launch_options()), priority="cmdline")
        settings.set("LOG_LEVEL", "ERROR", priority="cmdline")
        out["cpu0"] = _cpu()
        t0 = time.perf_counter()
        await AsyncCrawlerRunner(settings).crawl(PagesSpider, urls=[(u, "bench") for u in urls], context=Context())
        out["wall_s"] = time.perf_counter() - t0

    def start() -> None:
        d = Deferred.fromFuture(asyncio.ensure_future(crawl()))
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]
    out["cpu_s"] = _cpu() - out.pop("cpu0")  # this process + Chromium and Playwright's driver, reaped
    browser = [r for r in records if "browser" in r[1]]
    out.update({"pages": len(captures), "screenshots": sum(1 for c in captures if c.screenshot),
                "records": len(records), "browser_records": len(browser),
                "browser_refused": sum(1 for allowed, _ in browser if not allowed),
                "subresources_kept": sum(len(getattr(c, "exchanges", []) or []) for c in captures)})
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=ROOT, help="checkout whose spiders/ are measured")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "render.json",
                    help="also write the results here (default bench/results/render.json)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1] == "1")
        return
    from vetting.demoweb import DemoWeb

    with DemoWeb() as web:
        urls = demo_urls(web)
        runs: dict[str, list[dict[str, Any]]] = {"render": [], "plain": []}
        for _ in range(args.repeat):
            for mode in ("plain", "render"):
                runs[mode].append(run_worker(args.tree.resolve(), urls, mode == "render"))
    n = len(urls)
    plain = statistics.median(r["wall_s"] for r in runs["plain"])
    rendered = statistics.median(r["wall_s"] for r in runs["render"])
    last = runs["render"][-1]
    cpu_plain = statistics.median(r["cpu_s"] for r in runs["plain"])
    cpu_render = statistics.median(r["cpu_s"] for r in runs["render"])
    result = {"tree": str(args.tree), "pages": n, "plain_wall_s": round(plain, 3), "render_wall_s": round(rendered, 3),
              "render_s_per_page": round((rendered - plain) / n, 3),
              "render_cpu_s_per_page": round((cpu_render - cpu_plain) / n, 3),
              "browser_requests_per_page": round(last["browser_records"] / n, 2),
              "subresources_kept_per_page": round(last["subresources_kept"] / n, 2),
              "screenshots": last["screenshots"], "loadavg_1min": os.getloadavg()[0],
              "runs": runs}
    print(f"{n} demo pages; without render {plain:.2f} s, with render {rendered:.2f} s (median of {args.repeat}) "
          f"-> {result['render_s_per_page']} s per rendered page ({result['render_cpu_s_per_page']} CPU s); "
          f"{result['browser_requests_per_page']} browser "
          f"requests audited per page, {result['subresources_kept_per_page']} subresources kept per page "
          f"(load {result['loadavg_1min']:.1f})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
