"""``vet queue status|cancel``, ``vet worker`` and ``vet run --queue``: the job queue's commands.

Mounted by the main CLI. On a workspace whose database is not PostgreSQL every one of them
says so in one line and exits 2 (:class:`~vetting.queue.database.QueueNeedsPostgres`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table

from vetting.cli.support import acting, console, echo_error, handles_errors

F = TypeVar("F", bound=Callable[..., Any])

queue_app = typer.Typer(help="The job queue (PostgreSQL workspaces): status and cancel.", no_args_is_help=True)


def needs_postgres(fn: F) -> F:
    """One line and exit 2 when the workspace's database is not PostgreSQL."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vetting.queue.database import QueueNeedsPostgres

        try:
            return fn(*args, **kwargs)
        except QueueNeedsPostgres as exc:
            echo_error(str(exc))
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def queue_run(ws: Any, account: Any, candidates: list[str], procedure: str) -> None:
    """``vet run --queue``: one job per case, for the workers; each job runs as ``account``."""
    from vetting.services.cases import queue_cases

    deferred = queue_cases(ws, account, candidates, procedure)
    for d in deferred:
        job = f" (job {d.job_id})" if d.job_id is not None else ""
        typer.echo(f"{d.case_id}: {d.note}{job}")
    typer.echo("run the cases with: vet worker; follow them with: vet queue status")


@queue_app.command("status")
@needs_postgres
@handles_errors
def status() -> None:
    """Queued, running, failed, done and cancelled jobs, one line per case."""
    from vetting.services.cases import queue_status

    report = queue_status(*acting())
    table = Table("case", "candidate", "job", "state", "attempt", "steps", "since")
    for j in report.jobs:
        table.add_row(j.case_id, j.candidate_id, str(j.job_id), j.state, str(j.attempts),
                      f"{j.steps_done}/{j.steps_total}", j.since.isoformat(timespec="seconds") if j.since else "")
    console.print(table)
    typer.echo(", ".join(f"{name}: {n}" for name, n in report.counts().items()))


@queue_app.command("cancel")
@needs_postgres
@handles_errors
def cancel(case: str = typer.Argument(..., help="Case id (vet queue status lists them)."),
           reason: str = typer.Option(..., "--reason", help="Why the case is stopped."),
           wait: float = typer.Option(60.0, "--wait", help="Seconds to wait for the worker to end the case.")) -> None:
    """Stop a case: its process is ended and the steps left are recorded cancelled."""
    from vetting.services.cases import cancel_case

    result = cancel_case(*acting(), case, reason, wait_seconds=wait)
    jobs = ", ".join(map(str, result.jobs))
    if not result.confirmed:
        typer.echo(f"{case}: cancel requested (job {jobs}); its worker has not confirmed within {wait:g} s: "
                   "the steps left are recorded cancelled when it does, or when the worker is found dead", err=True)
        raise typer.Exit(1)
    steps = ", ".join(result.steps) or "none (every step had already ended)"
    typer.echo(f"{case}: cancelled (job {jobs}); steps recorded cancelled: {steps}")


def _key_login(login: str, key_file: Path) -> tuple[Any, Any]:
    """The workspace and the automation account whose key is in ``key_file`` (a real login, audited)."""
    from vetting.cli.support import open_ws
    from vetting.domain.yamlsource import read_bytes_file
    from vetting.people.sessions import login_automation

    key = read_bytes_file(key_file, max_bytes=1024).decode("utf-8", "replace").strip()
    ws = open_ws(create=False)
    return ws, login_automation(ws, login, key, kind="worker").account


@needs_postgres
@handles_errors
def worker(name: str = typer.Option(None, "--name", help="Worker name in the audit log (default HOST-PID)."),
           concurrency: int = typer.Option(1, "--concurrency", min=1, max=32,
                                           help="Cases this worker runs at once (one process each)."),
           heartbeat: float = typer.Option(10.0, "--heartbeat", min=0.5, help="Seconds between heartbeats."),
           stalled_after: float = typer.Option(30.0, "--stalled-after", min=1.0,
                                               help="Seconds without a heartbeat after which a worker is "
                                                    "dead and its case is retried."),
           shutdown_grace: float = typer.Option(30.0, "--shutdown-grace", min=0.0,
                                                help="On SIGTERM, seconds a running case gets to finish before "
                                                     "its process is ended and its job put back in the queue."),
           burst: bool = typer.Option(False, "--burst", help="Stop when the queue is empty."),
           login: str = typer.Option(None, "--login", help="Log in as this automation account with --key-file "
                                                           "(a service: no token file, no terminal)."),
           key_file: Path = typer.Option(None, "--key-file", help="File holding the automation account's key "
                                                                  "(a secret mounted for the service).")) -> None:
    """Run queued cases, each in its own process, until stopped (SIGINT/SIGTERM); an automation account's act.

    Either log in first (``vet login BOT --key``) or give ``--login`` and ``--key-file``. Each
    job runs as the account that queued it.
    """
    from vetting.services.cases import start_worker

    if stalled_after <= heartbeat:
        raise typer.BadParameter("must be longer than --heartbeat", param_hint="--stalled-after")
    if (login is None) != (key_file is None):
        raise typer.BadParameter("give both --login and --key-file, or neither (then: vet login first)",
                                 param_hint="--key-file")
    ws, account = acting() if login is None else _key_login(login, key_file)
    start_worker(ws, account, name=name, concurrency=concurrency, heartbeat=heartbeat,
               stalled_after=stalled_after, burst=burst, shutdown_grace=shutdown_grace)
