"""Bidi and control characters in collected text are shown, never interpreted: in the reports
(HTML and the text a PDF would print) and in the terminal (``vet review``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import vet
from markupsafe import Markup
from report_fixtures import Built, add_candidate_case, add_item, new_workspace, run_steps, validate

from vetting.reports.render import build_document, environment
from vetting.screening.safetext import BIDI_CONTROLS, visible

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SPOOF_TITLE = "Invoice https://example.com/\u202egnp.exe \x1b]0;pwned\x07 \x1b[2J\x9b31m done"
SPOOF_TEXT = ("Pointing my rifle at the sign \u2066isolated\u2069 \u200fmark\u200e \u061c"
              " and \x1b[31mred\x1b[0m text\x00 with a lone\rreturn and a\r\nline end.")


@pytest.mark.parametrize("char", list(BIDI_CONTROLS) + [chr(c) for c in range(0x20) if c not in (9, 10)]
                         + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)])
def test_every_control_is_shown_as_its_code_point(char: str) -> None:
    out = visible(f"a{char}b")
    assert out == f"a\u27e8U+{ord(char):04X}\u27e9b"
    assert char not in out


def test_text_lines_tabs_and_ordinary_unicode_stay() -> None:
    text = "Zoë\tis here\nסלאם עליכם مرحبا 👍🏽 e\u0301"
    assert visible(text) == text
    assert visible("a\r\nb") == "a\nb"  # a Windows line end is a line end
    assert visible(visible(SPOOF_TITLE)) == visible(SPOOF_TITLE)  # idempotent
    assert visible(42) == "42"


def test_the_jinja_environment_shows_controls_in_every_printed_value() -> None:
    env = environment()
    html = env.from_string("<p>{{ a }}</p><p>{{ b | upper }}</p><p>{{ c }}</p>").render(
        a=SPOOF_TITLE, b="x\u202ey", c=Markup("<i>\u202e</i>"))
    assert "\x1b" not in html and "\u202e" not in html and "\x07" not in html and "\x9b" not in html
    assert "\u27e8U+001B\u27e9]0;pwned\u27e8U+0007\u27e9" in html and "X\u27e8U+202E\u27e9Y" in html
    assert "<p><i>\u27e8U+202E\u27e9</i></p>" in html  # markup stays markup, and is shown


@pytest.fixture(scope="module")
def spoofed(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("spoof")
    b = Built(new_workspace(root))
    add_candidate_case(b, root, "zoe-q", "Zoë Q\u202e")
    run_steps(b, "zoe-q")
    validate(b, add_item(b, "zoe-q", "spoof", SPOOF_TEXT, title=SPOOF_TITLE))
    return b


def test_findings_report_carries_no_raw_control_and_shows_each(spoofed: Built) -> None:
    html = build_document(spoofed.ws, "findings", spoofed.case_id("zoe-q"), lambda: AT).html
    bad = [f"U+{ord(c):04X}" for c in set(html) if c in BIDI_CONTROLS or (ord(c) < 32 and c not in "\n\t")
           or 0x7F <= ord(c) <= 0x9F]
    assert bad == []
    for token in ("\u27e8U+202E\u27e9gnp.exe", "\u27e8U+001B\u27e9[2J", "\u27e8U+009B\u27e931m",
                  "\u27e8U+2066\u27e9isolated\u27e8U+2069\u27e9", "\u27e8U+200F\u27e9mark\u27e8U+200E\u27e9",
                  "\u27e8U+061C\u27e9", "text\u27e8U+0000\u27e9", "lone\u27e8U+000D\u27e9return",
                  "Zoë Q\u27e8U+202E\u27e9"):
        assert token in html, token
    audit = build_document(spoofed.ws, "audit", None, lambda: AT).html
    assert "\u202e" not in audit and "\x1b" not in audit


def test_vet_review_shows_controls_and_prints_no_escape(spoofed: Built, tmp_path: Path) -> None:
    add_item(spoofed, "zoe-q", "pending", "A [bold red]styled[/] post \x1b[5mblink \u202eesrever",
             title="Pending \x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ [link=x]y[/link]")
    spoofed.ws.engine.dispose()
    result = vet("review", spoofed.case_id("zoe-q"), workspace=spoofed.ws.root,
                 env={"TERM": "dumb"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b" not in out and "\u202e" not in out
    assert "\u27e8U+001B\u27e9]8;;http://evil.example/" in out
    assert "[link=x]y[/link]" in out  # rich markup from a page is printed, not obeyed


def test_the_pdf_prints_the_tokens_not_the_controls(spoofed: Built, tmp_path: Path) -> None:
    import subprocess

    from vetting.reports.render import render_report

    pdf = render_report(spoofed.ws, "findings", spoofed.case_id("zoe-q"), "pdf", tmp_path / "f.pdf", "Capt. X",
                        clock=lambda: AT)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
    assert "\u202e" not in text and "\x1b" not in text
    assert "U+202E" in text and "gnp.exe" in text


def test_vet_candidate_list_and_case_list_show_controls(spoofed: Built) -> None:
    spoofed.ws.engine.dispose()
    for args in (("candidate", "list"), ("case", "list")):
        result = vet(*args, workspace=spoofed.ws.root, env={"TERM": "dumb"})
        assert result.returncode == 0, result.stderr
        assert "\u202e" not in result.stdout and "\x1b" not in result.stdout
    assert "Zoë Q\u27e8U+202E\u27e9" in vet("candidate", "list", workspace=spoofed.ws.root).stdout


def test_receipts_check_the_visible_form_and_still_catch_an_edit(spoofed: Built) -> None:
    from vetting.reports.render import verify_receipts

    html = build_document(spoofed.ws, "findings", spoofed.case_id("zoe-q"), lambda: AT).html
    assert verify_receipts(spoofed.ws, html).ok
    for edited in (html.replace("\u27e8U+202E\u27e9gnp.exe", "\u202egnp.exe"),  # the control put back raw
                   html.replace("\u27e8U+202E\u27e9gnp.exe", "exe.png")):  # what the spoof wanted shown
        assert edited != html
        check = verify_receipts(spoofed.ws, edited)
        assert not check.ok and any("title" in p for p in check.problems or []), check.problems
