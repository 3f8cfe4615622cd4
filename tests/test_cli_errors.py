"""Every refusal is one line on stderr with a documented exit code; unknown names say how to list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from test_cli import tree_digest

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


def vet_bytes(ws: Path, *args: str | bytes, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real `vet` entry point (console script's main), arguments as raw bytes when needed."""
    cmd: list[str | bytes] = [sys.executable, "-c", "import sys; from vetting.cli.main import main; sys.exit(main())",
                              "--workspace", str(ws), *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=REPO,
                          env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from case_fixtures import add_item, build_case

    b = build_case(tmp_path_factory.mktemp("errors"))
    add_item(b, "a", "A post.")
    b.ws.engine.dispose()
    return b.ws.root


@pytest.mark.parametrize("args,names,lister", [
    (["review", "case-nope"], "no case 'case-nope'", "vet case list"),
    (["audit", "verify", "--case", "case-nope"], "no case 'case-nope'", "vet case list"),
    (["audit", "show", "case-nope"], "no case 'case-nope'", "vet case list"),
    (["uniformity", "--procedure", "nope"], "no approved procedure 'nope'", "vet procedure list"),
    (["case", "list", "--candidate", "nobody"], "no candidate 'nobody'", "vet candidate list"),
    (["run", "nobody", "--procedure", PROC, "--by", "Inv"], "no candidate 'nobody'", "vet candidate list"),
    (["run", "jane-doe", "--procedure", "nope", "--by", "Inv"], "no approved procedure 'nope'", "vet procedure list"),
    (["report", "findings", "case-nope"], "no case 'case-nope'", "vet case list"),
    (["report", "process", "nope"], "no approved procedure 'nope'", "vet procedure list"),
    (["report", "process", PROC + "@sha256:00"], "has no approved version with fingerprint", "vet procedure list"),
    (["validate", "item-nope", "--decision", "rejected", "--reason", "not hers", "--by", "Inv"],
     "no item 'item-nope'", "vet review CASE --all"),
    (["concur", "999", "--by", "Sgt"], "no decision 999", "vet review CASE --all"),
])
def test_unknown_names_exit_2_one_line_with_how_to_list(ws: Path, vet_main, args, names: str, lister: str) -> None:
    before = tree_digest(ws)
    result = vet_main(ws, *args)
    err = result.stderr.decode()
    assert result.returncode == 2, (args, result.stdout, err)
    assert err.count("\n") == 1 and names in err and lister in err, err
    assert tree_digest(ws) == before


@pytest.mark.parametrize("args,message", [
    (["run"], "Missing argument"),
    (["bogus"], "No such command"),
    (["uniformity"], "Missing option"),
    (["concur", "abc", "--by", "x"], "Invalid value for 'decision'"),
    (["concur", "99999999999999999999999", "--by", "x"], "out of range"),
    (["validate", "item-a", "--decision", "rejected", "--reason", "not hers", "--by", "x", "--supersedes",
      "-99999999999999999999999"], "out of range"),
    (["report", "findings", "x", "--format", "doc"], "must be html or pdf"),
])
def test_usage_errors_are_one_line_exit_2(ws: Path, vet_main, args, message: str) -> None:
    result = vet_main(ws, *args)
    err = result.stderr.decode()
    assert result.returncode == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.timeout(120)
def test_five_megabyte_name_refused_fast_and_output_short(ws: Path, vet_main) -> None:
    """Printing used to grow with the square of a value's length (rich's highlighter): a 5 MB
    --name never finished. It is refused now, in one short line. (The OS caps one argument of
    a real process at 128 KB, so 5 MB is only possible in process; 120 KB goes through exec.)"""
    result = vet_main(ws, "candidate", "add", "--name", "A" * 5_000_000, "--by", "Inv")
    assert result.returncode == 2
    assert len(result.stdout) + len(result.stderr) < 500 and b"too long" in result.stderr
    real = vet_bytes(ws, "candidate", "add", "--name", "A" * 120_000, "--by", "Inv", timeout=60)
    assert real.returncode == 2 and len(real.stderr) < 500 and b"too long" in real.stderr


def test_long_values_printed_plain(tmp_path: Path, vet_main) -> None:
    """The longest accepted values go all the way through (stored, printed), without markup."""
    from conftest import AUTH_PDF

    (tmp_path / "a.pdf").write_bytes(AUTH_PDF)
    result = vet_main(tmp_path / "ws", "candidate", "add", "--name", "Jane [bold]" + "B" * 180, "--by", "Inv",
                      "--authorization", str(tmp_path / "a.pdf"), "--signed-on", "2026-10-01")
    assert result.returncode == 0, result.stderr
    assert b"[bold]" in result.stdout


@pytest.mark.parametrize("arg,message", [
    (b"case-\xff", b"not valid UTF-8"),
    (b"case-\x01", b"control character U+0001"),
    (b"case-\nx", b"control character U+000A"),
])
def test_hostile_argument_bytes(ws: Path, arg: bytes, message: bytes) -> None:
    result = vet_bytes(ws, "review", arg)
    assert result.returncode == 2 and message in result.stderr and b"Traceback" not in result.stderr


def test_verify_receipts_of_a_binary_file(ws: Path, tmp_path: Path, vet_main) -> None:
    binary = tmp_path / "report.html"
    binary.write_bytes(bytes(range(256)) * 10)
    result = vet_main(ws, "report", "verify-receipts", str(binary))
    assert result.returncode == 1 and b"not UTF-8" in result.stdout and b"Traceback" not in result.stderr
    folder = vet_main(ws, "report", "verify-receipts", str(tmp_path))
    assert folder.returncode == 2 and folder.stderr.count(b"\n") == 1


def test_devices_are_not_files(ws: Path, vet_main) -> None:
    for args in (["sites", "import", "/dev/zero", "--out", "/tmp/never.json"], ["procedure", "check", "/dev/zero"],
                 ["candidate", "add", "--file", "/dev/zero", "--by", "Inv"], ["validate", "--file", "/dev/zero"]):
        result = vet_main(ws, *args)
        assert result.returncode == 2 and b"is not a regular file" in result.stderr, (args, result.stderr)


def test_report_into_a_missing_folder(ws: Path, tmp_path: Path, vet_main) -> None:
    import sqlite3

    with sqlite3.connect(ws / "vetting.db") as db:
        (case,) = db.execute('SELECT id FROM "case"').fetchone()
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
