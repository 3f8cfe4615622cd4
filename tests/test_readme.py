"""The README and `vet --help` agree: every command is documented, every documented one exists."""

from __future__ import annotations

import re

from conftest import REPO
from typer.testing import CliRunner

from vetting.cli.main import app


def cli_commands() -> set[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = set()
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        if sub:
            names.update(f"{name} {s}" for s in sub)
        else:
            names.add(name)
    return names


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("##", 1)[0]
    missing = [c for c in sorted(cli_commands()) if f"vet {c}" not in table and
               not re.search(rf"vet {c.split()[0]} [^|]*{c.split()[-1]}", table)]
    assert not missing, f"commands missing from README's command table: {missing}"


def test_every_readme_command_exists() -> None:
    readme = (REPO / "README.md").read_text()
    commands = cli_commands()
    tops = {c.split()[0] for c in commands}
    for line in re.findall(r"^vet ([a-z-]+)", readme, re.M):
        assert line in tops, f"README shows `vet {line}`, which does not exist"


def test_readme_starts_with_one_sentence_then_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    assert readme[0].endswith(".") and readme[0].count(". ") == 0
    block = "\n".join(readme[1:6])
    assert "make demo" in block and "make test" in block


def test_help_lists_every_command_with_a_line() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in {c.split()[0] for c in cli_commands()}:
        assert name in result.output
