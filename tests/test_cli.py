"""The `vet` command line: thin over the library, clear errors, bad input changes nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vetting.cli.main import app

runner = CliRunner()


def invoke(ws: Path, *args: str):
    return runner.invoke(app, ["--workspace", str(ws), *args])


def tree_digest(root: Path) -> str:
    """A digest of every file under root: 'changes nothing' made checkable.

    The SQLite database is compared by its content (a dump), not its bytes: merely opening a
    WAL database may checkpoint it, which moves bytes without changing any row.
    """
    import sqlite3

    h = hashlib.sha256()
    if root.exists():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.endswith(("-wal", "-shm")):
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            if path.suffix == ".db":
                with sqlite3.connect(path) as db:
                    h.update("\n".join(db.iterdump()).encode())
            else:
                h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def procs(tmp_path: Path, shipped_procedure: Path) -> Path:
    shutil.copytree(shipped_procedure.parent, tmp_path / "procedures")
    return tmp_path / "procedures" / shipped_procedure.name


@pytest.fixture
def approved_ws(tmp_path: Path, procs: Path, auth_file: Path) -> Path:
    ws = tmp_path / "ws"
    result = invoke(ws, "procedure", "approve", str(procs), "--by", "Capt. Rao")
    assert result.exit_code == 0, result.output
    result = invoke(ws, "candidate", "add", "--name", "Jane Doe", "--username", "janed",
                    "--authorization", str(auth_file), "--signed-on", "2026-10-01", "--by", "Inv. Lee")
    assert result.exit_code == 0, result.output
    return ws


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


def test_approve_invalid_procedure_changes_nothing(tmp_path: Path, procs: Path) -> None:
    ws = tmp_path / "ws"
    assert invoke(ws, "candidate", "list").exit_code == 1  # no workspace yet: refused, nothing created
    assert not ws.exists()
    procs.write_text(procs.read_text().replace("collector: search", "collector: nope"))
    result = invoke(ws, "procedure", "approve", str(procs), "--by", "Capt. Rao")
    assert result.exit_code == 2
    # the workspace may be created on first use, but holds no approval
    result = invoke(ws, "procedure", "list")
    assert "kcpd" not in result.output


@pytest.mark.parametrize("args,code,message", [
    (["run", "nobody", "--procedure", "kcpd-261-1-preemployment", "--by", "Inv. Lee"], 2, "no candidate 'nobody'"),
    (["run", "jane-doe", "--procedure", "unknown-proc", "--by", "Inv. Lee"], 2, "no approved procedure 'unknown-proc'"),
    (["candidate", "add", "--name", "John Roe", "--by", "Inv. Lee"], 2, "no signed authorization"),
    (["candidate", "add", "--name", "John Roe", "--email", "nope", "--by", "Inv. Lee"], 2, "not an e-mail"),
    (["candidate", "add", "--name", "John Roe", "--phone", "555-0100", "--by", "Inv. Lee"], 2,
     "not a complete phone number"),
])
def test_refusals_change_nothing(approved_ws: Path, args, code, message) -> None:
    before = tree_digest(approved_ws)
    result = invoke(approved_ws, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert tree_digest(approved_ws) == before


def test_foreign_workspace_refused(tmp_path: Path, procs: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    before = tree_digest(foreign)
    result = invoke(foreign, "procedure", "approve", str(procs), "--by", "Capt. Rao")
    assert result.exit_code == 1 and "not a vetting workspace" in result.output
    assert tree_digest(foreign) == before


def test_uniformity_names_a_candidate_never_run(approved_ws: Path) -> None:
    """Issue 9.4: a candidate of the workspace with no complete case was not searched like the others."""
    result = invoke(approved_ws, "uniformity", "--procedure", "kcpd-261-1-preemployment")
    assert result.exit_code == 1, result.output
    assert "jane-doe: never run under kcpd-261-1-preemployment" in result.output


def test_case_list_shows_cases_and_pending_items(tmp_path: Path, auth_file: Path) -> None:
    from case_fixtures import add_item, build_case

    b = build_case(tmp_path)
    add_item(b, "a", "A post.")
    result = runner.invoke(app, ["--workspace", str(b.ws.root), "case", "list", "--candidate", "jane-doe"],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert b.plan.case.id in result.output and "kcpd-261-1-preemployment v1" in result.output
    row = next(line for line in result.output.splitlines() if b.plan.case.id in line)
    assert row.rstrip(" │").endswith("1")  # one item awaits a decision
    empty = runner.invoke(app, ["--workspace", str(b.ws.root), "case", "list", "--candidate", "nobody"])
    assert empty.exit_code == 2 and "no candidate 'nobody'" in empty.output and "vet candidate list" in empty.output
