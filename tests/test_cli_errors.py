"""Every refusal is one line on stderr with a documented exit code; unknown names say how to list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from digests import casework_digest
from team import Team

PROC = "kcpd-261-1-preemployment"


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout.encode("utf-8", "surrogateescape"), \
            stderr.encode("utf-8", "surrogateescape")


@pytest.fixture
def vet_main(capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """The `vet` entry point (main, as the console script calls it) in this process: fast."""
    from vetting.cli.main import main

    def run(ws: Path, *args: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["vet", "--workspace", str(ws), *args])
        capsys.readouterr()
        code = main()
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def vet_bytes(ws: Path, *args: str | bytes, timeout: float = 120, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess:
    """The real `vet` entry point (console script's main), arguments as raw bytes when needed."""
    cmd: list[str | bytes] = [sys.executable, "-c", "import sys; from vetting.cli.main import main; sys.exit(main())",
                              "--workspace", str(ws), *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=REPO,
                          env=dict(os.environ, COLUMNS="200", NO_COLOR="1", **(env or {})))


@pytest.fixture(scope="module")
def crew(tmp_path_factory: pytest.TempPathFactory) -> Team:
    """A screened case (one item) and the logged-in team of its workspace (tests/team.py)."""
    from case_fixtures import add_item, build_case
    from team import CAST, make_team

    base = tmp_path_factory.mktemp("errors")
    b = build_case(base)
    add_item(b, "a", "A post.")
    team = make_team(b.ws, base)
    for login in CAST:
        team.account(login)  # each session's first use (an audit event) is behind us: refusals add nothing
    b.ws.engine.dispose()
    return team


@pytest.fixture
def ws(crew: Team) -> Path:
    return crew.ws.root


@pytest.mark.parametrize("login,args,names,lister", [
    ("amoreno", ["review", "case-nope"], "no case 'case-nope'", "vet case list"),
    ("sortiz", ["audit", "verify", "--case", "case-nope"], "no case 'case-nope'", "vet case list"),
    ("amoreno", ["audit", "show", "case-nope"], "no case 'case-nope'", "vet case list"),
    ("sortiz", ["uniformity", "--procedure", "nope"], "no approved procedure 'nope'", "vet procedure list"),
    ("sortiz", ["case", "list", "--candidate", "nobody"], "no candidate 'nobody'", "vet candidate list"),
    ("sortiz", ["run", "nobody", "--procedure", PROC], "no candidate 'nobody'", "vet candidate list"),
    ("sortiz", ["run", "jane-doe", "--procedure", "nope"], "no approved procedure 'nope'", "vet procedure list"),
    ("amoreno", ["report", "findings", "case-nope"], "no case 'case-nope'", "vet case list"),
    ("dwhitfield", ["report", "process", "nope"], "no approved procedure 'nope'", "vet procedure list"),
    ("dwhitfield", ["report", "process", PROC + "@sha256:00"], "has no approved version with fingerprint",
     "vet procedure list"),
    ("sortiz", ["validate", "item-nope", "--decision", "rejected", "--reason", "not hers"],
     "no item 'item-nope'", "vet review CASE --all"),
    ("amoreno", ["concur", "999"], "no decision 999", "vet review CASE --all"),
])
def test_unknown_names_exit_2_one_line_with_how_to_list(crew: Team, vet_main, login: str, args, names: str,
                                                        lister: str) -> None:
    """Each act by an account whose role allows it (so the name, not the role, is what is refused)."""
    ws = crew.ws.root
    before = casework_digest(ws)
    with crew.acting(login):
        result = vet_main(ws, *args)
    err = result.stderr.decode()
    assert result.returncode == 2, (args, result.stdout, err)
    assert err.count("\n") == 1 and names in err and lister in err, err
    assert casework_digest(ws) == before


@pytest.mark.parametrize("login,args,message", [
    ("sortiz", ["run"], "Missing argument"),
    ("sortiz", ["bogus"], "No such command"),
    ("sortiz", ["uniformity"], "Missing option"),
    ("amoreno", ["concur", "abc"], "Invalid value for 'decision'"),
    ("amoreno", ["concur", "99999999999999999999999"], "out of range"),
    ("sortiz", ["validate", "item-a", "--decision", "rejected", "--reason", "not hers", "--supersedes",
                "-99999999999999999999999"], "out of range"),
    ("amoreno", ["report", "findings", "x", "--format", "doc"], "must be html or pdf"),
])
def test_usage_errors_are_one_line_exit_2(crew: Team, vet_main, login: str, args, message: str) -> None:
    with crew.acting(login):
        result = vet_main(crew.ws.root, *args)
    err = result.stderr.decode()
    assert result.returncode == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.timeout(120)
def test_five_megabyte_name_refused_fast_and_output_short(crew: Team, vet_main) -> None:
    """Printing used to grow with the square of a value's length (rich's highlighter): a 5 MB
    --name never finished. It is refused now, in one short line. (The OS caps one argument of
    a real process at 128 KB, so 5 MB is only possible in process; 120 KB goes through exec.)"""
    ws = crew.ws.root
    with crew.acting("sortiz"):
        result = vet_main(ws, "candidate", "add", "--name", "A" * 5_000_000)
    assert result.returncode == 2
    assert len(result.stdout) + len(result.stderr) < 500 and b"too long" in result.stderr
    real = vet_bytes(ws, "candidate", "add", "--name", "A" * 120_000, timeout=60, env=crew.env("sortiz"))
    assert real.returncode == 2 and len(real.stderr) < 500 and b"too long" in real.stderr


def test_long_values_printed_plain(tmp_path: Path, team: Team, vet_main) -> None:
    """The longest accepted values go all the way through (stored, printed), without markup."""
    from conftest import AUTH_PDF

    (tmp_path / "a.pdf").write_bytes(AUTH_PDF)
    with team.acting("sortiz"):
        result = vet_main(team.ws.root, "candidate", "add", "--name", "Jane [bold]" + "B" * 180,
                          "--authorization", str(tmp_path / "a.pdf"), "--signed-on", "2026-10-01")
    assert result.returncode == 0, result.stderr
    assert b"[bold]" in result.stdout


@pytest.mark.parametrize("arg,message", [
    (b"case-\xff", b"not valid UTF-8"),
    (b"case-\x01", b"control character U+0001"),
    (b"case-\nx", b"control character U+000A"),
])
def test_hostile_argument_bytes(crew: Team, arg: bytes, message: bytes) -> None:
    result = vet_bytes(crew.ws.root, "review", arg, env=crew.env("amoreno"))
    assert result.returncode == 2 and message in result.stderr and b"Traceback" not in result.stderr


def test_verify_receipts_of_a_binary_file(crew: Team, tmp_path: Path, vet_main) -> None:
    binary = tmp_path / "report.html"
    binary.write_bytes(bytes(range(256)) * 10)
    with crew.acting("hjones"):  # hiring staff check the reports they hold
        result = vet_main(crew.ws.root, "report", "verify-receipts", str(binary))
        folder = vet_main(crew.ws.root, "report", "verify-receipts", str(tmp_path))
    assert result.returncode == 1 and b"not UTF-8" in result.stdout and b"Traceback" not in result.stderr
    assert folder.returncode == 2 and folder.stderr.count(b"\n") == 1


def test_devices_are_not_files(crew: Team, vet_main) -> None:
    for args in (["sites", "import", "/dev/zero", "--out", "/tmp/never.json"], ["procedure", "check", "/dev/zero"],
                 ["candidate", "add", "--file", "/dev/zero"], ["validate", "--file", "/dev/zero"]):
        with crew.acting("sortiz"):
            result = vet_main(crew.ws.root, *args)
        assert result.returncode == 2 and b"is not a regular file" in result.stderr, (args, result.stderr)


def test_report_into_a_missing_folder(crew: Team, tmp_path: Path, vet_main) -> None:
    import sqlite3

    ws = crew.ws.root
    with sqlite3.connect(ws / "vetting.db") as db:
        (case,) = db.execute('SELECT id FROM "case"').fetchone()
    with crew.acting("amoreno"):
        result = vet_main(ws, "report", "findings", case, "-o", str(tmp_path / "missing" / "r.html"))
    assert result.returncode == 2 and b"does not exist" in result.stderr and result.stderr.count(b"\n") == 1


def test_internal_errors_are_one_line_exit_4(tmp_path: Path, vet_main) -> None:
    """A database that is not SQLite: the last line of defence turns it into one line, exit 4."""
    from vetting.store.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    ws.engine.dispose()
    (tmp_path / "ws" / "vetting.db").write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "ws" / f"vetting.db{suffix}").unlink(missing_ok=True)
    result = vet_main(tmp_path / "ws", "candidate", "list")
    err = result.stderr.decode()
    assert result.returncode == 4 and err.count("\n") == 1 and "internal error" in err and "Traceback" not in err


def test_a_run_error_is_a_refusal_though_the_engine_is_imported_only_when_used(capsys) -> None:  # type: ignore[no-untyped-def]
    """handles_errors looks RunError up when handling (vet audit verify never imports the engine)."""
    import typer

    from vetting.cli.support import handles_errors
    from vetting.errors import EXIT_INTERNAL, EXIT_REFUSED

    @handles_errors
    def refused() -> None:
        from vetting.engine.steps import RunError

        raise RunError("no such case")

    @handles_errors
    def broken() -> None:
        raise ValueError("boom")

    for fn, code, line in ((refused, EXIT_REFUSED, "error: no such case"),
                           (broken, EXIT_INTERNAL, "error: internal error: ValueError: boom")):
        with pytest.raises(typer.Exit) as exc:
            fn()
        assert exc.value.exit_code == code
        assert capsys.readouterr().err.startswith(line)
    code = ("import sys\nfrom vetting.cli.support import handles_errors\n"
            "handles_errors(lambda: None)()\nprint('vetting.engine.steps' in sys.modules, 'scrapy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"]
