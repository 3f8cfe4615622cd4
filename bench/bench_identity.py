"""Identity assessment speed on large and hostile pages (seconds per page, one core).

    .venv/bin/python bench/bench_identity.py [--repeat 3]

Every collected page is assessed once per case, so the cost that matters is a page of about a
megabyte, ordinary or built to be slow: many phone-shaped numbers (each one a candidate for
libphonenumber parsing), the candidate's name tens of thousands of times (each one a place to
read descriptors), "born in <year>" over and over. Target: under 3 s of CPU for any 1 MB page
on the 2-core reference machine (CPU time, not wall time: the machine is shared). Writes
bench/results/identity.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vetting.screening.identity import CandidateIdentifiers, PageEvidence, assess_identity  # noqa: E402

TARGET_S = 3.0
PAGES = {
    "prose_with_numbers": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Call 816-555-0100 now. " * 13000,
    "candidate_numbers": "816-555-0177 " * 60000,
    "varied_numbers": "".join(f"call 816-555-{i % 10000:04d}, " for i in range(50000)),
    "name_with_descriptors": "Maria Gutierrez, Phoenix AZ, born 1971. " * 25000,
    "initials": "Mari G. " * 120000,
    "born_in": "born in 1994 " * 80000,
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    ids = CandidateIdentifiers(full_name="Maria Gutierrez", aliases=["Mari Gutierrez"], date_of_birth=date(1994, 5, 3),
                               city="Kansas City", state="MO", phones=["816-555-0177", "+44 20 7946 0958"],
                               emails=["maria.g@mail.example"], usernames=["mgutz94"],
                               profile_urls=["https://social.example/u/mgutz94"])
    results: dict[str, object] = {"target_s": TARGET_S}
    worst = 0.0
    for name, text in PAGES.items():
        cpu, wall = [], []
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            assess_identity(ids, PageEvidence(url="https://pages.example/p", text=text), as_of=date(2026, 11, 24))
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
        # CPU time is the figure: on a shared machine the wall clock measures the neighbours
        best = min(cpu)
        worst = max(worst, best)
        results[name] = {"mb": round(len(text) / 1e6, 2), "cpu_s": round(best, 3), "wall_s": round(min(wall), 3)}
        print(f"{name:24} {len(text) / 1e6:5.2f} MB  cpu {best:6.3f} s  wall {min(wall):6.3f} s")
    results["worst_s"] = round(worst, 3)
    results["meets_target"] = worst < TARGET_S
    out = Path(__file__).resolve().parent / "results" / "identity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
