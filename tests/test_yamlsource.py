"""The one parser of YAML and JSON: every adversarial input is a located problem, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vetting.domain.yamlsource import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    InputError,
    load_json_bytes,
    load_yaml_file,
    load_yaml_text,
)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for name in "bcdefghijklm"[: levels - 1]:
        text += f"{name}: &{name} [{', '.join(['*' + prev] * width)}]\n"
        prev = name
    return text


def refused(text: str) -> str:
    start = time.monotonic()
    with pytest.raises(InputError) as exc:
        load_yaml_text(text, "f.yaml")
    assert time.monotonic() - start < 5, "a refusal must be fast"
    assert all("\n" not in str(p) for p in exc.value.problems), "one line per problem"
    return str(exc.value)


@pytest.mark.parametrize("text,message", [
    ("id: &x [*x]\n", "recursive alias"),
    ("a: &x {b: *x}\n", "recursive alias"),
    (billion_laughs(), "aliases count each time"),
    ("[" * 100_000, f"nested more than {MAX_DEPTH} levels"),
    ("a: " + "{b: " * 60 + "1" + "}" * 60 + "\n", f"nested more than {MAX_DEPTH} levels"),
    ("version: 99999999999999999999999\n", "out of range"),
    ("version: -9223372036854775809\n", "out of range"),
    ("date_of_birth: 1995-02-30\n", "1995-02-30 is not a valid date (no such day)"),
    ('name: "a\\0b"\n', "control character U+0000"),
    ('name: "a\\x1bb"\n', "control character U+001B"),
    ("x: .inf\n", "not finite"),
    ("x: !!binary aGVsbG8=\n", "binary values"),
    ("x: !!python/object/apply:os.system [ls]\n", "not allowed"),
    ("x: !!python/name:os.system a\n", "constructor"),
    ("a: 1\na: 2\n", "duplicate key"),
    ("", "empty"),
    ("x: " + "y" * 30_000 + "\n", "too long"),
])
def test_adversarial_yaml_refused_with_a_located_line(text: str, message: str) -> None:
    assert message in refused(text)


def test_limits_leave_ordinary_documents_alone() -> None:
    doc = load_yaml_text("a: &a [1, 2]\nb: *a\nwhen: 1995-02-28\nn: 9223372036854775807\n", "f.yaml")
    assert doc.data == {"a": [1, 2], "b": [1, 2], "when": __import__("datetime").date(1995, 2, 28),
                        "n": 2**63 - 1}
    assert doc.line_of(("b",)) == 2


def test_files_too_large_not_utf8_or_not_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_FILE_BYTES)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    for path, message in ((big, "too large"), (bad, "not UTF-8"), (tmp_path, "is a folder"),
                          (Path("/dev/null"), "not a regular file"), (tmp_path / "absent.yaml", "no such file")):
        with pytest.raises(InputError, match=message):
            load_yaml_file(path)


@pytest.mark.parametrize("data,message", [
    (b"[" * 200_000, "nested more than"),
    (b'{"e_code": 1e400}', "not finite"),
    (b'{"a": NaN}', "NaN"),
    (b'{"a": 123456789012345678901234}', "out of range"),
    (b'{"a": 1, "a": 2}', "duplicate key"),
    (b'{"a": "\\u0000"}', "control character"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"a": ', "not valid JSON"),
])
def test_adversarial_json_refused(data: bytes, message: str) -> None:
    start = time.monotonic()
    with pytest.raises(InputError, match=message):
        load_json_bytes(data, "x.json")
    assert time.monotonic() - start < 5


def test_json_strings_with_brackets_do_not_count_as_depth() -> None:
    assert load_json_bytes(b'{"a": "' + b"[" * 1000 + b'"}', "x.json") == {"a": "[" * 1000}
