"""Hostile collected content stays inert text in every report (static check of the HTML).

The browser-level check (nothing runs in Chromium, the page renders) is in
``test_report_browser.py``.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import HOSTILE_TITLE, Built

from vetting.reports.render import CSP, build_document, environment
from vetting.screening.safetext import visible

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DOCS = [("findings", "jane-doe"), ("process", None), ("audit", None)]


def render(b: Built, kind: str, candidate: str | None) -> str:
    subject = {"findings": b.case_id(candidate) if candidate else None, "process": "kcpd-261-1-preemployment",
               "audit": None}[kind]
    return build_document(b.ws, kind, subject, lambda: AT).html


def assert_inert(html: str) -> BeautifulSoup:
    """No executable script, no event handler, no javascript: URL, nothing fetched, CSP present."""
    soup = BeautifulSoup(html, "html.parser")
    for script in soup.find_all("script"):
        assert script.get("type") == "application/json", script
        assert "</script" not in (script.string or "").lower()
    for tag in soup.find_all(True):
        for attr, value in tag.attrs.items():
            assert not attr.lower().startswith("on"), (tag.name, attr)
            text = " ".join(value) if isinstance(value, list) else str(value)
            assert "javascript:" not in text.lower().replace(" ", ""), (tag.name, attr, text)
    for tag in soup.find_all(["a", "link", "iframe", "object", "embed", "form", "base", "frame", "svg", "math"]):
        assert tag.name == "a" and tag.get("href", "#").startswith("#"), tag
    assert [img["src"][:5] for img in soup.find_all("img")] == ["data:"] * len(soup.find_all("img"))
    assert len(soup.find_all("style")) == 1 and soup.style.parent.name == "head"
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None and csp["content"] == CSP
    assert "script-src" not in CSP and "default-src 'none'" in CSP
    return soup


@pytest.mark.parametrize("kind,candidate", DOCS + [("findings", "omar-haddad")])
def test_reports_contain_no_executable_markup(built: Built, kind: str, candidate: str | None) -> None:
    assert_inert(render(built, kind, candidate))


def test_hostile_text_and_title_are_shown_as_text(built: Built) -> None:
    soup = assert_inert(render(built, "findings", "jane-doe"))
    section = soup.find("section", attrs={"data-item": "item-jane-doe-hostile"})
    assert visible(HOSTILE_TITLE) in section.h3.get_text()  # the U+202E shown, not obeyed
    assert "\u202e" not in section.h3.get_text()
    excerpt = section.select_one("blockquote.excerpt").get_text()
    for piece in ("<script>alert(1)</script>", "onerror=alert(2)", 'href="javascript:alert(3)"',
                  "<style>body{display:none}</style>"):
        assert piece in excerpt  # shown verbatim, as text
    # the document structure survived: every section is still there, after the hostile one too
    assert [h["id"] for h in soup.select("h2")] == ["candidate", "summary", "findings", "unreached", "checkpoint"]
    assert soup.find("script", id="receipts") is not None


def test_hostile_candidate_name_and_refused_url(tmp_path: Path) -> None:
    from report_fixtures import Built as B
    from report_fixtures import add_candidate_case, add_item, new_workspace, run_steps, validate

    b = B(new_workspace(tmp_path))
    name = 'Eve "<img src=x onerror=alert(9)>" </title><script>alert(8)</script>'
    add_candidate_case(b, tmp_path, "eve-x", name)
    run_steps(b, "eve-x", refused=1)
    validate(b, add_item(b, "eve-x", "p", "A quiet post.", title="<svg onload=alert(7)>"))
    findings = build_document(b.ws, "findings", b.case_id("eve-x"), lambda: AT).html
    soup = assert_inert(findings)
    assert name in soup.title.get_text() and name in soup.h1.get_text()
    audit = assert_inert(build_document(b.ws, "audit", None, lambda: AT).html)
    assert "?<script>x</script>" in audit.select_one("table.refused code.url").get_text()


def test_autoescape_is_on_for_every_template() -> None:
    env = environment()
    for name in env.list_templates():
        assert env.autoescape(name) if callable(env.autoescape) else env.autoescape
        source = (Path(env.loader.searchpath[0]) / name).read_text()  # type: ignore[union-attr]
        assert "|safe" not in source.replace(" ", "") and "autoescapefalse" not in source.replace(" ", "")
    assert "&lt;b&gt;" in env.from_string("{{ x }}").render(x="<b>")


def test_only_raster_screenshots_are_embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An SVG (which can carry script) or a mislabelled file is never embedded; nor a huge one.

    Whatever the stored screenshot is, hiring staff see the redacted picture drawn from the
    archived page (a PNG made by ``vetting.reports.redaction``), never the screenshot itself."""
    from report_fixtures import Built as B
    from report_fixtures import add_candidate_case, add_item, new_workspace, png, run_steps, validate

    b = B(new_workspace(tmp_path))
    add_candidate_case(b, tmp_path, "sam-q", "Sam Q")
    run_steps(b, "sam-q")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    validate(b, add_item(b, "sam-q", "svg", "Post one.", screenshot=svg))
    validate(b, add_item(b, "sam-q", "big", "Post two.", screenshot=png(400, 400, (1, 2, 3))))
    validate(b, add_item(b, "sam-q", "ok", "Post three.", screenshot=png(8, 8, (9, 9, 9))))
    import vetting.reports.data

    soup = assert_inert(build_document(b.ws, "findings", b.case_id("sam-q"), lambda: AT).html)
    by_item = {s["data-item"]: s for s in soup.select("section.finding")}
    for key in ("svg", "big", "ok"):
        src = by_item[f"item-sam-q-{key}"].find("img", class_="redacted")["src"]
        assert src.startswith("data:image/png;base64,")
        assert b"<svg" not in base64.b64decode(src.split(",", 1)[1])
    monkeypatch.setattr(vetting.reports.data, "MAX_EMBED_BYTES", 100)
    soup = assert_inert(build_document(b.ws, "findings", b.case_id("sam-q"), lambda: AT).html)
    big = soup.find("section", attrs={"data-item": "item-sam-q-big"})
    assert big.find("img") is None and "too large" in big.get_text()
