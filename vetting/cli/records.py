"""``vet retention``, ``vet hold``, ``vet notice`` and ``vet candidate outcome``: records over time.

Mounted by the main CLI (:func:`mount`); each command is a few lines over
:mod:`vetting.services.records`. docs/records.md explains the rules and their legal basis.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vetting.cli.support import acting, console, handles_errors
from vetting.domain.yamlsource import InputError, Problem

retention_app = typer.Typer(help="Retention periods: what is due, and its disposal.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: a held case is never disposed of.", no_args_is_help=True)
notice_app = typer.Typer(help="The candidate's notice before findings are used, and their response.",
                         no_args_is_help=True)


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError([Problem("command line", None, flag, f"{value!r} is not a date (YYYY-MM-DD)")]) from None


def outcome(candidate: str = typer.Argument(..., help="Candidate id."),
            result: str = typer.Argument(..., metavar="hired|not-hired", help="The hiring decision."),
            on: str = typer.Option(None, "--on", help="Date of the decision (YYYY-MM-DD; default today).")) -> None:
    """Record whether the candidate was hired (the personnel action retention counts from)."""
    from vetting.services.records import record_outcome

    ws, account = acting()
    row = record_outcome(ws, account, candidate, result, _date(on, "--on"))
    typer.echo(f"candidate {candidate}: {row.outcome} on {row.decided_on} (audit event {row.event_seq})")


@retention_app.command("status")
@handles_errors
def status() -> None:
    """Every candidate's records: kept until when, under which rule, and what is due today."""
    from vetting.services.records import retention_status

    rows = retention_status(*acting())
    table = Table("candidate", "cases", "state", "outcome", "counted from", "due on", "holds", "rule")
    for r in rows:
        table.add_row(r.candidate_id, ", ".join(r.cases), r.state, r.outcome,
                      str(r.counted_from or ""), str(r.due_on or ""), ", ".join(map(str, r.holds)), r.rule)
    console.print(table)
    due = [r for r in rows if r.state in ("due", "incomplete")]
    held = [r for r in rows if r.state == "held"]
    typer.echo(f"{len(due)} due for disposal, {len(held)} due but on legal hold"
               + ("; dispose of them with: vet retention dispose --due" if due else ""))


@retention_app.command("dispose")
@handles_errors
def dispose(due: bool = typer.Option(False, "--due", help="Dispose of every record that is due.")) -> None:
    """Dispose of what is due: personal values, evidence files and reports; one certificate per case.

    Exit 1 if a due case was refused because it is on legal hold (the others are disposed of).
    """
    from vetting.services.records import dispose_due

    if not due:
        raise InputError([Problem("command line", None, "--due", "say --due: only what is due is disposed of "
                                                                 "(vet retention status lists it)")])
    run = dispose_due(*acting())
    for d in run.disposed:
        typer.echo(f"disposed of candidate {d.candidate_id} (case(s) {', '.join(d.cases) or 'none'})"
                   + (" (an interrupted disposal, finished)" if d.resumed else "")
                   + f": {d.values_erased} personal value(s), {d.files_removed} evidence file(s), "
                     f"{len(d.reports_removed)} report file(s); certificate event(s) "
                   + ", ".join(map(str, d.certificates)) + f"; rule {d.rule}"
                   + (f"; NOT reached: {len(d.not_reached)} evidence package(s) exported earlier "
                      f"({', '.join(str(x['file']) for x in d.not_reached)}): destroy them where they were sent"
                      if d.not_reached else ""))
    for candidate, why in run.refused:
        typer.echo(f"refused: candidate {candidate}: {why}", err=True)
    if not run.disposed and not run.refused:
        typer.echo("nothing is due for disposal")
    if run.refused:  # the others are disposed of; a held case is a refusal (exit 1), each one recorded
        raise typer.Exit(1)


def _reason_option() -> Any:
    return typer.Option(..., "--reason", help="Why (the lawsuit, charge or request; for a release, why it ended).")


@hold_app.command("place")
@handles_errors
def hold_place(case: str = typer.Argument(..., help="Case id (vet case list)."),
               reason: str = _reason_option()) -> None:
    """Put a case on legal hold: it is never disposed of until released."""
    from vetting.services.records import place_hold

    row = place_hold(*acting(), case, reason)
    typer.echo(f"case {case} is on legal hold (hold {row.id})")


@hold_app.command("release")
@handles_errors
def hold_release(case: str = typer.Argument(..., help="Case id."), reason: str = _reason_option()) -> None:
    """End a case's legal hold (its retention period applies again)."""
    from vetting.services.records import release_hold

    row = release_hold(*acting(), case, reason)
    typer.echo(f"case {case}: legal hold {row.id} released")


@notice_app.command("record")
@handles_errors
def notice_record(case: str = typer.Argument(..., help="Case id."),
                  on: str = typer.Option(..., "--on", help="Date the candidate was notified (YYYY-MM-DD)."),
                  how: str = typer.Option(..., "--how", help="How: letter, e-mail, in person ...")) -> None:
    """Record that the candidate was told of the findings (and given a copy) before they are used."""
    from vetting.services.records import record_notice

    notified_on = _date(on, "--on")
    assert notified_on is not None
    row = record_notice(*acting(), case, notified_on, how)
    typer.echo(f"case {case}: candidate notified on {row.notified_on}; response window {row.window_days} day(s) "
               f"(audit event {row.event_seq})")


@notice_app.command("respond")
@handles_errors
def notice_respond(case: str = typer.Argument(..., help="Case id."),
                   finding: str = typer.Option(None, "--finding", help="The finding's item id (default: the case)."),
                   text: str = typer.Option("", "--text", help="The candidate's words (one line; or --text-file)."),
                   text_file: Path = typer.Option(None, "--text-file", help="A UTF-8 file of the candidate's words."),
                   attach: list[Path] = typer.Option([], "--attach", help="A document the candidate sent (repeat)."),
                   received: str = typer.Option(None, "--received", help="Date received (YYYY-MM-DD; default today).")
                   ) -> None:
    """Record the candidate's response; it appears beside the finding in the next findings report."""
    from vetting.domain.yamlsource import read_text_file
    from vetting.services.records import record_response

    if text and text_file is not None:
        raise InputError([Problem("command line", None, "--text-file", "give --text or --text-file, not both")])
    words = read_text_file(text_file) if text_file is not None else text
    row = record_response(*acting(), case, words, list(attach), item_id=finding,
                          received_on=_date(received, "--received"))
    typer.echo(f"case {case}: response recorded{' to ' + finding if finding else ''}; sha256 {row.document_sha256}"
               f", {len(row.attachments())} attachment(s) (audit event {row.event_seq})")


def mount(app: typer.Typer, *, candidate_app: typer.Typer) -> None:
    """Add the records commands to ``vet``."""
    candidate_app.command("outcome")(handles_errors(outcome))
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")
    app.add_typer(notice_app, name="notice")
