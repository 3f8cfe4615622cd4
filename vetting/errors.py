"""Refusals every part of the toolkit shares, and the exit code each one ends a command with.

Exit codes (docs/cli.md lists them for users):

* 0: done (or, for a check, everything verified);
* 1: refused or a check failed: a workflow rule said no (unapproved procedure, two-person
  rule, damaged evidence, deviation found, audit problem);
* 2: bad input: a malformed file or flag, or a name (candidate, case, procedure, item) that
  does not exist;
* 3: busy: another process holds the case (``vet run`` without ``--wait``);
* 4: internal error: a bug or an environment failure (disk full, database down); the
  message says what happened, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_BUSY = 3
EXIT_INTERNAL = 4


class UnknownName(LookupError):
    """A candidate, case, procedure or item named by the user does not exist (exit 2).

    The message names it and says which command lists the real ones.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class DamagedEvidence(Exception):
    """A report would rest on evidence that no longer verifies (exit 1); the message names
    each finding and its damage. ``--allow-damaged`` renders with a prominent notice instead."""


class AccessRefused(Exception):
    """The acting account may not take this act (exit 1): its roles or its cases do not allow it,
    or the two-person rule does not. The message says which; the refusal is an audit event."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "access refused"
