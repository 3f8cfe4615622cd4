"""The reports in a real headless Chromium: nothing runs, nothing is fetched, the page renders;
PDFs print; ``render_all`` writes every report in both formats and records each one.

Screenshots of the top of each report are saved under ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import HOSTILE_TITLE, Built, build_reports_workspace

from vetting.reports.render import build_document, print_pdfs, render_all, render_report
from vetting.screening.safetext import visible

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "test-output"
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_reports_workspace(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from spiders.browser import LAUNCH_ARGS, find_chromium

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=find_chromium(), args=list(LAUNCH_ARGS), headless=True)
        yield b
        b.close()


def open_with_javascript_on(browser: Any, html: str) -> tuple[Any, Any, dict[str, list[str]]]:
    """Load a document with JavaScript ENABLED, recording dialogs, console messages and requests.

    JavaScript is on on purpose: the point is that the report itself (escaping plus CSP)
    keeps hostile content from running, not the viewer's settings.
    """
    seen: dict[str, list[str]] = {"dialogs": [], "console": [], "requests": [], "errors": []}
    context = browser.new_context(java_script_enabled=True, viewport={"width": 1100, "height": 1400})

    def on_route(route: Any) -> None:
        seen["requests"].append(route.request.url)
        route.abort()

    context.route("**/*", on_route)
    page = context.new_page()
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("console", lambda m: seen["console"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.set_content(html, wait_until="load")
    page.wait_for_timeout(300)
    return context, page, seen


def test_the_harness_detects_a_script_that_runs(browser: Any) -> None:
    """Control: without escaping and CSP, the same probes do fire, so the checks below can fail."""
    context, _, seen = open_with_javascript_on(
        browser, "<html><body><script>console.log('ran'); alert(1)</script><img src=x onerror=alert(2)></body></html>")
    context.close()
    assert seen["dialogs"] and seen["console"] == ["ran"]


@pytest.mark.parametrize("kind", ["findings", "process", "audit"])
def test_nothing_runs_and_the_page_renders_in_chromium(built: Built, browser: Any, kind: str) -> None:
    subject = {"findings": built.case_id("jane-doe"), "process": "kcpd-261-1-preemployment", "audit": None}[kind]
    html = build_document(built.ws, kind, subject, lambda: AT).html
    context, page, seen = open_with_javascript_on(browser, html)
    try:
        assert seen["dialogs"] == [] and seen["errors"] == []
        assert seen["console"] == []  # no page script ran, and the CSP had nothing to refuse
        assert seen["requests"] == []  # screenshots are data: URIs; nothing is fetched
        probe = page.evaluate("""() => ({
            display: getComputedStyle(document.body).display,
            visibility: getComputedStyle(document.body).visibility,
            h1: document.querySelector('h1').getBoundingClientRect().height,
            scripts: [...document.scripts].filter(s => s.type !== 'application/json').length,
            handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
            fixed: [...document.querySelectorAll('*')].filter(e => getComputedStyle(e).position === 'fixed').length,
            width: document.documentElement.scrollWidth,
        })""")
        assert probe["display"] == "block" and probe["visibility"] == "visible" and probe["h1"] > 0
        assert probe["scripts"] == 0 and probe["handlers"] == 0 and probe["fixed"] == 0
        assert probe["width"] <= 1100  # nothing collected pushes the layout sideways
        if kind == "findings":
            titles = page.locator("section.finding h3").all_inner_texts()
            assert any(visible(HOSTILE_TITLE) in t for t in titles)
            assert page.locator("section.finding").count() == 3
            # the redacted picture drawn from the archived page (the stored screenshot is 48 px wide)
            assert page.locator("img.screenshot.redacted").first.evaluate("i => i.complete && i.naturalWidth") >= 320
        OUT.mkdir(exist_ok=True)
        shot = OUT / f"report-{kind}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 1000
    finally:
        context.close()


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def test_pdf_prints_deterministically_with_a_page_per_finding(built: Built) -> None:
    html = build_document(built.ws, "findings", built.case_id("jane-doe"), lambda: AT).html
    one, two = print_pdfs([(html, AT), (html, AT)])
    assert one.startswith(b"%PDF-") and one.rstrip().endswith(b"%%EOF")
    assert _pages(one) >= 4  # the front matter, then each of the 3 findings on a new page
    assert b"D:20261124100000+00'00'" in one  # the generation time, not the wall clock
    assert one == two


def test_render_report_pdf_records_its_sha256(built: Built, tmp_path: Path) -> None:
    out = render_report(built.ws, "audit", "kcpd-261-1-preemployment", "pdf", tmp_path / "audit.pdf", "Capt. X")
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and _pages(data) >= 1
    event = [e for e in built.ws.audit.events() if e.action == "report.rendered"][-1]
    assert event.payload["sha256"] == hashlib.sha256(data).hexdigest() and event.payload["format"] == "pdf"


def test_render_all_writes_every_report_in_both_formats(built: Built, tmp_path: Path) -> None:
    before = {e.seq for e in built.ws.audit.events() if e.action == "report.rendered"}
    paths = render_all(built.ws, tmp_path / "reports", "Capt. X", clock=lambda: AT)
    names = sorted(p.name for p in paths)
    cases = sorted(built.case_id(c) for c in ("jane-doe", "omar-haddad"))
    expected = sorted([f"findings-{c}.{f}" for c in cases for f in ("html", "pdf")]
                      + [f"process-kcpd-261-1-preemployment-v1.{f}" for f in ("html", "pdf")]
                      + ["audit.html", "audit.pdf"])
    assert names == expected
    events = {e.payload["path"]: e.payload for e in built.ws.audit.events()
              if e.action == "report.rendered" and e.seq not in before}
    assert len(events) == len(paths)
    for path in paths:
        data = path.read_bytes()
        assert events[str(path)]["sha256"] == hashlib.sha256(data).hexdigest()
        assert data.startswith(b"%PDF-") if path.suffix == ".pdf" else data.startswith(b"<!DOCTYPE html>")
    audit_html = (tmp_path / "reports" / "audit.html").read_text()
    assert audit_html.count("report.rendered") >= len(cases) * 2  # the audit report lists the ones before it
