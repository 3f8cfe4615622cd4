"""The written process: validation with located errors, and the fingerprint's meaning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vetting.domain.procedure import load_procedure
from vetting.domain.yamlsource import InputError


def write(tmp_path: Path, data: dict | str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    # manifests referenced relatively must sit beside the copy
    (tmp_path / "sites").mkdir(exist_ok=True)
    src = Path(__file__).resolve().parent.parent / "procedures" / "sites" / "whatsmyname.json"
    (tmp_path / "sites" / "whatsmyname.json").write_bytes(src.read_bytes())
    return path


@pytest.fixture
def base(shipped_procedure: Path) -> dict:
    return yaml.safe_load(shipped_procedure.read_text())


def fp(tmp_path: Path, data: dict | str, name: str = "p.yaml") -> str:
    return load_procedure(write(tmp_path, data, name)).fingerprint


def test_shipped_procedure_is_valid(shipped_procedure: Path) -> None:
    loaded = load_procedure(shipped_procedure)
    proc = loaded.procedure
    assert loaded.fingerprint.startswith("sha256:") and len(loaded.fingerprint) == 71
    assert [s.collector for s in proc.steps] == ["pages", "accounts", "search"]
    assert proc.settings.network == "public" and proc.settings.lookback_years == 7
    policies = {c.policy for c in proc.categories}
    for section in ("IV.A.6.a", "IV.A.6.b", "IV.A.6.d", "IV.C.1.c", "IV.C.1.d", "IV.C.1.e", "IV.C.1.f"):
        assert section in policies
    assert not any("politic" in (c.id + c.title).lower() for c in proc.categories)


def test_same_meaning_same_fingerprint(tmp_path: Path, base: dict, shipped_procedure: Path) -> None:
    original = load_procedure(shipped_procedure).fingerprint
    # reordered keys at every level
    reordered = dict(reversed(list(base.items())))
    reordered["settings"] = dict(reversed(list(base["settings"].items())))
    reordered["steps"] = [dict(reversed(list(s.items()))) for s in base["steps"]]
    assert fp(tmp_path, reordered) == original
    # flow style, no comments, other indentation
    assert fp(tmp_path, yaml.safe_dump(base, default_flow_style=True, width=60)) == original
    # prose re-wrapped
    rewrapped = yaml.safe_load(yaml.safe_dump(base))
    rewrapped["steps"][0]["purpose"] = "\n  ".join(base["steps"][0]["purpose"].split(" "))
    assert fp(tmp_path, rewrapped) == original
    # defaults spelled out equal defaults left out
    explicit = yaml.safe_load(yaml.safe_dump(base))
    explicit["steps"][2]["limits"]["max_depth"] = 0
    assert fp(tmp_path, explicit) == original


@pytest.mark.parametrize("change", [
    lambda d: d["steps"].reverse(),
    lambda d: d["steps"].pop(),
    lambda d: d["steps"][0].update(inputs="{usernames}"),
    lambda d: d["steps"][0].update(purpose=d["steps"][0]["purpose"] + " Also screenshots."),
    lambda d: d["steps"][2]["limits"].update(max_pages=6),
    lambda d: d["settings"].update(lookback_years=10),
    lambda d: d["settings"].update(network="loopback"),
    lambda d: d["settings"]["rate_limit"].update(delay_seconds=0.5),
    lambda d: d["categories"][0]["rules"][0]["patterns"].append(r"\bnew\b"),
    lambda d: d["categories"].pop(),
    lambda d: d.update(version=2),
    lambda d: d.update(title="Another title"),
], ids=["reorder-steps", "drop-step", "change-input", "change-purpose", "change-limit", "lookback",
        "network", "rate", "rule", "drop-category", "version", "title"])
def test_any_change_of_meaning_changes_fingerprint(tmp_path: Path, base: dict, change) -> None:
    original = fp(tmp_path, base)
    changed = yaml.safe_load(yaml.safe_dump(base))
    change(changed)
    assert fp(tmp_path, changed, "changed.yaml") != original


def test_manifest_content_is_part_of_fingerprint(tmp_path: Path, base: dict) -> None:
    path = write(tmp_path, base)
    before = load_procedure(path).fingerprint
    manifest = tmp_path / "sites" / "whatsmyname.json"
    manifest.write_text(manifest.read_text().replace('"pottm"', '"someone-else"'))
    assert load_procedure(path).fingerprint != before


BAD = [
    ("collector: pages\n", "unknown collector", "steps[0].collector",
     lambda d: d["steps"][0].update(collector="scraper")),
    ("missing title", "Field required", "steps[1].title", lambda d: d["steps"][1].pop("title")),
    ("bad regex", "not a valid regular expression", "categories[0].rules[0].patterns",
     lambda d: d["categories"][0]["rules"][0]["patterns"].append("(unclosed")),
    ("unknown field", "unknown field", "settings.netwrok", lambda d: d["settings"].update(netwrok="public")),
    ("template", "not among the procedure's identifiers", "steps[0].inputs[0]",
     lambda d: d["steps"][0].update(inputs="{ssn}")),
    ("duplicate step", "used twice", "steps[1].id", lambda d: d["steps"][1].update(id=d["steps"][0]["id"])),
    ("political", "political speech is not a review category", "categories[0]",
     lambda d: d["categories"][0].update(title="Political speech")),
    ("ua disguise", "honest User-Agent", "settings.user_agent",
     lambda d: d["settings"].update(user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120 +https://a.example")),
    ("no contact", "contact URL", "settings.user_agent", lambda d: d["settings"].update(user_agent="Vetting/1.0")),
    ("network", "Input should be 'public' or 'loopback'", "settings.network",
     lambda d: d["settings"].update(network="anything")),
]


@pytest.mark.parametrize("label,message,field,change", BAD, ids=[b[0] for b in BAD])
def test_invalid_procedure_names_line_and_field(tmp_path: Path, base: dict, label, message, field, change) -> None:
    changed = yaml.safe_load(yaml.safe_dump(base))
    change(changed)
    path = write(tmp_path, changed)
    with pytest.raises(InputError) as exc:
        load_procedure(path)
    problems = exc.value.problems
    hit = [p for p in problems if p.field == field and message in p.message]
    assert hit, [str(p) for p in problems]
    lines = path.read_text().splitlines()
    assert hit[0].line is not None and 1 <= hit[0].line <= len(lines)
    # the reported line is where that field (or its block) is written
    last = field.split(".")[-1].split("[")[0]
    assert last in lines[hit[0].line - 1] or "-" in lines[hit[0].line - 1]


def test_every_problem_listed_at_once(tmp_path: Path, base: dict) -> None:
    changed = yaml.safe_load(yaml.safe_dump(base))
    changed["steps"][0]["collector"] = "nope"
    changed["steps"][1].pop("purpose")
    changed["settings"]["lookback_years"] = -1
    with pytest.raises(InputError) as exc:
        load_procedure(write(tmp_path, changed))
    fields = {p.field for p in exc.value.problems}
    assert {"steps[0].collector", "steps[1].purpose", "settings.lookback_years"} <= fields


@pytest.mark.parametrize("text,message", [
    ("id: a\nid: b\n", "duplicate key"),
    ("steps: [\n", "not valid YAML"),
    ("", "empty"),
    ("- just\n- a list\n", "mapping"),
])
def test_malformed_yaml(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        load_procedure(write(tmp_path, text))
    assert message in str(exc.value)


def test_missing_manifest_is_located(tmp_path: Path, base: dict) -> None:
    base["steps"][1]["sites"] = "sites/nothing.json"
    path = write(tmp_path, base)
    with pytest.raises(InputError) as exc:
        load_procedure(path)
    (problem,) = exc.value.problems
    assert problem.field == "steps[1].sites" and "cannot be read" in problem.message
    assert "sites:" in path.read_text().splitlines()[problem.line - 1]


def test_catastrophic_pattern_refused(tmp_path: Path, base: dict) -> None:
    base["categories"][0]["rules"][0]["patterns"] = ["(a+)+$"]
    with pytest.raises(InputError) as exc:
        load_procedure(write(tmp_path, base))
    assert any(p.field.startswith("categories[0].rules[0]") for p in exc.value.problems), exc.value


def test_defaults_are_pinned() -> None:
    """The fingerprint leaves defaults out, so a default may never change meaning silently.

    Changing one of these is a change of every procedure relying on it: it needs a new
    procedure version and approval in every agency, not a quiet toolkit update.
    """
    from vetting.domain.procedure import Limits, RateLimit, StepLimits

    assert RateLimit().model_dump() == {"delay_seconds": 1.0, "concurrency_per_domain": 2, "concurrency_total": 16}
    assert Limits().model_dump() == {"max_bytes": 5_000_000, "timeout_seconds": 30, "max_redirects": 5}
    assert StepLimits().model_dump() == {"max_pages": 50, "max_depth": 0, "timeout_seconds": 600}
    from vetting.domain.procedure import Settings

    fields = Settings.model_fields
    pinned = ("lookback_years", "findings_outside_lookback", "network", "min_identity", "retries")
    assert {k: fields[k].default for k in pinned} == {
        "lookback_years": 7, "findings_outside_lookback": False, "network": "public",
        "min_identity": "confirmed", "retries": 2}


def test_unset_settings_are_not_in_the_fingerprinted_form(tmp_path: Path, base: dict) -> None:
    """A setting left at its default is absent from the hashed form, so a later toolkit adding a
    new defaulted setting leaves existing fingerprints as they were; the document form has it."""
    import json

    loaded = load_procedure(write(tmp_path, base))
    hashed = json.loads(loaded.canonical)
    assert "concurrency_total" not in hashed["settings"]["rate_limit"]
    assert "retries" not in hashed["settings"]  # the shipped file spells out 2, the default
    full = json.loads(loaded.resolved)
    assert full["settings"]["rate_limit"]["concurrency_total"] == 16 and full["settings"]["retries"] == 2


@pytest.mark.parametrize("sites,message", [("/dev/zero", "is not a regular file"), ("/tmp", "is a folder"),
                                           ("absent.json", "no such file")])
def test_manifest_must_be_a_bounded_regular_file(tmp_path: Path, shipped_procedure: Path, sites: str,
                                                 message: str) -> None:
    """`sites: /dev/zero` used to read forever; every step's manifest is a regular file of bounded size."""
    import yaml

    from vetting.domain.procedure import load_procedure

    data = yaml.safe_load(shipped_procedure.read_text())
    for step in data["steps"]:
        if step.get("sites"):
            step["sites"] = sites
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as exc:
        load_procedure(path)
    assert any(p.field.endswith(".sites") and message in p.message for p in exc.value.problems), exc.value
