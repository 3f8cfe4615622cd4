"""`vet demo`: the whole chain on the demo web, checked end to end (one run, many assertions)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
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


def demo_accounts(demo: Path) -> dict[str, dict[str, str]]:
    """``accounts.txt``: one section per login, ``key = value`` lines."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in (demo / "accounts.txt").read_text().splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif " = " in line and not line.startswith("#"):
            key, value = line.split(" = ", 1)
            current[key] = value
    return sections


@pytest.fixture(scope="module")
def logged_in(demo: Path, tmp_path_factory) -> Callable[[str], dict[str, str]]:
    """Log in to the demo workspace as one of its accounts (the real ``vet login``, password and
    TOTP code from accounts.txt); returns the environment of commands acting as that account."""
    import time

    import pyotp

    sessions: dict[str, dict[str, str]] = {}
    accounts = demo_accounts(demo)

    def login(name: str) -> dict[str, str]:
        if name not in sessions:
            env = {"XDG_CONFIG_HOME": str(tmp_path_factory.mktemp(f"config-{name}"))}
            for _ in range(2):  # a code already used by the demo's own login waits for the next step
                code = pyotp.TOTP(accounts[name]["totp_secret"]).now()
                result = subprocess.run([sys.executable, "-m", "vetting.cli.main", "--workspace", str(demo / "workspace"),
                                         "login", name], input=f"{accounts[name]['password']}\n{code}\n",
                                        capture_output=True, text=True, timeout=120, env={**os.environ, **env})
                if result.returncode == 0:
                    break
                time.sleep(31 - time.time() % 30)
            assert result.returncode == 0, result.stderr
            sessions[name] = env
        return sessions[name]

    return login


def rows(demo: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(demo / "workspace" / "vetting.db") as db:
        return db.execute(sql).fetchall()


def test_every_case_complete_and_uniform(demo: Path, logged_in) -> None:
    cases = rows(demo, "SELECT candidate_id, status FROM 'case' ORDER BY candidate_id")
    assert len(cases) >= 3 and all(status == "complete" for _, status in cases)
    steps = rows(demo, "SELECT case_id, group_concat(step_id, ',') FROM (SELECT * FROM steprun ORDER BY position) "
                       "GROUP BY case_id")
    assert len({s for _, s in steps}) == 1  # the identical step list for everyone
    assert "uniform: every case ran the procedure's steps in order" in (demo / "stdout.txt").read_text()
    assert vet("uniformity", "--procedure", "kcpd-261-1-preemployment", workspace=demo / "workspace",
               env=logged_in("dwhitfield")).returncode == 0


def test_the_demo_runs_as_its_accounts(demo: Path) -> None:
    """accounts.txt is the user's alone; every act of the chain names the account that took it."""
    import stat

    accounts = demo_accounts(demo)
    assert stat.S_IMODE((demo / "accounts.txt").stat().st_mode) == 0o600
    roles = {login: a["role"] for login, a in accounts.items()}
    assert {"investigator", "supervisor", "commander", "hiring", "admin", "automation"} == set(roles.values())
    assert all(a.get("totp_secret") and a.get("password") for a in accounts.values() if a["role"] != "automation")
    actors = {action: {a for (a,) in rows(demo, f"SELECT DISTINCT actor FROM audit_event WHERE action='{action}'")}
              for action in ("procedure.approved", "candidate.added", "case.opened", "item.validated",
                             "item.rejected", "item.concurred", "case.assigned", "report.released",
                             "report.rendered", "evidence.exported")}
    assert actors["procedure.approved"] == {"user:dwhitfield"}
    assert actors["candidate.added"] == {"user:sortiz"}
    assert actors["case.opened"] == {"user:demo-bot"}
    assert actors["item.validated"] == {"user:sortiz", "user:kosei"}
    assert actors["item.concurred"] == {"user:amoreno"}
    assert actors["case.assigned"] == {"user:amoreno"}  # the bot's cases: the supervisor assigns them
    assert actors["report.released"] == {"user:dwhitfield"}
    assert actors["report.rendered"] == {"user:dwhitfield", "user:hjones"}
    # Nothing in the log names a person by free text any more: an account, the system or a collector.
    free = rows(demo, "SELECT DISTINCT actor FROM audit_event WHERE actor NOT LIKE 'user:%' "
                      "AND actor NOT LIKE 'system:%' AND actor NOT LIKE 'collector:%'")
    assert free == []
    # The two-person rule held: no concurrence by the account whose decision it is.
    same = rows(demo, "SELECT d.id FROM decision d JOIN concurrence c ON c.decision_id = d.id "
                      "WHERE c.concurred_by = d.decided_by")
    assert same == []
    assert list((demo / "released-to-hjones").glob("findings-case-jordan-hale-*.html"))


def test_the_demo_shows_a_response_a_hold_and_a_disposal(demo: Path) -> None:
    """Issue 17's demo: one finding with the candidate's response, one case on legal hold that the
    disposal run was refused, one case disposed of with its certificate in the audit report."""
    actions = dict(rows(demo, "SELECT action, count(*) FROM audit_event WHERE action IN ('records.response', "
                              "'records.hold_placed', 'records.disposed', 'records.disposal_refused', "
                              "'records.notice') GROUP BY action"))
    assert actions == {"records.notice": 1, "records.response": 1, "records.hold_placed": 1,
                       "records.disposed": 1, "records.disposal_refused": 1}, actions
    (held,) = rows(demo, "SELECT case_id FROM audit_event WHERE action='records.hold_placed'")
    (refused,) = rows(demo, "SELECT case_id FROM audit_event WHERE action='records.disposal_refused'")
    assert held == refused and "riley-chen" in held[0]
    audit = (demo / "reports" / "audit.html").read_text()
    (disposed,) = rows(demo, "SELECT case_id FROM audit_event WHERE action='records.disposed'")
    assert "quinn-alvarez" in disposed[0] and disposed[0] in audit and held[0] in audit
    jordan = next((demo / "reports").glob("findings-case-jordan-hale-*.html")).read_text()
    (sha,) = rows(demo, "SELECT json_extract(payload, '$.document.sha256') FROM audit_event "
                        "WHERE action='records.response'")
    assert sha[0] and sha[0] in jordan and "hunter-safety course" in jordan
    assert not list((demo / "reports").glob("findings-case-quinn-alvarez-*"))
    assert not (demo / "candidates" / "quinn-alvarez.yaml").exists()


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


def test_evidence_is_valid_warc_and_audit_verifies(demo: Path, logged_in) -> None:
    warcs = sorted((demo / "workspace" / "evidence" / "warc").rglob("*.warc.gz"))
    assert warcs
    check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, warcs)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    assert "digest pass" in check.stdout and "sha256" not in check.stderr
    result = vet("audit", "verify", workspace=demo / "workspace", env=logged_in("dwhitfield"))
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


def test_reports_written_and_receipts_verify(demo: Path, logged_in) -> None:
    reports = demo / "reports"
    disposed = {c for (c,) in rows(demo, "SELECT case_id FROM audit_event WHERE action='records.disposed'")}
    cases = [c for (c,) in rows(demo, "SELECT id FROM 'case'") if c not in disposed]
    for case in cases:
        for fmt in ("html", "pdf"):
            assert (reports / f"findings-{case}.{fmt}").stat().st_size > 1000
    assert (reports / "audit.pdf").read_bytes().startswith(b"%PDF")
    assert list(reports.glob("process-*.html"))
    jordan = next(reports.glob("findings-case-jordan-hale-*.html"))
    result = vet("report", "verify-receipts", str(jordan), workspace=demo / "workspace", env=logged_in("hjones"))
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = {s for (s,) in rows(demo, "SELECT subject FROM audit_event WHERE action='report.rendered'")}
    hiring = list((demo / "released-to-hjones").iterdir())  # the hiring account's own rendering
    assert len(hiring) == 1
    # Every report on disk was recorded; every one recorded and gone is the disposed case's.
    on_disk = {str(p) for p in [*reports.iterdir(), *hiring]}
    assert on_disk <= rendered
    assert all(any(c in gone for c in disposed) for gone in rendered - on_disk), rendered - on_disk


# -- what hiring staff see: redacted pictures, and no masked term anywhere ------------------
def _masked_terms(demo: Path, item_ids: list[str]) -> tuple[set[str], set[str]]:
    """The protected mentions of the pages behind these findings: their text, title, archived
    DOM (text and alt/badge attributes) and the words the demo paints into pictures or draws
    with CSS; and the mentions kept as conduct (bias speech), which the report may show."""
    from bs4 import BeautifulSoup
    from leakcheck import terms_in

    from vetting.demoweb.content import load
    from vetting.screening.firewall import find_protected

    extras = [" ".join(it.get("image_text", [])) + " " + it.get("badge", "") + " " + it.get("alt", "")
              for site in load("accounts")["sites"] for acc in site.get("accounts", {}).values()
              for it in acc.get("items", [])]
    protected_conduct = {"bias-speech"}
    texts, kept = list(extras), set()
    for item_id in item_ids:
        (text, title, artifacts), = rows(demo, f"SELECT text, title, artifacts_json FROM item WHERE id='{item_id}'")
        texts += [text, title]
        for art in json.loads(artifacts):
            if art["kind"] == "dom":
                soup = BeautifulSoup((demo / "workspace" / "evidence" / art["path"]).read_text(), "html.parser")
                texts.append(soup.get_text(" "))
                texts += [str(v) for t in soup.find_all(True) for k, v in t.attrs.items()
                          if k in ("alt", "title", "data-badge", "value", "placeholder", "aria-label")]
        (flags,), = rows(demo, f"SELECT flags_json FROM assessment WHERE item_id='{item_id}'")
        kept |= {m.text for f in json.loads(flags) if f["category_id"] in protected_conduct
                 for m in find_protected(text[f["start"]:f["end"]])}
    return terms_in(*texts) - kept, kept


#: The protected words on the demo's corpus page (vetting/demoweb/data/accounts.json,
#: tbrooks-outdoors), written out by hand rather than taken from the firewall's lexicon, so a
#: word the lexicon lacks would still be caught in what hiring staff see.
CORPUS_WORDS = {"chemotherapy", "bipolar", "cancer", "pregnant", "rabbi", "embarazada", "católica",
                "enceinte", "musulmane", "handicapé", "schwul", "schwerbehindert", "muslim", "gay",
                "jewish", "lesbian", "deaf"}
OUT = Path(__file__).resolve().parents[1] / "test-output"


def test_hiring_staff_see_only_redacted_pictures_and_no_masked_term(demo: Path) -> None:
    """Every findings report, HTML and PDF: its text and attributes, pdftotext, and OCR of every
    picture (tesseract) find none of the masked terms of the pages behind its findings."""
    from bs4 import BeautifulSoup
    from leakcheck import found_terms, html_text_and_pictures, ocr, pdf_text_and_pictures

    pictures_checked = terms_checked = corpus_reports = 0
    for html_path in sorted((demo / "reports").glob("findings-*.html")):
        html = html_path.read_text()
        sections = BeautifulSoup(html, "html.parser").select("section.finding")
        terms, kept = _masked_terms(demo, [s["data-item"] for s in sections])
        text, pictures = html_text_and_pictures(html)
        assert len(pictures) == len(sections) == len([s for s in sections if s.find("img", class_="redacted")])
        assert found_terms(text, terms) == [], html_path.name
        pdf_text, pdf_pictures = pdf_text_and_pictures(html_path.with_suffix(".pdf"))
        assert found_terms(pdf_text, terms) == [], html_path.name
        for picture in pictures + pdf_pictures:
            assert found_terms(ocr(picture), terms) == [], html_path.name
        if "/blog/tbrooks-outdoors" in html:  # the corpus page: a list written apart from the lexicon
            corpus_reports += 1
            for seen in [text, pdf_text] + [ocr(p) for p in pictures + pdf_pictures]:
                assert found_terms(seen, CORPUS_WORDS) == [], html_path.name
        pictures_checked += len(pictures) + len(pdf_pictures)
        terms_checked += len(terms)
    assert pictures_checked >= 10 and terms_checked >= 30 and corpus_reports == 1
    OUT.mkdir(exist_ok=True)
    (OUT / "demo-leakcheck.json").write_text(json.dumps(
        {"pictures_ocr_checked": pictures_checked, "masked_terms_checked": terms_checked,
         "corpus_words": len(CORPUS_WORDS)}, indent=1))


def test_every_redacted_picture_is_recorded_and_the_evidence_image_shown(demo: Path) -> None:
    events = [json.loads(p) for (p,) in rows(demo, "SELECT payload FROM audit_event WHERE action='evidence.redacted'")]
    assert len(events) >= 5
    for p in events:
        picture = (demo / "workspace" / "evidence" / p["redacted"]["path"]).read_bytes()
        assert hashlib.sha256(picture).hexdigest() == p["redacted"]["sha256"] != p["original_screenshot_sha256"]
        assert p["redacted"]["height"] <= 2400
    assert any(p["evidence_shown"] == 1 and p["evidence_images"] for p in events)  # the gang-sign photo
    assert max(len(p["boxes"]) for p in events) >= 15  # the corpus page: words, captions, pictures


def test_ocr_reads_the_corpus_in_the_original_capture(demo: Path) -> None:
    """Control: the same oracle finds the protected words in the investigator's original
    screenshot of the corpus page (text, captions, CSS badge, words painted in pictures)."""
    from leakcheck import found_terms, ocr

    (item_id, artifacts), = rows(demo, "SELECT id, artifacts_json FROM item WHERE url LIKE '%/blog/tbrooks-outdoors' "
                                       "AND outcome='captured' ORDER BY kind LIMIT 1")
    shot = next(a for a in json.loads(artifacts) if a["kind"] == "screenshot")
    terms, _ = _masked_terms(demo, [item_id])
    read = ocr((demo / "workspace" / "evidence" / shot["path"]).read_bytes())
    seen = found_terms(read, terms)
    assert len(seen) >= 12, seen
    assert len(found_terms(read, CORPUS_WORDS)) >= 12  # the hand-written list is read there too
    assert {"cancer", "muslim", "jewish", "schwul"} <= {t.lower() for t in seen}  # a picture, CSS, SVG, German


def test_reviewers_words_do_not_leak_through_the_receipts(demo: Path) -> None:
    """The reviewers' own words are masked where the report shows them, and the receipts block
    carries only their commitments: no masked term of theirs is anywhere in the HTML."""
    import yaml
    from leakcheck import found_terms, html_text_and_pictures, terms_in

    batch = [d for path in sorted(demo.glob("decisions-demo-*.yaml")) for d in yaml.safe_load(path.read_text())["decisions"]]
    from vetting.demo.run import DEMO_CONCURRENCES

    batch += yaml.safe_load(DEMO_CONCURRENCES.read_text())["concurrences"]
    words = [" ".join(str(d.get(k, "")) for k in ("reason", "mitigating", "discredit")) for d in batch]
    terms = terms_in(*words)
    assert terms  # "Posts disparage a religious group": the demo's reasons do name one
    for html_path in sorted((demo / "reports").glob("findings-*.html")):
        text, _ = html_text_and_pictures(html_path.read_text())
        assert found_terms(text, terms) == [], html_path.name


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


def test_erasing_a_demo_candidate_leaves_no_value_and_the_log_verifies(demo: Path, tmp_path: Path, logged_in) -> None:
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
    commander = logged_in("dwhitfield")  # the copy has the demo's sessions: the same token works in it
    erased = vet("candidate", "erase", "jordan-hale", "--reason", "retention period ended", workspace=ws,
                 env=commander)
    assert erased.returncode == 0 and "erased candidate jordan-hale" in erased.stdout, erased.stderr
    left = sorted({(name, v) for name, data in _all_bytes(ws) for v in values if v.encode() in data})
    assert left == []
    assert not list((ws / "evidence" / "warc").glob("case-jordan-hale-*"))
    verify = vet("audit", "verify", workspace=ws, env=commander)
    assert verify.returncode == 0 and "disposed by design" in verify.stdout, verify.stdout[-3000:]
    jordan = next((demo / "reports").glob("findings-case-jordan-hale-*.html"))
    old = vet("report", "verify-receipts", str(jordan), workspace=ws, env=commander)
    assert old.returncode == 0 and "DISPOSED" in old.stdout, old.stdout + old.stderr
    case = next(p.name.removeprefix("findings-").removesuffix(".html") for p in [jordan])
    new = vet("report", "findings", case, "-o", str(tmp_path / "after.html"), workspace=ws, env=commander)
    assert new.returncode == 0 and "Disposed:" in (tmp_path / "after.html").read_text(), new.stderr


def test_one_signed_evidence_package_per_case_that_py_wacz_accepts(demo: Path) -> None:
    import json
    import zipfile

    from vetting.reports.evidence_export import verify_signed_data

    cases = {p.name for p in (demo / "workspace" / "evidence" / "warc").iterdir()}
    packages = sorted((demo / "evidence").glob("*.wacz"))
    disposed = {c for (c,) in rows(demo, "SELECT case_id FROM audit_event WHERE action='records.disposed'")}
    assert len(cases) == 4 and len(disposed) == 1 and not cases & disposed  # the disposed case's WARCs went
    assert {p.stem for p in packages} == cases  # and the demo's copy of its package
    for package in packages:
        result = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f", str(package)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "Validation succeeded" in result.stdout, result.stdout
        with zipfile.ZipFile(package) as z:
            assert verify_signed_data(json.loads(z.read("datapackage-digest.json"))["signedData"])
