"""Turning a step's templates and a candidate's identifiers into the step's inputs.

The same templates are applied to every candidate; a template whose identifier the candidate
lacks yields nothing, and a step whose templates all yield nothing is recorded ``no input``,
the same way for everyone (uniformity, IV.B.8.c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vetting.domain.procedure import LIST_IDENTIFIERS, template_fields


@dataclass(frozen=True)
class StepInput:
    """One concrete input of a step, with the identifier it came from (for the record)."""

    value: str
    found_by: str


def expand(template: str, identifiers: dict[str, Any]) -> list[StepInput]:
    """All inputs one template yields for one candidate (none if an identifier is missing)."""
    names = template_fields(template)
    if not names:
        return [StepInput(template, "procedure source")]
    scalars: dict[str, str] = {}
    list_name: str | None = None
    for name in names:
        value = identifiers.get(name)
        if name in LIST_IDENTIFIERS:
            if not value:
                return []
            list_name = name
        else:
            if value in (None, ""):
                return []
            scalars[name] = str(value)
    if list_name is None:
        return [StepInput(template.format(**scalars), "+".join(names))]
    out = []
    for element in identifiers[list_name]:
        value = template.format(**scalars, **{list_name: element})
        out.append(StepInput(value, f"{list_name}:{element}" if len(names) == 1 else "+".join(names)))
    return out


def expand_all(templates: list[str], identifiers: dict[str, Any]) -> list[StepInput]:
    """Inputs of several templates, in order, without repeats."""
    seen: set[str] = set()
    out: list[StepInput] = []
    for template in templates:
        for item in expand(template, identifiers):
            if item.value not in seen:
                seen.add(item.value)
                out.append(item)
    return out
