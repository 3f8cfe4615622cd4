"""Benchmark of the redacted pictures hiring staff see (vetting.reports.redaction), per finding.
Not a test: run it by hand or with `make bench`.

    .venv/bin/python bench/bench_redaction.py [--findings N] [--keep DIR]

One case with N validated findings (default 24) whose archived pages are, in turn: the demo's
corpus blog page (protected words in headings, captions, CSS badges, pictures, four
languages), a 231,102 px tall page with the finding near the bottom, and a plain post. It
times ``redacted_pictures`` for the whole case (one Chromium launch, then each picture drawn,
boxed and recorded as an ``evidence.redacted`` event), then again (every picture reused from
its recorded event, re-hashed). Results go to bench/results/redaction.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from report_fixtures import Built, add_candidate_case, add_item, flag, new_workspace, run_steps, validate

from vetting.demoweb.content import load
from vetting.demoweb.http import SiteContext
from vetting.demoweb.sites.accounts import AccountSite
from vetting.reports.redaction import redacted_pictures

DISCREDIT = "Pointing a weapon at a person in public, posted for an audience."
TARGET_PER_FINDING_S = 2.0


def pages() -> list[tuple[str, str]]:
    """(body markup, conduct phrase) of the three kinds of page."""
    spec = next(s for s in load("accounts")["sites"] if s["name"] == "scribbles")
    site = AccountSite(SiteContext(placeholders={}, stop=threading.Event()), spec)
    blog = site.render_profile("tbrooks-outdoors", spec["accounts"]["tbrooks-outdoors"])
    blog_body = blog.split("<body>", 1)[1].split("</body>", 1)[0]
    style = blog[blog.index("<style>"):blog.rindex("</style>") + 8]
    long_page = ('<div style="height:200000px">top</div><p>Pointing my rifle at the mail carrier, a Baptist.</p>'
                 '<div style="height:31000px"></div>')
    plain = "<p>Friday: pointing my rifle at passing cars from the range road, my Catholic cousin filming.</p>"
    return [(style + blog_body, "pointing my baton"), (long_page, "Pointing my rifle"), (plain, "pointing my rifle")]


def build(root: Path, n: int) -> Built:
    b = Built(new_workspace(root))
    add_candidate_case(b, root, "bench-candidate", "Bench Candidate")
    run_steps(b, "bench-candidate")
    kinds = pages()
    for i in range(n):
        body, phrase = kinds[i % len(kinds)]
        body = body + f"<p>post {i}</p>"
        item = add_item(b, "bench-candidate", f"p{i}", body, title=f"Post {i}",
                        flags=[flag(body, phrase, "tactical-instruments", "IV.C.1.e", True)])
        validate(b, item, ("tactical-instruments",), discredit=DISCREDIT)
    return b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=24)
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspace here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-redaction-"))
    root.mkdir(parents=True, exist_ok=True)
    b = build(root, args.findings)
    case_id = b.case_id("bench-candidate")
    ids = list(b.items)

    t0 = time.perf_counter()
    views = redacted_pictures(b.ws, case_id, ids)
    first_s = time.perf_counter() - t0
    events = [e.payload for e in b.ws.audit.events(case_id=case_id) if e.action == "evidence.redacted"]
    per_picture = sorted(p["seconds"] for p in events)
    t0 = time.perf_counter()
    redacted_pictures(b.ws, case_id, ids)
    reuse_s = time.perf_counter() - t0
    assert all(v.png for v in views.values())

    def pct(q: float) -> float:
        return per_picture[min(len(per_picture) - 1, int(q * len(per_picture)))]

    results = {
        "findings": args.findings,
        "first_pass_s": round(first_s, 2),
        "per_finding_s": round(first_s / args.findings, 3),
        "picture_s": {"min": per_picture[0], "median": pct(0.5), "p90": pct(0.9), "max": per_picture[-1]},
        "boxes_per_picture_max": max(len(p["boxes"]) for p in events),
        "picture_height_max": max(p["redacted"]["height"] for p in events),
        "reuse_s": round(reuse_s, 3),
        "target_per_finding_s": TARGET_PER_FINDING_S,
        "meets_target": first_s / args.findings <= TARGET_PER_FINDING_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    for key in ("findings", "first_pass_s", "per_finding_s", "picture_s", "boxes_per_picture_max",
                "picture_height_max", "reuse_s", "meets_target"):
        print(f"{key:<22} {results[key]}")
    out = ROOT / "bench" / "results" / "redaction.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
