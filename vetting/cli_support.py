"""What every ``vet`` command shares: the chosen workspace, and how refusals become exit codes.

Kept apart from :mod:`vetting.cli` so sub-command modules (``vetting.report_cli``) import it
without importing the CLI that mounts them, and so ``python -m vetting.cli`` (which loads the
CLI as ``__main__``) still shares one state with them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from vetting.yamlsource import InputError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err = Console(stderr=True)


class State:
    workspace: Path | None = None


state = State()


def handles_errors(fn: F) -> F:
    """Turn the toolkit's refusals into clear messages and exit codes (2: bad input, 1: refused)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vetting.approvals import ApprovalError
        from vetting.candidates import CandidateError
        from vetting.engine import RunError
        from vetting.workspace import WorkspaceError

        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            # Plain text, never wrapped: "file:line: field: message" must stay greppable.
            typer.echo(f"error: {len(exc.problems)} problem(s):", err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(2) from None
        except (ApprovalError, CandidateError, RunError, WorkspaceError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def open_ws(create: bool = True) -> Any:
    from vetting.workspace import Workspace

    return Workspace.open(state.workspace, create=create)
