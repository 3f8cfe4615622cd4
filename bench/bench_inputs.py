"""Inputs: how long the doors take on hostile input (figures for docs/cli.md, never a timed test).

* printing a value of n characters through the CLI's console (rich, highlighter off) against
  rich's default console (the automatic highlighter whose time grew with the square of n);
* `vet candidate add --name <5 MB>` in process, refused;
* a billion-laughs YAML file and a 100,000-deep one, refused;
* parsing the shipped procedure (the ordinary case), per second.

Writes bench/results/inputs.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from vetting.cli.main import main  # noqa: E402
from vetting.cli.support import shown  # noqa: E402
from vetting.domain.yamlsource import InputError, load_yaml_text  # noqa: E402


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return round(time.perf_counter() - start, 4)


def print_with(console: Console, text: str) -> None:
    console.print(f"added candidate ({text})")


def main_bench() -> dict:
    out: dict = {"print_ours_s": {}, "print_unclipped_highlight_off_s": {}, "print_rich_default_s": {}}
    sink = io.StringIO()
    ours = Console(file=sink, highlight=False, width=120)
    default = Console(file=sink, width=120)
    for n in (10_000, 100_000, 1_000_000, 5_000_000):
        out["print_ours_s"][n] = timed(lambda n=n: print_with(ours, shown("A" * n)))
    for n in (100_000, 1_000_000):
        out["print_unclipped_highlight_off_s"][n] = timed(lambda n=n: print_with(ours, "A" * n))
    for n in (5_000, 10_000, 20_000):
        out["print_rich_default_s"][n] = timed(lambda n=n: print_with(default, "A" * n))
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        out["refuse_5mb_name_s"] = timed(lambda: main(["--workspace", f"{tmp}/ws", "candidate", "add", "--name",
                                                       "A" * 5_000_000, "--by", "Inv"]))
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        laughs += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        prev = name

    def refuse(text: str) -> None:
        with contextlib.suppress(InputError):
            load_yaml_text(text, "x.yaml")

    out["refuse_billion_laughs_s"] = timed(lambda: refuse(laughs))
    out["refuse_100k_deep_s"] = timed(lambda: refuse("[" * 100_000))
    out["refuse_recursive_alias_s"] = timed(lambda: refuse("id: &x [*x]\n"))
    procedure = (REPO / "procedures" / "kcpd-261-1.yaml").read_text()
    n = 20
    out["parse_shipped_procedure_per_s"] = round(n / timed(lambda: [load_yaml_text(procedure, "p") for _ in range(n)]),
                                                 1)
    return out


if __name__ == "__main__":
    results = main_bench()
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "inputs.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
