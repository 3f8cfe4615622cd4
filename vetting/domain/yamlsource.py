"""The one place where the toolkit parses YAML and JSON written by people (or by attackers).

Procedure, candidate and decisions files, and the JSON blocks the toolkit reads back, all come
through here, so every door has the same limits and the same answers:

* **positions**: PyYAML's plain ``safe_load`` forgets where a value came from and silently
  keeps the last of two duplicate keys; this module composes the node tree itself, records
  the line of every path and reports duplicate keys as problems;
* **size**: a file larger than :data:`MAX_FILE_BYTES` is refused before it is parsed, and any
  text value longer than :data:`MAX_TEXT_CHARS` is refused where it stands;
* **aliases and nesting**: YAML aliases let a 1 KB file stand for a billion values ("billion
  laughs") or for itself (``&x [*x]``). Construction counts every value it builds, alias
  expansions included, and stops at :data:`MAX_VALUES`; a value that contains itself is
  refused; nesting deeper than :data:`MAX_DEPTH` is refused while composing, before Python's
  recursion limit could be reached;
* **types**: integers must fit the database (signed 64-bit), floats must be finite, dates must
  exist on the calendar (``1995-02-30`` is refused the same way on every path), and text
  may not carry NUL or other control characters (tab, newline and carriage return excepted).

Every refusal is an :class:`InputError` listing located :class:`Problem` s; nothing here raises
anything else for any input.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

#: Largest YAML or JSON file accepted (bytes). A procedure with every shipped category is ~40 KB.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Largest single text value (characters) in a parsed file; names and identifiers have
#: tighter limits of their own (vetting.domain.textfields).
MAX_TEXT_CHARS = 20_000
#: Most values one document may build, each alias expansion counted again.
MAX_VALUES = 100_000
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 40
#: Integers are stored in 64-bit database columns.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: Characters refused in every text value: C0 controls except tab/LF/CR, DEL and C1 controls.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located for the person who has to fix it."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class InputError(Exception):
    """Raised with every problem found in an input file, so one run lists them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def clip(value: Any, limit: int = 80) -> str:
    """``repr``-like text of a value, cut to ``limit`` characters: messages never echo 5 MB."""
    text = value if isinstance(value, str) else str(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def one_line(value: Any, limit: int = 200) -> str:
    """:func:`clip` on one line: every refusal is one line on stderr."""
    return clip(" ".join(str(value).split()), limit)


def describe_control(text: str) -> str | None:
    """``"U+0000 at position 3"`` for the first refused control character in ``text``, else None."""
    m = CONTROL_CHARS.search(text)
    return f"U+{ord(m.group()):04X} at position {m.start() + 1}" if m else None


def check_text(text: str, *, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Why ``text`` cannot be accepted as a value (None when it can)."""
    if len(text) > max_chars:
        return f"too long ({len(text):,} characters; at most {max_chars:,})"
    bad = describe_control(text)
    if bad:
        return f"control character {bad} is not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8 text"
    return None


@dataclass
class LocatedDocument:
    """A parsed YAML document with a map from each field path to its 1-based line."""

    source: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """The line of ``path``, or of its nearest located parent."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def dotted(path: Path_) -> str:
    """``("steps", 2, "collector")`` -> ``steps[2].collector``: how a reader names a field."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + clip(part, 60)
    return out


class _TooDeep(Exception):
    def __init__(self, line: int):
        self.line = line


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses nesting deeper than :data:`MAX_DEPTH`.

    PyYAML composes recursively: without this bound 100,000 nested ``[`` end in a
    RecursionError instead of a message.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose(text: str) -> yaml.Node | None:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml_text(text: str, source: str) -> LocatedDocument:
    """Parse ``text``; raise :class:`InputError` for syntax errors, duplicate keys and limits."""
    if len(text) > MAX_FILE_BYTES:
        raise InputError([Problem(source, None, "", f"too large ({len(text):,} characters; at most "
                                                    f"{MAX_FILE_BYTES:,})")])
    try:
        node = _compose(text)
    except _TooDeep as exc:
        raise InputError([Problem(source, exc.line, "", f"nested more than {MAX_DEPTH} levels deep")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError([Problem(source, line, "", f"not valid YAML: {one_line(problem, 200)}")]) from None
    except RecursionError:  # belt and braces: the depth bound should always come first
        raise InputError([Problem(source, None, "", "nested too deeply")]) from None
    if node is None:
        raise InputError([Problem(source, 1, "", "the file is empty")])
    doc = LocatedDocument(source=source, data=None)
    builder = _Builder(doc)
    doc.data = builder.build(node, ())
    if builder.problems:
        raise InputError(builder.problems[:50])
    return doc


def load_yaml_file(path: Path) -> LocatedDocument:
    """Read and parse a YAML file, turning I/O and encoding errors into located problems."""
    return load_yaml_text(read_text_file(path), str(path))


def read_text_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A UTF-8 text file's content; refused when missing, not a regular file, too large or not UTF-8."""
    data = read_bytes_file(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(clip(path, 200), None, "",
                                  f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None


def read_bytes_file(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most ``max_bytes``; every refusal located and worded."""
    source = clip(path, 200)
    try:
        if not path.exists():
            raise InputError([Problem(source, None, "", "no such file")])
        if path.is_dir():
            raise InputError([Problem(source, None, "", "is a folder, not a file")])
        if not path.is_file():
            raise InputError([Problem(source, None, "", "is not a regular file")])
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError([Problem(source, None, "", f"too large ({size:,} bytes; at most {max_bytes:,})")])
        with open(path, "rb") as fh:
            return fh.read(max_bytes + 1)[: max_bytes + 1]
    except OSError as exc:
        raise InputError([Problem(source, None, "", f"cannot read: {exc.strerror or exc}")]) from None
    except ValueError as exc:  # an embedded NUL in the path
        raise InputError([Problem(source, None, "", f"bad file name ({exc})")]) from None


_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


class _Builder:
    """Turns composed nodes into Python values, counting and bounding as it goes."""

    def __init__(self, doc: LocatedDocument):
        self.doc = doc
        self.problems: list[Problem] = []
        self.values = 0
        self.active: set[int] = set()
        self.stopped = False
        self.constructor = yaml.SafeLoader("")

    def add(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.doc.source, node.start_mark.line + 1, dotted(path), message))

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if self.stopped:
            return None
        self.values += 1
        if self.values > MAX_VALUES:
            self.stopped = True
            self.add(node, path, f"more than {MAX_VALUES:,} values (aliases count each time they are used)")
            return None
        if len(path) > MAX_DEPTH:
            self.stopped = True
            self.add(node, path, f"nested more than {MAX_DEPTH} levels deep (through aliases)")
            return None
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if node.tag not in _PLAIN_COLLECTION_TAGS:
                self.add(node, path, f"tag {clip(node.tag, 60)!r} is not allowed (plain mappings and lists only)")
                return None
            if id(node) in self.active:
                self.add(node, path, "an alias refers to the value that contains it (recursive alias)")
                return None
            self.active.add(id(node))
            try:
                return self._mapping(node, path) if isinstance(node, yaml.MappingNode) else \
                    [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.add(key_node, path, "keys must be plain text")
                continue
            key = key_node.value
            if len(key) > 200 or describe_control(key):
                self.add(key_node, path, f"key {clip(key, 40)!r} is not a plain field name")
                continue
            child = path + (key,)
            if key in result:
                self.add(key_node, child, "duplicate key (it appears twice in the same block)")
                continue
            self.doc.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child)
        return result

    def _scalar(self, node: yaml.Node, path: Path_) -> Any:
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.add(node, path, one_line(getattr(exc, "problem", None) or str(exc), 200))
            return None
        except (ValueError, OverflowError, TypeError):
            # PyYAML builds dates with datetime.date(): 1995-02-30 raises ValueError here.
            shown = clip(getattr(node, "value", ""), 40)
            if getattr(node, "tag", "").endswith(":timestamp"):
                self.add(node, path, f"{shown} is not a valid date (no such day)")
            else:
                self.add(node, path, f"{shown!r} cannot be read as a value")
            return None
        message = check_value(value)
        if message:
            self.add(node, path, message)
            return None
        return value


def check_value(value: Any) -> str | None:
    """Why a scalar cannot be accepted (64-bit integers, finite floats, clean text), else None."""
    if isinstance(value, bool) or value is None or isinstance(value, date | datetime):
        return None
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            return f"number {clip(value, 30)} is out of range (at most {INT_MAX:,})"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "number is not finite"
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, bytes):
        return "binary values are not accepted"
    return None


# -- JSON -----------------------------------------------------------------------------------
def load_json_bytes(data: bytes, source: str, *, max_bytes: int = MAX_FILE_BYTES, check_strings: bool = True) -> Any:
    """Parse JSON with the same limits as YAML: size, depth, 64-bit integers, finite numbers,
    clean text (unless ``check_strings`` is False, for blocks that quote collected content)
    and no duplicate keys. Raises :class:`InputError` for anything else."""
    if len(data) > max_bytes:
        raise InputError([Problem(source, None, "", f"too large ({len(data):,} bytes; at most {max_bytes:,})")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(source, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    depth_line = _json_too_deep(text)
    if depth_line is not None:
        raise InputError([Problem(source, depth_line, "", f"nested more than {MAX_DEPTH} levels deep")])
    problems: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                problems.append(f"duplicate key {clip(k, 40)!r}")
            out[k] = v
        return out

    def bad_constant(name: str) -> Any:
        problems.append(f"{name} is not a number JSON allows")
        return None

    def parse_int(s: str) -> int | None:
        if len(s) > 20 or not INT_MIN <= int(s) <= INT_MAX:
            problems.append(f"number {clip(s, 30)} is out of range (64-bit)")
            return None
        return int(s)

    def parse_float(s: str) -> float | None:
        value = float(s)
        if not math.isfinite(value):
            problems.append(f"number {clip(s, 30)} is not finite")
            return None
        return value

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=bad_constant, parse_int=parse_int,
                           parse_float=parse_float)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(source, exc.lineno, "", f"not valid JSON: {exc.msg}")]) from None
    except RecursionError:
        raise InputError([Problem(source, None, "", "nested too deeply")]) from None
    bad = _first_bad_string(value) if check_strings else None
    if bad:
        problems.append(bad)
    if problems:
        raise InputError([Problem(source, None, "", p) for p in problems[:20]])
    return value


def _json_too_deep(text: str) -> int | None:
    """The line where brackets first nest deeper than MAX_DEPTH (strings skipped), else None."""
    depth = 0
    line = 1
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif ch in "]}":
            depth -= 1
        elif ch == "\n":
            line += 1
    return None


def _first_bad_string(value: Any) -> str | None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            message = check_text(v)
            if message:
                return f"text value {clip(v, 30)!r}: {message}"
    return None


def validate_model(model_cls: Any, doc: LocatedDocument) -> Any:
    """Validate ``doc`` against a pydantic model, turning its errors into located problems."""
    from pydantic import ValidationError

    if not isinstance(doc.data, dict):
        raise InputError([Problem(doc.source, 1, "", "expected a mapping of fields")])
    try:
        return model_cls.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = one_line(err["msg"].removeprefix("Value error, "), 300)
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling)"
            problems.append(Problem(doc.source, doc.line_of(loc), dotted(loc), msg))
        raise InputError(problems) from None
