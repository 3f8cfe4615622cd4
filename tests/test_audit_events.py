"""audit.events: the one canonical serialization and the refusal of values it cannot represent."""
from __future__ import annotations

import hashlib
import re

import pytest

from audit.events import CHAIN_SEED, Event, canonical_bytes, chain_next, utc_now, validate_fields


def test_canonical_bytes_are_exactly_specified() -> None:
    ev = Event(seq=7, time="2026-11-24T08:00:00.000001Z", actor="Sgt. Ana Núñez",
               action="case.opened", case_id="case-1", subject=None,
               payload={"z": [1, 2.5, None, True], "a": "é\u2014\n", "m": {"y": 1, "x": 2}})
    assert ev.canonical() == (
        '{"action":"case.opened","actor":"Sgt. Ana Núñez","case_id":"case-1",'
        '"payload":{"a":"é\u2014\\n","m":{"x":2,"y":1},"z":[1,2.5,null,true]},'
        '"seq":7,"subject":null,"time":"2026-11-24T08:00:00.000001Z","v":1}').encode("utf-8")
    assert ev.computed_leaf_hash() == hashlib.sha256(b"\x00" + ev.canonical()).digest()


def test_every_field_is_inside_the_leaf() -> None:
    base = {"seq": 1, "time": "2026-11-24T08:00:00.000000Z", "actor": "a", "action": "x.done",
                "case_id": "c", "subject": "s", "payload": {"k": 1}}
    ref = canonical_bytes(**base)  # type: ignore[arg-type]
    for name, other in [("seq", 2), ("time", "2026-11-24T08:00:00.000001Z"), ("actor", "b"),
                        ("action", "x.undone"), ("case_id", None), ("subject", None),
                        ("payload", {"k": 2})]:
        assert canonical_bytes(**{**base, name: other}) != ref, name  # type: ignore[arg-type]


def test_chain_link_definition() -> None:
    leaf = hashlib.sha256(b"\x00x").digest()
    assert chain_next(CHAIN_SEED, leaf) == hashlib.sha256(bytes(32) + leaf).digest()


def test_time_format_is_utc_with_microseconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", utc_now())


@pytest.mark.parametrize("kwargs,msg", [
    ({"payload": {"x": float("nan")}}, "not representable"),
    ({"payload": {"x": float("inf")}}, "not representable"),
    ({"payload": {1: "x"}}, "keys must be strings"),
    ({"payload": {"x": {1, 2}}}, "not a JSON value"),
    ({"payload": {"x": (1, 2)}}, "not a JSON value"),
    ({"payload": {"x": b"raw"}}, "not a JSON value"),
    ({"payload": ["not", "an", "object"]}, "JSON object"),
    ({"actor": ""}, "actor"),
    ({"action": "Case Opened"}, "action"),
    ({"case_id": 5}, "case_id"),
])
def test_validate_refuses(kwargs: dict, msg: str) -> None:
    args = {"action": "case.opened", "actor": "a", "case_id": None, "subject": None,
            "payload": {}} | kwargs
    with pytest.raises(ValueError, match=msg):
        validate_fields(**args)


@pytest.mark.parametrize("text", ["plain", "quote \" backslash \\ slash /", "tab\tnl\ncr\r",
                                  "\x00\x1f\x7f", "é ß 漢字 \U0001F600", "\u2028\u2029", ""])
def test_fast_canonical_bytes_equal_the_generic_definition(text: str) -> None:
    from audit.events import canonical_json, event_document
    payload = {"k": text, text: [text, None, 1.5, -0.0, 10**20, False], "nested": {"z": {}, "a": []}}
    for case_id, subject in [(None, None), (text, text)]:
        doc = event_document(3, "2026-11-24T08:00:00.000000Z", text or "a", "x.y", case_id,
                             subject, payload)
        assert canonical_bytes(3, "2026-11-24T08:00:00.000000Z", text or "a", "x.y", case_id,
                               subject, payload) == canonical_json(doc).encode("utf-8")


def test_lone_surrogates_refused() -> None:
    for kwargs in ({"actor": "a\ud800"}, {"payload": {"k": "\udfff"}}, {"payload": {"\ud800": 1}},
                   {"subject": "\ud800"}):
        args = {"action": "case.opened", "actor": "a", "case_id": None, "subject": None,
                "payload": {}} | kwargs
        with pytest.raises(ValueError, match="lone surrogate"):
            validate_fields(**args)


def test_the_verifiers_encoder_writes_the_same_bytes() -> None:
    """canonical_bytes_parsed (the verifier's, encoder built once) == canonical_bytes."""
    import json

    from audit.events import _encode_parsed, canonical_bytes_parsed

    payloads = [{}, {"z": [1, 2.5, -0.0, 1e300, None, True, False], "a": "é\u2014\n\u2028\"\\", "m": {"y": 1, "x": {}}},
                {"n": 12345678901234567890, "f": 0.1, "e": 1e-7, "s": "\x00\x1f\U0001f600", "l": [[], [{}]]}]
    for payload in payloads:
        parsed = json.loads(json.dumps(payload))
        args = (3, "2026-11-24T08:00:00.000001Z", "a", "x.done", None, "s", parsed)
        assert canonical_bytes_parsed(*args) == canonical_bytes(*args)
    with pytest.raises(ValueError):
        _encode_parsed(json.loads('{"x": NaN}'))
