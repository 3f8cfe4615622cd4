"""Shared helpers of the records tests (test_retention, test_holds, test_notices).

The reports workspace (tests/report_fixtures.py: Jane Doe with adverse findings, Omar Haddad
with one clean one) with the casework team logged in (tests/team.py), Jane's case assigned to
the investigator sortiz; a fake clock for the boundary days; a grep for values left anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from people_fixtures import FakeClock
from report_fixtures import Built
from team import Team, make_team

from vetting.people.assignments import assign_case

DAY = timedelta(days=1)


@dataclass
class Office:
    built: Built
    team: Team
    root: Path

    @property
    def ws(self):  # type: ignore[no-untyped-def]
        return self.built.ws

    @property
    def jane(self) -> str:
        return self.built.case_id("jane-doe")

    @property
    def omar(self) -> str:
        return self.built.case_id("omar-haddad")

    def account(self, login: str):  # type: ignore[no-untyped-def]
        return self.team.account(login)


def make_office(built: Built, root: Path) -> Office:
    team = make_team(built.ws, root)
    office = Office(built, team, root)
    assign_case(built.ws, office.jane, "sortiz", actor=team.account("amoreno"))
    return office


def clock_at_start() -> FakeClock:
    return FakeClock()


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def grep(root: Path, values: list[str | bytes]) -> list[tuple[str, str]]:
    """(file, value) for every value found in any file under ``root``."""
    found = []
    for name, data in files_of(root).items():
        for value in values:
            raw = value if isinstance(value, bytes) else value.encode("utf-8")
            if raw in data:
                found.append((name, str(value)[:40]))
    return found


def grep_ws(ws, values: list[str | bytes]) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """``grep`` over a workspace folder, its database files included. The engine's connections are
    closed first: reading (and closing) the database files from this process would drop SQLite's
    POSIX locks on them, and another process could then take its connection for the last one and
    delete the WAL under this one's feet."""
    ws.engine.dispose()
    return grep(ws.root, values)


def actions(ws, action: str) -> list:  # type: ignore[no-untyped-def]
    return [e for e in ws.audit.events() if e.action == action]
