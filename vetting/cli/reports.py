"""``vet report``: render the three reports, and re-check a findings report's receipts.

Mounted by the main CLI with ``app.add_typer(report_app, name="report")``. Each command is a
few lines over :mod:`vetting.reports.render`; every file written is a ``report.rendered`` audit event.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vetting.cli.support import acting, echo_error, handles_errors
from vetting.domain.yamlsource import one_line
from vetting.screening.safetext import visible

report_app = typer.Typer(help="Render the findings, written-process and audit reports (HTML or PDF).",
                         no_args_is_help=True)

FORMAT_HELP = "html (self-contained) or pdf (printed by Chromium)."
PAPER_HELP = "Paper size of a PDF: A4 or Letter."


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("html", "pdf"):
        raise typer.BadParameter("must be html or pdf", param_hint="--format")
    return fmt


def _check_paper(paper: str) -> str:
    for known in ("A4", "Letter"):
        if paper.lower() == known.lower():
            return known
    raise typer.BadParameter("must be A4 or Letter", param_hint="--paper")


def _render(kind: str, subject: str | None, fmt: str, out: Path | None, stem: str,
            paper: str = "A4", allow_damaged: bool = False) -> None:
    from vetting.domain.yamlsource import InputError, Problem, clip
    from vetting.errors import DamagedEvidence, UnknownName
    from vetting.services import reports

    fmt = _check_format(fmt)
    paper = _check_paper(paper)
    ws, account = acting()
    path = out if out is not None else Path(f"{stem}.{fmt}")
    if not path.name or path.is_dir():
        raise InputError([Problem("command line", None, "--out", f"{clip(path)} is a folder, not a file name")])
    if not path.parent.is_dir():
        raise InputError([Problem("command line", None, "--out", f"folder {clip(path.parent)} does not exist")])
    try:
        if kind == "findings":
            assert subject is not None
            written = reports.render_findings(ws, account, subject, fmt, path, paper=paper,
                                              allow_damaged=allow_damaged)
        elif kind == "process":
            assert subject is not None
            written = reports.render_process(ws, account, subject, fmt, path, paper=paper)
        else:
            written = reports.render_audit(ws, account, subject, fmt, path, paper=paper)
    except DamagedEvidence as exc:
        typer.echo(f"refused: {one_line(exc, 1000)}", err=True)
        raise typer.Exit(1) from None
    except UnknownName:
        raise  # a case or procedure that does not exist: exit 2, as everywhere (handles_errors)
    except LookupError as exc:
        echo_error(str(exc.args[0] if exc.args else exc))
        raise typer.Exit(1) from None
    typer.echo(f"wrote {written}")
    if allow_damaged and kind == "findings":
        from vetting.reports.data import findings_data

        damaged = findings_data(ws, subject or "").damaged
        if damaged:
            typer.echo(f"warning: {len(damaged)} finding(s) left out for damaged evidence; the report says so "
                       "at its top", err=True)


@report_app.command("findings")
@handles_errors
def findings(case: str = typer.Argument(..., help="Case id (see 'vet audit show')."),
             fmt: str = typer.Option("html", "--format", "-f", help=FORMAT_HELP),
             out: Path = typer.Option(None, "-o", "--out", help="Output file (default findings-CASE.FORMAT)."),
             paper: str = typer.Option("A4", "--paper", help=PAPER_HELP),
             allow_damaged: bool = typer.Option(False, "--allow-damaged",
                                                help="Render even if a finding's evidence no longer verifies; "
                                                     "the report then names each such finding in a notice.")) -> None:
    """The validated findings of one case, for hiring staff (refused if a finding's evidence is damaged)."""
    _render("findings", case, fmt, out, f"findings-{case}", paper, allow_damaged)


@report_app.command("process")
@handles_errors
def process(procedure: str = typer.Argument(..., help="Approved procedure id (latest version), or ID@FINGERPRINT."),
            fmt: str = typer.Option("html", "--format", "-f", help=FORMAT_HELP),
            out: Path = typer.Option(None, "-o", "--out", help="Output file (default process-ID.FORMAT)."),
            paper: str = typer.Option("A4", "--paper", help=PAPER_HELP)) -> None:
    """The approved written process as a document, with its version history, for commanders."""
    _render("process", procedure, fmt, out, f"process-{procedure.partition('@')[0]}", paper)


@report_app.command("audit")
@handles_errors
def audit(procedure: str = typer.Option(None, "--procedure", "-p", help="Limit to one procedure id."),
          fmt: str = typer.Option("html", "--format", "-f", help=FORMAT_HELP),
          out: Path = typer.Option(None, "-o", "--out", help="Output file (default audit.FORMAT)."),
          paper: str = typer.Option("A4", "--paper", help=PAPER_HELP)) -> None:
    """Audit-log verification, uniformity matrix, timelines and refused requests, for commanders."""
    _render("audit", procedure, fmt, out, f"audit-{procedure}" if procedure else "audit", paper)


@report_app.command("verify-receipts")
@handles_errors
def verify_receipts_cmd(report: Path = typer.Argument(..., help="A findings report in HTML.")) -> None:
    """Re-check a findings report's receipts against this workspace's audit log; exit 1 on any problem."""
    from vetting.services.reports import verify_receipts

    if not report.is_file():
        typer.echo(f"error: {report} does not exist or is not a file", err=True)
        raise typer.Exit(2)
    from vetting.store.custody import check_expected_key

    ws, account = acting()
    result = verify_receipts(ws, account, report)
    # The log's key must be the pinned one (workspace.json or VETTING_EXPECT_KEY): receipts
    # re-signed with a replaced key prove nothing.
    key_problem, _ = check_expected_key(ws, os.environ.get("VETTING_EXPECT_KEY"))
    if key_problem:
        result.problems = [*(result.problems or []), f"key: {key_problem}"]
    for problem in result.problems or []:
        typer.echo(f"PROBLEM {visible(problem)}")
    if result.disposed:
        typer.echo(f"DISPOSED {result.disposed}: the personal values this report shows can no longer be "
                   "checked; every other field was")
    state = "OK" if result.ok else f"{len(result.problems or [])} problem(s)"
    typer.echo(f"{state}: {result.checked} receipt(s) checked against the signed checkpoint, "
               "and every field the report shows against them")
    raise typer.Exit(0 if result.ok else 1)
