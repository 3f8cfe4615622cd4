"""Property-based tests (Hypothesis) of every file parser: random and adversarial YAML and JSON.

Whatever the bytes, a parser returns a value or raises InputError with located, one-line
problems; it never raises anything else, never takes more than a few seconds, and a refused
file changes nothing in the workspace (its database dump and evidence tree are compared).

Bounded so `make test` stays short: the example counts are in SETTINGS below.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vetting.domain.yamlsource import InputError, load_json_bytes, load_yaml_text

REPO = Path(__file__).resolve().parent.parent


def bounded(examples: int) -> settings:
    """At most ``examples`` cases, each under 5 s, no example database written to the checkout."""
    return settings(max_examples=examples, deadline=timedelta(seconds=5), database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


#: How many examples each test generates, for the report (tests/test_cli_properties.py has the CLI's).
GENERATED = {}

CONTROL = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\ufeff", "\t", "\r"])
HUGE_INTS = st.sampled_from(["99999999999999999999999", "-9223372036854775809", "9223372036854775807",
                             "0x7fffffffffffffffff", "1e400", "-1e400", ".inf", ".nan", "0o777777777777777777777777"])
BAD_DATES = st.sampled_from(["1995-02-30", "2023-02-29", "1995-13-01", "0000-00-00", "1995-02-30T25:61:61",
                             "9999-99-99", "1995-2-3", "2001-04-31"])


def scalar_text() -> st.SearchStrategy[str]:
    """Adversarial scalar text for YAML: numbers, dates, control characters, long runs."""
    return st.one_of(
        HUGE_INTS, BAD_DATES,
        st.builds(lambda a, c, b: json.dumps(a + c + b), st.text(max_size=8), CONTROL, st.text(max_size=8)),
        st.builds(lambda n: "x" * n, st.integers(0, 25_000)),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30).map(json.dumps),
        st.sampled_from(["~", "null", "yes", "no", "on", "!!binary aGk=", "!!python/name:os.system", "&a 1",
                         "*a", "*nothere", "!!set {a, b}", "!!omap [a: 1]", "<<: *a", "'", '"', "{", "[", "- -"]),
    )


@st.composite
def yaml_documents(draw) -> str:  # type: ignore[no-untyped-def]
    """Documents built from anchors, aliases (nested, recursive, fanned out), deep nesting and
    adversarial scalars: the shapes a hostile file takes."""
    parts = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["scalar", "anchor", "fanout", "recursive", "deep", "flow", "dup"]))
        key = draw(st.sampled_from([f"k{i}", "id", "full_name", "date_of_birth", "version", "steps"]))
        if kind == "scalar":
            parts.append(f"{key}: {draw(scalar_text())}")
        elif kind == "anchor":
            parts.append(f"{key}: &a{i} [{draw(scalar_text())}, {draw(scalar_text())}]")
        elif kind == "fanout":
            width = draw(st.integers(1, 12))
            target = draw(st.integers(0, max(0, i - 1)))
            parts.append(f"{key}: &a{i} [{', '.join([f'*a{target}'] * width)}]")
        elif kind == "recursive":
            parts.append(f"{key}: &r{i} [*r{i}]" if draw(st.booleans()) else f"{key}: &r{i} {{x: *r{i}}}")
        elif kind == "deep":
            depth = draw(st.integers(1, 300))  # 100,000 deep is in test_yamlsource.py
            parts.append(f"{key}: " + "[" * depth + "1" + "]" * depth)
        elif kind == "flow":
            parts.append(f"{key}: {{a: {draw(scalar_text())}, b: [{draw(scalar_text())}]}}")
        else:
            parts.append(f"{key}: 1\n{key}: 2")
    return "\n".join(parts) + "\n"


def _parses_or_refuses(text: str) -> None:
    try:
        doc = load_yaml_text(text, "p.yaml")
    except InputError as exc:
        assert exc.problems and all("\n" not in str(p) and len(str(p)) < 2000 for p in exc.problems)
        return
    # A null document (`~`, `null`, a lone `!`) parses to None, as YAML says; the file loaders
    # then refuse it ("expected a mapping of fields"). Anything else is a value.
    if doc.data is None:
        assert yaml.compose(text, Loader=yaml.SafeLoader).tag == "tag:yaml.org,2002:null", repr(text)


@bounded(120)
@given(st.one_of(yaml_documents(), st.text(max_size=2000)))
def test_yaml_documents_parse_or_refuse(text: str) -> None:
    GENERATED["yaml"] = GENERATED.get("yaml", 0) + 1
    _parses_or_refuses(text)


@bounded(100)
@given(st.binary(max_size=3000))
@example(b"!").via("found by this test: a null document")
@example(b"~")
def test_yaml_random_bytes(data: bytes) -> None:
    GENERATED["yaml-bytes"] = GENERATED.get("yaml-bytes", 0) + 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # files are decoded by read_text_file, tested with invalid UTF-8 below
    _parses_or_refuses(text)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children,
                                                                                max_size=4)),
    max_leaves=30)


@st.composite
def json_documents(draw) -> bytes:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["value", "deep", "numbers", "errorType", "bytes", "dupe", "controls"]))
    if kind == "value":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(1, 300_000))
        return b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    if kind == "numbers":
        number = draw(st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "1" * 400, "9223372036854775808",
                                       "0.0", "-0"]))
        return b'{"e_code": ' + number.encode() + b"}"
    if kind == "errorType":
        return json.dumps({"sites": {"x": {"errorType": draw(json_values)}}}).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "dupe":
        return b'{"a": 1, "a": 2}'
    return json.dumps({"name": "a" + draw(CONTROL) + "b"}).encode()


@bounded(120)
@given(json_documents())
def test_json_parses_or_refuses(data: bytes) -> None:
    GENERATED["json"] = GENERATED.get("json", 0) + 1
    try:
        load_json_bytes(data, "x.json")
    except InputError as exc:
        assert exc.problems and all("\n" not in str(p) for p in exc.problems)


@st.composite
def manifest_documents(draw) -> bytes:  # type: ignore[no-untyped-def]
    """Site manifests of the three formats with hostile entries, or any hostile JSON."""
    entry = st.dictionaries(st.sampled_from(["name", "uri_check", "e_code", "e_string", "m_code", "m_string",
                                             "url", "errorType", "errorMsg", "errorCode", "cat", "known",
                                             "headers", "regexCheck"]), json_values, max_size=8)
    kind = draw(st.sampled_from(["any", "wmn", "sherlock", "own", "deep-inside"]))
    if kind == "any":
        return draw(json_documents())
    if kind == "wmn":
        return json.dumps({"sites": draw(st.lists(entry, max_size=4))}).encode()
    if kind == "sherlock":
        return json.dumps(draw(st.dictionaries(st.text(max_size=8), entry, min_size=1, max_size=4))).encode()
    if kind == "own":
        return json.dumps({"format": "vetting-sites/1", "sites": draw(st.lists(entry, max_size=4))}).encode()
    depth = draw(st.integers(30, 5_000))
    return b'{"sites": [{"name": "A", "headers": ' + b"[" * depth + b"]" * depth + b"}]}"


@bounded(120)
@given(manifest_documents())
def test_site_manifests_parse_or_refuse(data: bytes) -> None:
    """spiders/sites.py's own bounded reader (spiders never import vetting): a manifest, with
    refused entries explained, or ManifestError in one line; nothing else, whatever the bytes."""
    from spiders.sites import ManifestError, parse_manifest

    GENERATED["manifest"] = GENERATED.get("manifest", 0) + 1
    try:
        manifest = parse_manifest(data)
    except ManifestError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert all(name is not None and reason and "\n" not in reason for name, reason in manifest.rejected)


# -- the three file kinds, through their loaders, against a workspace --------------------------
@pytest.fixture(scope="module")
def case_ws(tmp_path_factory: pytest.TempPathFactory):
    from case_fixtures import add_item, build_case

    b = build_case(tmp_path_factory.mktemp("props"))
    add_item(b, "a", "A post.")
    return b


def digest(ws) -> str:  # type: ignore[no-untyped-def]
    from digests import tree_digest

    ws.engine.dispose()
    return tree_digest(ws.root)


def mutate(base: dict, draw_path: list, value: object) -> dict:
    """``base`` with the field at ``draw_path`` replaced by ``value`` (a deep copy)."""
    data = json.loads(json.dumps(base, default=str))
    node = data
    for key in draw_path[:-1]:
        node = node[key]
    node[draw_path[-1]] = value
    return data


ADVERSARIAL_VALUES = st.one_of(
    st.integers(-(2**80), 2**80), st.floats(allow_nan=True, allow_infinity=True), st.none(), st.booleans(),
    st.text(max_size=40), CONTROL.map(lambda c: f"a{c}b"), BAD_DATES, st.just("   "), st.just(""),
    st.builds(lambda n: "y" * n, st.integers(10_000, 40_000)), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


CANDIDATE = {"id": "prop-cand", "full_name": "Pat Example", "aliases": ["Patty Example"], "date_of_birth": "1990-01-02",
             "city": "Kansas City", "state": "MO", "emails": ["pat@mail.example"], "phones": ["816-555-0101"],
             "usernames": ["patex"], "profile_urls": ["https://social.example/u/patex"],
             "authorization": {"file": "auth.pdf", "signed_on": "2026-10-01"}}
CANDIDATE_PATHS = [[k] for k in CANDIDATE if k != "authorization"] + [["authorization", "file"],
                                                                       ["authorization", "signed_on"]]


@bounded(60)
@given(path=st.sampled_from(CANDIDATE_PATHS), value=ADVERSARIAL_VALUES, raw=st.booleans())
def test_candidate_file_accepted_or_refused_unchanged(case_ws, tmp_path_factory, path, value, raw) -> None:
    from conftest import AUTH_PDF

    from vetting.domain.candidates import add_candidate, list_candidates, load_candidate_file

    GENERATED["candidate"] = GENERATED.get("candidate", 0) + 1
    folder = tmp_path_factory.mktemp("cand")
    (folder / "auth.pdf").write_bytes(AUTH_PDF)
    data = mutate(dict(CANDIDATE, id=f"prop-{GENERATED['candidate']}"), path, value)  # the table is append-only
    text = yaml.safe_dump(data, allow_unicode=True)
    if raw and isinstance(value, str):  # unquoted: YAML resolves dates, numbers, nulls itself
        text = text.replace(yaml.safe_dump(value, allow_unicode=True).removesuffix("\n...\n").strip(), value, 1)
    (folder / "cand.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    before = digest(case_ws.ws)
    count = len(list_candidates(case_ws.ws))
    try:
        cand, auth = load_candidate_file(folder / "cand.yaml")
        row = add_candidate(case_ws.ws, cand, auth, "Inv. Lee")
    except InputError as exc:
        assert all("\n" not in str(p) for p in exc.problems)
        assert digest(case_ws.ws) == before
        return
    from vetting.domain.candidates import candidate_name

    name = candidate_name(case_ws.ws, row)
    assert len(list_candidates(case_ws.ws)) == count + 1 and name.strip() == name and name


PROCEDURE = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
PROCEDURE_PATHS = [["version"], ["id"], ["title"], ["settings", "min_identity"], ["settings", "lookback_years"],
                   ["settings", "rate_limit", "delay_seconds"], ["settings", "limits", "max_bytes"],
                   ["settings", "retries"], ["steps", 0, "limits", "max_pages"], ["steps", 0, "inputs"],
                   ["steps", 1, "id"], ["categories", 0, "rules", 0, "patterns"], ["settings", "user_agent"],
                   ["identifiers"], ["settings"], ["steps"]]


@bounded(40)
@given(path=st.sampled_from(PROCEDURE_PATHS), value=ADVERSARIAL_VALUES)
def test_procedure_checked_then_approved_or_refused(case_ws, tmp_path_factory, path, value) -> None:
    """What `procedure check` accepts, `procedure approve` stores (99999999999999999999999 used to
    pass the first and crash the second)."""
    import shutil

    from vetting.domain.approvals import ApprovalError, approve
    from vetting.domain.procedure import load_procedure

    GENERATED["procedure"] = GENERATED.get("procedure", 0) + 1
    folder = tmp_path_factory.mktemp("proc")
    shutil.copytree(REPO / "procedures" / "sites", folder / "sites")
    (folder / "p.yaml").write_text(yaml.safe_dump(mutate(PROCEDURE, path, value), allow_unicode=True))
    before = digest(case_ws.ws)
    try:
        load_procedure(folder / "p.yaml")
    except InputError as exc:
        assert all("\n" not in str(p) for p in exc.problems)
        return
    try:
        approve(case_ws.ws, folder / "p.yaml", "Capt. Rao")
    except (ApprovalError, InputError):
        assert digest(case_ws.ws) == before


DECISION = {"item": "item-a", "decision": "rejected", "reason": "not the candidate's page"}
#: Fields a decisions file may no longer carry (who decides is the account applying the file, and a
#: file never concurs): an entry with any of them, whatever its value, is refused.
REFUSED_FIELDS = ("by", "concur_by", "concur_reason")
DECISION_PATHS = [["item"], ["decision"], ["reason"], ["findings"], ["supersedes"], ["candidate"], ["url"],
                  ["mitigating"]] + [[field] for field in REFUSED_FIELDS]
DECIDER = "user:sortiz"  # the logged-in account's actor, as the service passes it


@bounded(50)
@given(path=st.sampled_from(DECISION_PATHS), value=ADVERSARIAL_VALUES)
def test_decisions_file_refused_all_or_nothing(case_ws, tmp_path_factory, path, value) -> None:
    from vetting.review.validation import ValidationRefused, apply_decisions_file

    GENERATED["decisions"] = GENERATED.get("decisions", 0) + 1
    folder = tmp_path_factory.mktemp("dec")
    entry = mutate(DECISION, path, value)
    (folder / "d.yaml").write_text(yaml.safe_dump({"decisions": [entry]}, allow_unicode=True))
    before = digest(case_ws.ws)
    try:
        rows = apply_decisions_file(case_ws.ws, folder / "d.yaml", DECIDER)
    except (InputError, ValidationRefused) as exc:
        assert "\n" not in str(exc) or isinstance(exc, InputError)
        if path[0] in REFUSED_FIELDS:
            # refused naming the field, or a value inside it (a control character is caught by the
            # reader, before the field itself is refused)
            field = f"decisions[0].{path[0]}"
            assert isinstance(exc, InputError) and any(p.field == field or p.field.startswith(field + "[")
                                                       for p in exc.problems), exc
        assert digest(case_ws.ws) == before
        return
    assert path[0] not in REFUSED_FIELDS, f"a decisions file with {path[0]!r} was applied"
    assert all(row.decided_by == DECIDER for row in rows)
    # applied: revert nothing (decisions are append-only); the next examples see a decided item


def test_decisions_file_naming_one_item_twice_changes_nothing(case_ws, tmp_path: Path) -> None:
    from vetting.review.validation import ValidationRefused, apply_decisions_file

    (tmp_path / "d.yaml").write_text(yaml.safe_dump({"decisions": [dict(DECISION, item="item-b")] * 2}))
    from case_fixtures import add_item

    add_item(case_ws, "b", "Another post.")
    before = digest(case_ws.ws)
    with pytest.raises((InputError, ValidationRefused)):
        apply_decisions_file(case_ws.ws, tmp_path / "d.yaml", DECIDER)
    assert digest(case_ws.ws) == before


# -- the receipts block a findings report carries (read back by `vet report verify-receipts`) ----
@st.composite
def receipts_html(draw) -> str:  # type: ignore[no-untyped-def]
    receipt = st.fixed_dictionaries({}, optional={
        "item_id": st.text(max_size=10), "role": st.sampled_from(["validated", "concurred", "x"]),
        "seq": st.one_of(st.integers(-5, 2**70), st.text(max_size=5)), "event": json_values,
        "leaf_hash": st.one_of(st.text(max_size=70), st.just("00" * 32)), "proof": st.lists(st.text(max_size=66))})
    block = draw(st.one_of(
        json_documents().map(lambda b: b.decode("utf-8", "replace")),
        st.fixed_dictionaries({"format": st.sampled_from(["vetting-receipts/1", "x"])}, optional={
            "origin": st.text(max_size=20), "case_id": st.text(max_size=20),
            "checkpoint": st.fixed_dictionaries({}, optional={
                "tree_size": st.one_of(st.integers(-1, 2**70), st.text(max_size=4)),
                "root": st.one_of(st.text(max_size=70), st.just("00" * 32)), "note": st.text(max_size=200)}),
            "receipts": st.lists(receipt, max_size=3)}).map(json.dumps)))
    return ('<!DOCTYPE html><html><body><script type="application/json" id="receipts">'
            + block.replace("</", "<\\/") + "</script></body></html>")


@bounded(80)
@given(receipts_html())
def test_receipts_block_checked_or_refused(case_ws, html: str) -> None:
    from vetting.reports.render import verify_receipts

    GENERATED["receipts"] = GENERATED.get("receipts", 0) + 1
    result = verify_receipts(case_ws.ws, html)
    assert not result.ok or result.checked >= 0


def test_report_generated_counts() -> None:
    """Not an assertion of behaviour: prints how many cases the properties above generated."""
    print("hypothesis examples generated:", GENERATED, "total", sum(GENERATED.values()))
