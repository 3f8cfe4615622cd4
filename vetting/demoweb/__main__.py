"""``python -m vetting.demoweb [--port N]``: serve the demo web in the foreground.

Handy for looking at the fictional sites in a browser, or for pointing ``scrapy crawl`` at
them while debugging. Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from vetting.demoweb.server import DemoWeb, DemoWebError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vetting.demoweb",
                                     description="Serve the fictional demo web on loopback addresses.")
    parser.add_argument("--port", type=int, default=0,
                        help="port shared by every site (default: any free port)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        web = DemoWeb(port=args.port).start()
    except (DemoWebError, OSError) as exc:
        print(f"cannot start the demo web: {exc}", file=sys.stderr)
        return 1
    try:
        width = max(len(n) for n in web.placeholders)
        print("demo web (fictional, loopback only):")
        for name, url in web.placeholders.items():
            print(f"  {name:<{width}}  {url}/")
        print(f"WhatsMyName manifest: {web.sites_manifest_path()}")
        print(f"sample candidates:    {web.candidate_files()[0].parent}")
        print("Ctrl-C to stop.", flush=True)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        web.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
