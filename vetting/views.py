"""Terminal views (rich) of the toolkit's reports: kept apart so the CLI stays thin."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from vetting.uniformity import UniformityReport

STATE_STYLE = {"completed": "green", "no_input": "cyan", "failed": "red", "running": "yellow",
               "pending": "dim"}


def print_uniformity(console: Console, report: UniformityReport) -> None:
    if not report.groups:
        console.print(f"no approved version of procedure {report.procedure_id!r}")
    for group in report.groups:
        table = Table(title=f"{report.procedure_id} v{group.version} {group.fingerprint[:23]}… "
                            f"(approved by {group.approved_by})")
        table.add_column("candidate")
        for i, step in enumerate(group.steps, 1):
            table.add_column(f"{i}. {step}")
        table.add_column("case")
        for row in group.cases:
            cells = []
            for step in group.steps:
                state = row.steps.get(step, "missing")
                cells.append(f"[{STATE_STYLE.get(state, 'bold red')}]{state}[/]")
            table.add_row(row.candidate_id, *cells, row.status)
        console.print(table)
    if report.deviations:
        console.print(f"[bold red]{len(report.deviations)} deviation(s):[/]")
        for d in report.deviations:
            console.print(f"  - {d}", markup=False)
    else:
        console.print("[green]uniform[/]: every case ran the procedure's steps in order")


def print_timeline(console: Console, events: list) -> None:
    """A case's audit events, one line each: what happened, when, by whom."""
    table = Table("seq", "time (UTC)", "actor", "action", "subject", "detail")
    for e in events:
        p = e.payload
        detail = ", ".join(f"{k}={p[k]}" for k in ("status", "outcome", "reason", "position", "attempt")
                           if k in p and p[k] not in (None, ""))
        table.add_row(str(e.seq), e.time[:19], e.actor, e.action, (e.subject or "")[:60], detail[:80])
    console.print(table)
