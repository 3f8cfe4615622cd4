"""What every ``vet`` command shares: the chosen workspace, and how refusals become exit codes.

Kept apart from :mod:`vetting.cli.main` so sub-command modules (``vetting.cli.reports``) import it
without importing the CLI that mounts them, and so ``python -m vetting.cli.main`` (which loads the
CLI as ``__main__``) still shares one state with them.

Every refusal is one line per problem on stderr and an exit code from :mod:`vetting.errors`
(docs/cli.md); no input, however wrong, ends in a traceback.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from vetting.domain.yamlsource import INT_MAX, INT_MIN, InputError, Problem, check_text, clip, one_line
from vetting.errors import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_INTERNAL, EXIT_REFUSED, DamagedEvidence, UnknownName

F = TypeVar("F", bound=Callable[..., Any])

# highlight=False: rich's automatic highlighter runs regexes whose time grows with the square
# of an unbroken value's length (a 100 KB name took 56 s to print); values are shown plain.
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

#: Longest value any command-line option or argument may carry (characters).
MAX_ARG_CHARS = 10_000
#: Options whose text may span several lines (a person's free text).
MULTILINE_OPTIONS = {"reason", "discredit", "mitigating"}


#: File-system errors that mean the user named an unusable path (exit 2), not a broken machine.
_BAD_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
                    errno.EEXIST, errno.EROFS, errno.ELOOP, errno.ENOTEMPTY}


class State:
    workspace: Path | None = None


state = State()


def _flag(fn: Callable[..., Any], name: str) -> str:
    """How the user spelled parameter ``name`` of command ``fn`` (``--name``, ``CASE``)."""
    default = inspect.signature(fn).parameters.get(name)
    decls = getattr(getattr(default, "default", None), "param_decls", None) or ()
    longs = [d for d in decls if d.startswith("--")]
    if longs:
        return longs[0]
    if decls:
        return decls[0]
    return name.upper() if type(getattr(default, "default", None)).__name__ == "ArgumentInfo" \
        else "--" + name.replace("_", "-")


def _path_problem(path: Path) -> str | None:
    """Why a file name cannot be used on this system (too long), before anything opens it."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:
        return "not valid UTF-8 text"
    if len(raw) >= 4096 or any(len(part) > 255 for part in raw.split(b"/")):
        return "file name too long"
    return None


def check_arguments(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Refuse over-long, non-UTF-8 or control-character-laden arguments before any work."""
    problems = []
    for name, value in kwargs.items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and not INT_MIN <= v <= INT_MAX:
                problems.append(Problem("command line", None, _flag(fn, name),
                                        f"number {clip(v, 30)} is out of range (at most {INT_MAX:,})"))
                continue
            path_message = _path_problem(v) if isinstance(v, Path) else None
            if isinstance(v, Path):
                v = str(v)
            if not isinstance(v, str):
                continue
            message = check_text(v, max_chars=MAX_ARG_CHARS) or path_message
            if message is None and name == "by" and not v.strip():
                message = "name the person acting (it is recorded in the audit log)"
            if message is None and name not in MULTILINE_OPTIONS:
                line_break = next((i for i, ch in enumerate(v) if ch in "\t\n\r"), None)
                if line_break is not None:
                    message = (f"control character U+{ord(v[line_break]):04X} at position {line_break + 1} "
                               "is not allowed")
            if message:
                problems.append(Problem("command line", None, _flag(fn, name), message))
    if problems:
        raise InputError(problems)


def shown(value: object, limit: int = 200) -> str:
    """A user's or a page's value as terminal text: cut to ``limit`` and never read as markup."""
    from rich.markup import escape

    return escape(clip(value, limit))


def echo_error(message: str) -> None:
    """One refusal, one line on stderr."""
    typer.echo(f"error: {one_line(message, 1000)}", err=True)


class _NotLoaded(Exception):
    """Stands in for an exception class whose module was never imported (so never raised)."""


def _run_error() -> type[Exception]:
    """``vetting.engine.steps.RunError`` if the engine was imported, which it is whenever it raised one.

    Looked up when an exception is being handled, not imported up front: the engine imports
    Scrapy and the collectors, a quarter of a second that commands like ``vet audit verify``
    never use.
    """
    engine = sys.modules.get("vetting.engine.steps")
    return engine.RunError if engine is not None else _NotLoaded


def handles_errors(fn: F) -> F:
    """Turn the toolkit's refusals into one-line messages and documented exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vetting.domain.approvals import ApprovalError
        from vetting.domain.candidates import CandidateError
        from vetting.queue.database import QueueNeedsPostgres
        from vetting.review.validation import ValidationRefused
        from vetting.store.caselock import CaseBusy
        from vetting.store.db import SchemaTooNew
        from vetting.store.workspace import WorkspaceError

        try:
            check_arguments(fn, kwargs)
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except InputError as exc:
            # Plain text, never wrapped: "file:line: field: message" must stay greppable.
            for problem in exc.problems:
                echo_error(str(problem))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (UnknownName, QueueNeedsPostgres) as exc:
            echo_error(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except CaseBusy as exc:
            echo_error(str(exc))
            raise typer.Exit(EXIT_BUSY) from None
        except ValidationRefused as exc:
            typer.echo(f"refused: {one_line(exc, 1000)}", err=True)
            raise typer.Exit(EXIT_REFUSED) from None
        except (ApprovalError, CandidateError, _run_error(), WorkspaceError, SchemaTooNew, DamagedEvidence) as exc:
            echo_error(str(exc))
            raise typer.Exit(EXIT_REFUSED) from None
        except OSError as exc:
            if exc.errno not in _BAD_PATH_ERRNOS:
                if os.environ.get("VETTING_DEBUG"):
                    raise
                echo_error(f"internal error: {exc.strerror or exc} ({clip(exc.filename or '', 200)}); check the "
                           "disk and the workspace (set VETTING_DEBUG=1 to see the traceback)")
                raise typer.Exit(EXIT_INTERNAL) from None
            echo_error(f"{clip(exc.filename or '', 200)}: {exc.strerror}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            echo_error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, never a traceback
            if os.environ.get("VETTING_DEBUG"):
                raise
            echo_error(f"internal error: {type(exc).__name__}: {clip(exc, 300)} "
                       "(set VETTING_DEBUG=1 to see the traceback)")
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def open_ws(create: bool = True) -> Any:
    from vetting.store.workspace import Workspace

    return Workspace.open(state.workspace, create=create)
