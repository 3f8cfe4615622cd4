"""Typed text fields for what people type: names, short labels, identifiers and dates.

Every door of the toolkit (YAML files, command-line flags) validates through these, so a
name is stripped and required non-empty the same way everywhere, no identifier carries a NUL
or another control character (PostgreSQL refuses NUL; SQLite would silently store it), and a
date that does not exist on the calendar gets the same message whatever the path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from vetting.domain.yamlsource import clip, describe_control

#: Longest full name or alias (characters).
MAX_NAME_CHARS = 200
#: Longest short label (city, state, phone, person acting).
MAX_LABEL_CHARS = 200
#: Longest identifier-like value (e-mail, URL).
MAX_IDENTIFIER_CHARS = 2048
#: Longest free text a person writes in one field (a reason, a justification).
MAX_FREE_TEXT_CHARS = 10_000


def _no_controls(value: str, *, allow_newlines: bool = False) -> str:
    text = value.replace("\n", " ").replace("\r", " ").replace("\t", " ") if allow_newlines else value
    bad = describe_control(text) or (None if allow_newlines else _whitespace_control(value))
    if bad:
        raise ValueError(f"control character {bad} is not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8 text") from None
    return value


def _whitespace_control(value: str) -> str | None:
    for i, ch in enumerate(value):
        if ch in "\t\n\r":
            return f"U+{ord(ch):04X} at position {i + 1}"
    return None


def _bounded(value: str, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"too long ({len(value):,} characters; at most {limit:,})")
    return value


def clean_name(value: str) -> str:
    """A person's name: no control characters, surrounding spaces stripped, not empty."""
    _bounded(value, MAX_NAME_CHARS * 4)
    value = _no_controls(value).strip()
    if not value:
        raise ValueError("is empty (only spaces)")
    if len(value) < 2:
        raise ValueError("is too short (at least 2 characters)")
    return _bounded(value, MAX_NAME_CHARS)


def clean_label(value: str) -> str:
    """A short one-line label (city, phone, who acted): stripped, no control characters."""
    _bounded(value, MAX_LABEL_CHARS * 4)
    value = _no_controls(value).strip()
    if not value:
        raise ValueError("is empty (only spaces)")
    return _bounded(value, MAX_LABEL_CHARS)


def clean_identifier(value: str) -> str:
    """An identifier (e-mail, URL): no control characters, no surrounding spaces."""
    _bounded(value, MAX_IDENTIFIER_CHARS)
    return _no_controls(value).strip()


def clean_free_text(value: str) -> str:
    """A person's free text: several lines allowed, other control characters refused."""
    _bounded(value, MAX_FREE_TEXT_CHARS)
    return _no_controls(value, allow_newlines=True).strip()


def parse_date(value: Any) -> Any:
    """``YYYY-MM-DD`` text to a date, with one message for a day that does not exist."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            shown = clip(text, 40)
            parts = text.split("-")
            if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
                raise ValueError(f"{shown} is not a valid date (no such day)") from None
            raise ValueError(f"{shown!r} is not a date (expected YYYY-MM-DD)") from None
    return value


Name = Annotated[str, AfterValidator(clean_name)]
Label = Annotated[str, AfterValidator(clean_label)]
Identifier = Annotated[str, AfterValidator(clean_identifier)]
FreeText = Annotated[str, AfterValidator(clean_free_text)]
Date = Annotated[date, BeforeValidator(parse_date)]
