"""``vet report``: findings / process / audit in html or pdf, and verify-receipts, with exit codes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import typer
from report_fixtures import Built, build_reports_workspace
from typer.testing import CliRunner

from vetting.cli.reports import report_app

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_reports_workspace(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def vet(built: Built, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``vet report ...`` mounted the way the main CLI mounts it, on the built workspace."""
    import vetting.cli.main

    monkeypatch.setattr(vetting.cli.main.state, "workspace", built.ws.root)
    app = typer.Typer()
    app.callback()(lambda: None)
    app.add_typer(report_app, name="report")
    return lambda *args: runner.invoke(app, ["report", *args])


def last_rendered(built: Built) -> dict:
    return [e for e in built.ws.audit.events() if e.action == "report.rendered"][-1].payload


def test_findings_html_and_verify_receipts(built: Built, vet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "jane.html"
    result = vet("findings", built.case_id("jane-doe"), "-o", str(out), "--by", "Det. Sam Ortiz")
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert last_rendered(built)["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    ok = vet("verify-receipts", str(out))
    assert ok.exit_code == 0 and "OK: 8 receipt(s)" in ok.output
    out.write_text(out.read_text().replace('"role": "concurred"', '"role": "validated"', 1)
                   .replace('"role":"concurred"', '"role":"validated"', 1))
    bad = vet("verify-receipts", str(out))
    assert bad.exit_code == 1 and "PROBLEM" in bad.output


def test_process_and_audit_pdf(built: Built, vet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for args, name in ((("process", "kcpd-261-1-preemployment"), "p.pdf"),
                       (("audit", "--procedure", "kcpd-261-1-preemployment"), "a.pdf")):
        out = tmp_path / name
        result = vet(*args, "--format", "pdf", "-o", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"%PDF-")
        assert last_rendered(built)["format"] == "pdf"


def test_paper_size(built: Built, vet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import re

    sizes = {}
    for paper in ("A4", "letter"):
        out = tmp_path / f"{paper}.pdf"
        assert vet("process", "kcpd-261-1-preemployment", "-f", "pdf", "--paper", paper, "-o", str(out)).exit_code == 0
        box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", out.read_bytes())
        assert box is not None
        sizes[paper] = (int(float(box.group(1))), int(float(box.group(2))))
    assert sizes == {"A4": (595, 842), "letter": (612, 792)}
    assert vet("audit", "-f", "pdf", "--paper", "A0").exit_code == 2


def test_refusals_and_bad_input(built: Built, vet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    unknown = vet("findings", "case-nobody", "-o", str(tmp_path / "x.html"))
    assert unknown.exit_code == 2 and "no case" in unknown.output and not (tmp_path / "x.html").exists()
    assert vet("process", "nope", "-o", str(tmp_path / "y.html")).exit_code == 2
    assert vet("audit", "--format", "docx").exit_code == 2
    assert vet("verify-receipts", str(tmp_path / "missing.html")).exit_code == 2


def test_mounting_works_whatever_the_import_order() -> None:
    """``vetting.cli.main`` may import ``report_app`` at its top: no circular-import failure."""
    import subprocess
    import sys

    code = ("import vetting.cli.reports as rc, vetting.cli.main as cli; "
            "cli.app.add_typer(rc.report_app, name='report'); print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_missing_workspace_is_a_clear_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vetting.cli.main

    monkeypatch.setattr(vetting.cli.main.state, "workspace", tmp_path / "nowhere")
    result = runner.invoke(report_app, ["audit", "-o", str(tmp_path / "a.html")])
    assert result.exit_code == 1 and "no workspace" in result.output
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "a.html").exists()
