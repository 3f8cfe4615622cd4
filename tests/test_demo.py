"""`vet demo`: the whole chain on the demo web, checked end to end (one run, many assertions)."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import vet

# The whole demo runs once for this module (about a minute; more on a loaded machine).
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = vet("demo", "--out", str(out), timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (out / "stdout.txt").write_text(result.stdout)
    return out


def rows(demo: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(demo / "workspace" / "vetting.db") as db:
        return db.execute(sql).fetchall()


def test_every_case_complete_and_uniform(demo: Path) -> None:
    cases = rows(demo, "SELECT candidate_id, status FROM 'case' ORDER BY candidate_id")
    assert len(cases) >= 3 and all(status == "complete" for _, status in cases)
    steps = rows(demo, "SELECT case_id, group_concat(step_id, ',') FROM (SELECT * FROM steprun ORDER BY position) "
                       "GROUP BY case_id")
    assert len({s for _, s in steps}) == 1  # the identical step list for everyone
    assert "uniform: every case ran the procedure's steps in order" in (demo / "stdout.txt").read_text()
    assert vet("uniformity", "--procedure", "kcpd-261-1-preemployment", workspace=demo / "workspace").returncode == 0


def test_no_input_recorded_for_the_candidate_without_usernames(demo: Path) -> None:
    states = Counter(s for (s,) in rows(demo, "SELECT status FROM steprun"))
    assert states["no_input"] >= 1 and states["failed"] == 0


def test_every_collector_and_guard_decision_shows(demo: Path) -> None:
    kinds = Counter(f"{k}:{o}" for k, o in rows(demo, "SELECT kind, outcome FROM item"))
    for expected in ("page:captured", "account:exists", "account:missing", "account:indeterminate",
                     "account:not_checked", "account:refused", "account:not_public", "account:blocked",
                     "search_query:captured", "search_result:captured"):
        assert kinds[expected] >= 1, (expected, kinds)
    reasons = {r for (r,) in rows(demo, "SELECT reason FROM item WHERE outcome IN ('refused','not_checked','indeterminate')")}
    assert any(r.startswith("robots.txt") for r in reasons), reasons
    assert any("GET and HEAD only" in r for r in reasons), reasons
    assert any("protected" in r for r in reasons), reasons
    assert any("unreliable" in r for r in reasons), reasons


def test_evidence_is_valid_warc_and_audit_verifies(demo: Path) -> None:
    warcs = sorted((demo / "workspace" / "evidence" / "warc").rglob("*.warc.gz"))
    assert warcs
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, warcs)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    assert "digest pass" in check.stdout and "sha256" not in check.stderr
    result = vet("audit", "verify", workspace=demo / "workspace")
    assert result.returncode == 0, result.stdout


def test_screenshots_and_rendered_text(demo: Path) -> None:
    artifacts = [json.loads(a) for (a,) in rows(demo, "SELECT artifacts_json FROM item WHERE kind='page' AND outcome='captured'")]
    assert all({"response", "dom", "screenshot", "text"} <= {x["kind"] for x in arts} for arts in artifacts)
    # JS-rendered profile text is only in the rendered DOM, and it reached the item's text
    texts = [t for (t,) in rows(demo, "SELECT text FROM item WHERE kind='page' AND outcome='captured'")]
    assert any(len(t) > 200 for t in texts)


def test_decisions_of_every_kind(demo: Path) -> None:
    decisions = Counter(d for (d,) in rows(demo, "SELECT decision FROM decision"))
    assert decisions["validated"] >= 3 and decisions["rejected"] >= 1 and decisions["unverifiable"] >= 1
    assert rows(demo, "SELECT count(*) FROM concurrence")[0][0] >= 2
    levels = Counter(level for (level,) in rows(demo, "SELECT identity_level FROM assessment"))
    assert levels["confirmed"] >= 1 and levels["possible"] >= 1


def test_guard_decisions_on_the_hostile_links(demo: Path) -> None:
    """Riley's hostile 'homepage' links: each refused or cut off, recorded under the URL asked for."""
    got = {url.rsplit("/", 1)[-1]: (outcome, reason) for url, outcome, reason in
           rows(demo, "SELECT url, outcome, reason FROM item WHERE url LIKE '%127.0.0.15%' AND kind='page'")}
    assert got["redirect-private"] == ("refused", "address: 10.0.0.5 is private")
    assert got["redirect-metadata"] == ("refused", "address: 169.254.169.254 is metadata")
    assert got["redirect-loop"][1].startswith("redirects: over")
    assert got["huge"][1].startswith("size: over") and got["gzip-bomb"][1].startswith("size: over")
    assert got["slow"][1] == "timeout"
    assert got["scripts"][0] == "captured"
    # Request URLs are committed in the log (they can carry a username); the values live apart.
    refused = {s for (s,) in rows(demo, "SELECT v.value FROM audit_event e JOIN personal_value v "
                                        "ON v.commitment = e.subject WHERE e.action='request.refused'")}
    assert "http://10.0.0.5/" in refused and "http://169.254.169.254/latest/meta-data/" in refused


def test_reports_written_and_receipts_verify(demo: Path) -> None:
    reports = demo / "reports"
    cases = [c for (c,) in rows(demo, "SELECT id FROM 'case'")]
    for case in cases:
        for fmt in ("html", "pdf"):
            assert (reports / f"findings-{case}.{fmt}").stat().st_size > 1000
    assert (reports / "audit.pdf").read_bytes().startswith(b"%PDF")
    assert list(reports.glob("process-*.html"))
    jordan = next(reports.glob("findings-case-jordan-hale-*.html"))
    result = vet("report", "verify-receipts", str(jordan), workspace=demo / "workspace")
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = {s for (s,) in rows(demo, "SELECT subject FROM audit_event WHERE action='report.rendered'")}
    assert len(rendered) == len(list(reports.iterdir()))


def _all_bytes(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under ``root``, gzip members (WARC files) decompressed as well."""
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            yield path.relative_to(root).as_posix(), data
            if data[:2] == b"\x1f\x8b":
                try:
                    yield path.relative_to(root).as_posix() + " (decompressed)", gzip.decompress(data)
                except (OSError, EOFError):
                    pass


def test_erasing_a_demo_candidate_leaves_no_value_and_the_log_verifies(demo: Path, tmp_path: Path) -> None:
    """On a copy of the demo's workspace (real WARCs, screenshots, search queries): erase Jordan."""
    ws = tmp_path / "workspace"
    shutil.copytree(demo / "workspace", ws)
    # Not "jhale_kc": the demo's site manifest (part of the approved procedure) uses the fictional
    # candidates' usernames as its "known account" examples, so every case's site health check
    # requests it. It is the written process's text, not Jordan's record, and stays with it.
    values = ["Jordan Hale", "Jordan M. Hale", "Jordy Hale", "jordan.hale@mail.example", "816-555-0187",
              "posts describe street racing and driving home blackout drunk",
              "disclosed this account voluntarily on the personal history statement",
              "Concur: reckless driving and brandishing"]
    before = {v for v in values for _, data in _all_bytes(ws) if v.encode() in data}
    assert before == set(values)  # the grep can fail: each value is there before erasure
    erased = vet("candidate", "erase", "jordan-hale", "--by", "Records Officer Ames (fictional)",
                 "--reason", "retention period ended", workspace=ws)
    assert erased.returncode == 0 and "erased candidate jordan-hale" in erased.stdout, erased.stderr
    left = sorted({(name, v) for name, data in _all_bytes(ws) for v in values if v.encode() in data})
    assert left == []
    assert not list((ws / "evidence" / "warc").glob("case-jordan-hale-*"))
    verify = vet("audit", "verify", workspace=ws)
    assert verify.returncode == 0 and "disposed by design" in verify.stdout, verify.stdout[-3000:]
    jordan = next((demo / "reports").glob("findings-case-jordan-hale-*.html"))
    old = vet("report", "verify-receipts", str(jordan), workspace=ws)
    assert old.returncode == 0 and "DISPOSED" in old.stdout, old.stdout + old.stderr
    case = next(p.name.removeprefix("findings-").removesuffix(".html") for p in [jordan])
    new = vet("report", "findings", case, "-o", str(tmp_path / "after.html"), workspace=ws)
    assert new.returncode == 0 and "Disposed:" in (tmp_path / "after.html").read_text(), new.stderr
