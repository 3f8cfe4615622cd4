"""The audit event and its one canonical serialization.

The leaf hash of an event is over exactly one byte string, :func:`canonical_bytes`,
so anyone holding the fields (in the database, or in an export) recomputes the
same hash. The serialization is JSON with keys sorted, no insignificant
whitespace, non-ASCII characters kept as UTF-8 (``ensure_ascii=False``), NaN and
infinities refused, over the object::

    {"action": ..., "actor": ..., "case_id": ... or null, "payload": {...},
     "seq": <int>, "subject": ... or null, "time": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "v": 1}

``seq`` is inside the hashed data, so an event cannot be moved to another place
in the log without its leaf hash changing. The chain hash links each event to
the one before it: ``chain_i = SHA-256(chain_{i-1} || leaf_i)`` with
``chain_{-1}`` 32 zero bytes.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.merkle import leaf_hash

EVENT_VERSION = 1
CHAIN_SEED = bytes(32)
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ACTION_RE = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")


CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                     allow_nan=False)


# The C string encoder json uses with ensure_ascii=False (same escaping as CANONICAL_ENCODER).
_encode_str = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring  # type: ignore[attr-defined]


def canonical_json(value: Any) -> str:
    """The project's canonical JSON text (sorted keys, compact, UTF-8, no NaN)."""
    return CANONICAL_ENCODER.encode(value)


def utc_now() -> str:
    """Current UTC time as ISO 8601 with microseconds and a Z suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_next(prev_chain: bytes, leaf: bytes) -> bytes:
    """One link of the hash chain."""
    return hashlib.sha256(prev_chain + leaf).digest()


def _check_str(value: str, where: str) -> None:
    """A lone surrogate has no UTF-8 form: refuse it rather than fail mid-append."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: string is not valid Unicode (lone surrogate)") from None


def _check_json(value: Any, where: str) -> None:
    """Refuse values that would not round-trip through JSON identically."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            _check_str(k, where)
            _check_json(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not representable in JSON")
    elif isinstance(value, str):
        _check_str(value, where)
    elif value is None or isinstance(value, (int, bool)):
        return
    else:
        raise ValueError(f"{where}: {type(value).__name__} is not a JSON value")


def validate_fields(action: str, actor: str, case_id: str | None, subject: str | None,
                    payload: Any) -> None:
    """Reject an event before it is written, with a message naming the bad field."""
    if not isinstance(action, str) or not ACTION_RE.match(action):
        raise ValueError(f"action must be lowercase dot-separated words, got {action!r}")
    if not isinstance(actor, str) or not actor.strip():
        raise ValueError("actor must be a non-empty string")
    for name, v in (("case_id", case_id), ("subject", subject)):
        if v is not None and not isinstance(v, str):
            raise ValueError(f"{name} must be a string or None")
    for name, v in (("actor", actor), ("case_id", case_id), ("subject", subject)):
        if v is not None:
            _check_str(v, name)
    if not isinstance(payload, dict):
        raise ValueError("payload must be a JSON object (dict)")
    _check_json(payload, "payload")


def event_document(seq: int, time: str, actor: str, action: str, case_id: str | None,
                   subject: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON object whose canonical form is hashed into the leaf."""
    return {"v": EVENT_VERSION, "seq": seq, "time": time, "actor": actor, "action": action,
            "case_id": case_id, "subject": subject, "payload": payload}


def _jstr(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


def canonical_bytes(seq: int, time: str, actor: str, action: str, case_id: str | None,
                    subject: str | None, payload: dict[str, Any]) -> bytes:
    """The one serialization the leaf hash is computed over.

    Exactly ``canonical_json(event_document(...))`` (a test holds the two equal), assembled
    from its parts because the verifier runs this for every event of the log: the top-level
    keys are fixed, so they are written already sorted instead of sorted each time.
    """
    if type(seq) is not int:
        raise TypeError("seq must be an int")
    return (f'{{"action":{_jstr(action)},"actor":{_jstr(actor)},"case_id":{_jstr(case_id)},'
            f'"payload":{CANONICAL_ENCODER.encode(payload)},"seq":{seq},'
            f'"subject":{_jstr(subject)},"time":{_jstr(time)},"v":{EVENT_VERSION}}}'
            ).encode()


def _parsed_encoder() -> Any:
    """``CANONICAL_ENCODER.encode`` for values fresh from ``json.loads``, a third faster.

    ``JSONEncoder.encode`` builds json's C encoder anew for every call, with a dict to detect
    cycles; a parsed value cannot hold a cycle, so the verifier builds it once, without. Same
    settings, same bytes (checked here; where the C encoder is missing or differs, the plain
    ``encode`` is used).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return CANONICAL_ENCODER.encode
    try:
        encoder = make(None, CANONICAL_ENCODER.default, _encode_str, None, ":", ",", True, False, False)

        def encode(value: Any) -> str:
            return "".join(encoder(value, 0))

        sample = {"b": [1, 2.5, -0.0, 1e300, None, True, "\u00e9\u2028\"\\"], "a": {"z": {}, "y": []}}
        if encode(sample) == CANONICAL_ENCODER.encode(sample):
            return encode
    except (TypeError, ValueError):
        pass
    return CANONICAL_ENCODER.encode


_encode_parsed = _parsed_encoder()


def canonical_bytes_parsed(seq: int, time: str, actor: str, action: str, case_id: str | None,
                           subject: str | None, payload: dict[str, Any]) -> bytes:
    """:func:`canonical_bytes` of a payload just parsed by ``json.loads`` (the verifier's case:
    no cycle possible); the same bytes, with the payload encoder built once."""
    if type(seq) is not int:
        raise TypeError("seq must be an int")
    enc = _encode_str  # _jstr, inlined: this runs for every event of the log
    return (f'{{"action":{"null" if action is None else enc(action)},'
            f'"actor":{"null" if actor is None else enc(actor)},'
            f'"case_id":{"null" if case_id is None else enc(case_id)},'
            f'"payload":{_encode_parsed(payload)},"seq":{seq},'
            f'"subject":{"null" if subject is None else enc(subject)},'
            f'"time":{"null" if time is None else enc(time)},"v":{EVENT_VERSION}}}').encode()


@dataclass(frozen=True)
class Event:
    """An event as stored: its fields plus the hashes that bind it into the log."""

    seq: int
    time: str
    actor: str
    action: str
    case_id: str | None
    subject: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    leaf_hash: bytes = b""
    chain_hash: bytes = b""

    def canonical(self) -> bytes:
        return canonical_bytes(self.seq, self.time, self.actor, self.action, self.case_id,
                               self.subject, self.payload)

    def computed_leaf_hash(self) -> bytes:
        """The leaf hash recomputed from the fields (compare with :attr:`leaf_hash`)."""
        return leaf_hash(self.canonical())

    def document(self) -> dict[str, Any]:
        return event_document(self.seq, self.time, self.actor, self.action, self.case_id,
                              self.subject, self.payload)
