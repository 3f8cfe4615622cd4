"""Benchmark of the findings report at scale: one case with N validated findings (default 1,000).
Not a test: run it by hand or with `make bench`.

    .venv/bin/python bench/bench_reports.py [--findings N] [--keep DIR]

The case is built the way the report tests build theirs (no crawler): real stored evidence
(response, text, and a distinct PNG screenshot per item), screening rows, and every decision
through the real ``vetting.review.validation.decide`` / ``concur`` (half the findings are adverse
and concurred, half validated without a category). Then it times, separately:

* redaction: ``redacted_pictures``, the hiring-staff picture of every finding drawn offline
  from its archived page and recorded (bench_redaction.py measures it per kind of page);
* data: ``findings_report`` (the gate re-hashes every item's evidence, embeds the recorded
  pictures, computes an inclusion proof per decision event);
* HTML: the Jinja render alone (target <= 3 s for 1,000 findings);
* PDF: printing that HTML with headless Chromium (target <= 60 s), including the launch;
* receipts: ``verify_receipts`` over the rendered HTML.

Results go to bench/results/reports.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import struct
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from report_fixtures import (
    Built,
    add_candidate_case,
    add_item,
    flag,
    new_workspace,
    run_steps,
    validate,
)

from vetting.reports.data import findings_report
from vetting.reports.findings import findings_data
from vetting.reports.redaction import redacted_pictures
from vetting.reports.render import findings_html, print_pdfs, verify_receipts

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TARGET_HTML_S = 3.0
TARGET_PDF_S = 60.0
DISCREDIT = "Pointing a firearm at people in public, posted for an audience."


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


SHOT_W, SHOT_H, NOISE_ROWS = 320, 180, 20
_BASE_ROWS = [bytes(v for x in range(SHOT_W) for v in (x * 255 // SHOT_W, (y // 30) * 40, 200))
              for y in range(SHOT_H)]


def screenshot(i: int) -> bytes:
    """A distinct PNG per item: a gradient (compressible, like a page) with a noise band keyed by i."""
    rnd = random.Random(i)
    rows = [rnd.randbytes(SHOT_W * 3) for _ in range(NOISE_ROWS)] + _BASE_ROWS[NOISE_ROWS:]
    return _png(SHOT_W, SHOT_H, rows)


def build(root: Path, n: int) -> Built:
    b = Built(new_workspace(root))
    add_candidate_case(b, root, "bench-candidate", "Bench Candidate")
    run_steps(b, "bench-candidate", refused=3)
    for i in range(n):
        text = (f"Post {i}: out at the range road with friends, pointing my rifle at passing cars. "
                + "Some ordinary words about the weekend and the weather. " * 6)
        if i % 2:
            item = add_item(b, "bench-candidate", f"p{i}", text, title=f"Post {i}",
                            flags=[flag(text, "pointing my rifle", "tactical-instruments", "IV.C.1.e", True)],
                            screenshot=screenshot(i))
            validate(b, item, ("tactical-instruments",), discredit=DISCREDIT, mitigating=f"note {i}")
        else:
            item = add_item(b, "bench-candidate", f"p{i}", text, title=f"Post {i}", screenshot=screenshot(i))
            validate(b, item)
    return b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=1000)
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspace and report here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-reports-"))
    root.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    b = build(root, args.findings)
    setup_s = time.perf_counter() - t0
    case_id = b.case_id("bench-candidate")

    t0 = time.perf_counter()
    redacted_pictures(b.ws, case_id, [f.item_id for f in findings_data(b.ws, case_id).findings])
    redaction_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = findings_report(b.ws, case_id)
    data_s = time.perf_counter() - t0
    assert len(report.findings) == args.findings, len(report.findings)

    html_runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        html = findings_html(report, AT)
        html_runs.append(time.perf_counter() - t0)
    html_s = min(html_runs)
    html_path = root / "findings.html"
    html_path.write_text(html, encoding="utf-8")

    t0 = time.perf_counter()
    (pdf,) = print_pdfs([(html, AT)])
    pdf_s = time.perf_counter() - t0
    (root / "findings.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))

    t0 = time.perf_counter()
    check = verify_receipts(b.ws, html_path)
    receipts_s = time.perf_counter() - t0
    assert check.ok, check.problems[:3] if check.problems else None

    results = {
        "findings": args.findings,
        "setup_s": round(setup_s, 2),
        "redaction_s": round(redaction_s, 2),
        "redaction_s_per_finding": round(redaction_s / args.findings, 3),
        "data_s": round(data_s, 3),
        "html_render_s": round(html_s, 3),
        "html_render_runs_s": [round(x, 3) for x in html_runs],
        "html_bytes": len(html.encode("utf-8")),
        "screenshot_bytes_each_avg": round(sum(len(screenshot(i)) for i in range(0, args.findings, 97))
                                           / len(range(0, args.findings, 97))),
        "pdf_s": round(pdf_s, 2),
        "pdf_bytes": len(pdf),
        "pdf_pages": pages,
        "receipts": check.checked,
        "verify_receipts_s": round(receipts_s, 2),
        "targets": {"html_render_s": TARGET_HTML_S, "pdf_s": TARGET_PDF_S},
        "meets_targets": html_s <= TARGET_HTML_S and pdf_s <= TARGET_PDF_S,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    rows = [
        ("findings", f"{args.findings:,}"),
        ("setup (items + decisions)", f"{setup_s:.1f} s"),
        ("redacted pictures (incl. launch)", f"{redaction_s:.1f} s, {redaction_s / args.findings:.2f} s/finding"),
        ("data (gate, pictures, proofs)", f"{data_s:.2f} s"),
        ("HTML render (best of 3)", f"{html_s:.2f} s  (target <= {TARGET_HTML_S:.0f} s)"),
        ("HTML size", f"{len(html.encode()) / 2**20:.1f} MiB"),
        ("PDF print (incl. launch)", f"{pdf_s:.1f} s  (target <= {TARGET_PDF_S:.0f} s)"),
        ("PDF size / pages", f"{len(pdf) / 2**20:.1f} MiB / {pages} pages"),
        ("verify receipts", f"{check.checked:,} in {receipts_s:.2f} s"),
    ]
    width = max(len(a) for a, _ in rows)
    for a, v in rows:
        print(f"{a:<{width}}  {v}")
    out = ROOT / "bench" / "results" / "reports.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
