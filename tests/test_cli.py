"""The `vet` command line: thin over the library, clear errors, bad input changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from digests import casework_digest, tree_digest
from team import Team
from typer.testing import CliRunner

from vetting.cli.main import app

runner = CliRunner()


def invoke(ws: Path, *args: str):
    return runner.invoke(app, ["--workspace", str(ws), *args])


def invoke_as(team: Team, login: str, *args: str, **kwargs):  # type: ignore[no-untyped-def]
    """``vet`` in this process, in the team's workspace, logged in as ``login`` (tests/team.py)."""
    with team.acting(login):
        return runner.invoke(app, ["--workspace", str(team.ws.root), *args], **kwargs)


@pytest.fixture
def procs(tmp_path: Path, shipped_procedure: Path) -> Path:
    shutil.copytree(shipped_procedure.parent, tmp_path / "procedures")
    return tmp_path / "procedures" / shipped_procedure.name


@pytest.fixture
def approved_ws(team: Team, procs: Path, auth_file: Path) -> Team:
    """The team's workspace with the procedure approved by the commander and Jane added by the investigator."""
    result = invoke_as(team, "dwhitfield", "procedure", "approve", str(procs))
    assert result.exit_code == 0, result.output
    result = invoke_as(team, "sortiz", "candidate", "add", "--name", "Jane Doe", "--username", "janed",
                       "--authorization", str(auth_file), "--signed-on", "2026-10-01")
    assert result.exit_code == 0, result.output
    return team


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("procedure", "candidate", "run", "uniformity", "demo", "audit", "sites"):
        assert command in result.output


def test_procedure_check_prints_fingerprint(procs: Path) -> None:
    from vetting.domain.procedure import load_procedure

    result = runner.invoke(app, ["procedure", "check", str(procs)])
    assert result.exit_code == 0, result.output
    assert load_procedure(procs).fingerprint in result.output


def test_invalid_procedure_exit_2_with_line(tmp_path: Path, procs: Path) -> None:
    data = yaml.safe_load(procs.read_text())
    data["steps"][0]["collector"] = "scraper"
    procs.write_text(yaml.safe_dump(data, sort_keys=False))
    line = next(i for i, text in enumerate(procs.read_text().splitlines(), 1) if "scraper" in text)
    result = runner.invoke(app, ["procedure", "check", str(procs)])
    assert result.exit_code == 2
    assert f"{procs}:{line}: steps[0].collector: unknown collector 'scraper'" in result.output


def test_approve_invalid_procedure_changes_nothing(tmp_path: Path, procs: Path, team: Team) -> None:
    missing = tmp_path / "none"
    with team.acting("dwhitfield"):
        assert invoke(missing, "candidate", "list").exit_code == 1  # no workspace: refused, nothing created
        result = invoke(missing, "procedure", "approve", str(procs))  # approving no longer creates one
    assert result.exit_code == 1 and "no workspace at" in result.output, result.output
    assert not missing.exists()
    procs.write_text(procs.read_text().replace("collector: search", "collector: nope"))
    team.account("dwhitfield")  # the session's first use (an audit event) is behind us: the refusal adds nothing
    before = casework_digest(team.ws.root)
    result = invoke_as(team, "dwhitfield", "procedure", "approve", str(procs))
    assert result.exit_code == 2, result.output
    assert casework_digest(team.ws.root) == before
    result = invoke_as(team, "dwhitfield", "procedure", "list")
    assert result.exit_code == 0, result.output
    assert "kcpd" not in result.output  # the workspace holds no approval


@pytest.mark.parametrize("args,code,message", [
    (["run", "nobody", "--procedure", "kcpd-261-1-preemployment"], 2, "no candidate 'nobody'"),
    (["run", "jane-doe", "--procedure", "unknown-proc"], 2, "no approved procedure 'unknown-proc'"),
    (["candidate", "add", "--name", "John Roe"], 2, "no signed authorization"),
    (["candidate", "add", "--name", "John Roe", "--email", "nope"], 2, "not an e-mail"),
    (["candidate", "add", "--name", "John Roe", "--phone", "555-0100"], 2, "not a complete phone number"),
])
def test_refusals_change_nothing(approved_ws: Team, args, code, message) -> None:
    """The investigator's bad input is refused, and the workspace is as it was (its idle clock aside)."""
    before = casework_digest(approved_ws.ws.root)
    result = invoke_as(approved_ws, "sortiz", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert casework_digest(approved_ws.ws.root) == before


def test_foreign_workspace_refused(tmp_path: Path, procs: Path, team: Team) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    before = tree_digest(foreign)
    with team.acting("dwhitfield"):
        result = invoke(foreign, "procedure", "approve", str(procs))
    assert result.exit_code == 1 and "not a vetting workspace" in result.output, result.output
    assert tree_digest(foreign) == before


def test_uniformity_names_a_candidate_never_run(approved_ws: Team) -> None:
    """Issue 9.4: a candidate of the workspace with no complete case was not searched like the others."""
    result = invoke_as(approved_ws, "sortiz", "uniformity", "--procedure", "kcpd-261-1-preemployment")
    assert result.exit_code == 1, result.output
    assert "jane-doe: never run under kcpd-261-1-preemployment" in result.output


def test_case_list_shows_cases_and_pending_items(tmp_path: Path, auth_file: Path) -> None:
    from case_fixtures import add_item, build_case
    from team import make_team

    from vetting.people.assignments import assign_case

    b = build_case(tmp_path)
    add_item(b, "a", "A post.")
    team = make_team(b.ws, tmp_path)
    assign_case(b.ws, b.plan.case.id, "sortiz", actor=team.account("amoreno"))
    result = invoke_as(team, "sortiz", "case", "list", "--candidate", "jane-doe", env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert b.plan.case.id in result.output and "kcpd-261-1-preemployment v1" in result.output
    row = next(line for line in result.output.splitlines() if b.plan.case.id in line)
    cells = [cell.strip() for cell in row.strip(" │").split("│")]
    assert cells[-2:] == ["1", "sortiz"]  # one item awaits a decision; the case is assigned to sortiz
    empty = invoke_as(team, "sortiz", "case", "list", "--candidate", "nobody")
    assert empty.exit_code == 2 and "no candidate 'nobody'" in empty.output and "vet candidate list" in empty.output


def test_version_needs_no_command_and_no_login() -> None:
    from conftest import vet

    from vetting import __version__

    result = vet("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"vet {__version__}", result.stdout + result.stderr
