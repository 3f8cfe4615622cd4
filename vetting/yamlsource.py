"""YAML loading that remembers where every value came from.

Procedure and candidate files are written by people; when one is wrong the tool must say
which line and which field. PyYAML's plain ``safe_load`` forgets positions and silently keeps
the last of two duplicate keys, so this module composes the node tree itself, records the
line of every path and reports duplicate keys as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


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
            out += ("." if out else "") + str(part)
    return out


def load_yaml_text(text: str, source: str) -> LocatedDocument:
    """Parse ``text``; raise :class:`InputError` for syntax errors and duplicate keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError([Problem(source, line, "", f"not valid YAML: {problem}")]) from None
    if node is None:
        raise InputError([Problem(source, 1, "", "the file is empty")])
    doc = LocatedDocument(source=source, data=None)
    problems: list[Problem] = []
    doc.data = _construct(node, (), doc, problems)
    if problems:
        raise InputError(problems)
    return doc


def load_yaml_file(path: Path) -> LocatedDocument:
    """Read and parse a YAML file, turning I/O and encoding errors into located problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem(str(path), None, "", "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise InputError([Problem(str(path), None, "", f"not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise InputError([Problem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    return load_yaml_text(text, str(path))


def _construct(node: yaml.Node, path: Path_, doc: LocatedDocument, problems: list[Problem]) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(doc.source, key_node.start_mark.line + 1, dotted(path),
                                        "keys must be plain text"))
                continue
            key = key_node.value
            child = path + (key,)
            if key in result:
                problems.append(Problem(doc.source, key_node.start_mark.line + 1, dotted(child),
                                        "duplicate key (it appears twice in the same block)"))
                continue
            doc.lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, doc, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), doc, problems) for i, item in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(Problem(doc.source, node.start_mark.line + 1, dotted(path), str(exc)))
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
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling)"
            problems.append(Problem(doc.source, doc.line_of(loc), dotted(loc), msg))
        raise InputError(problems) from None
