"""Validation: re-hash first, identity minimum, lookback, discredit, two persons, no overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from case_fixtures import add_item, build_case, flag

from vetting.review.validation import DecisionRequest, ValidationRefused, concur, current_decision, decide

GUN = "Me at the lake, pointing my rifle at the neighbours' dog for fun."


@pytest.fixture
def built(tmp_path: Path):
    return build_case(tmp_path)


def test_validated_clean_item(built) -> None:
    item = add_item(built, "a", "Volunteered at the food bank today.")
    row = decide(built.ws, DecisionRequest(item.id, "validated", "disclosed account, content reviewed", "Inv. Lee"))
    assert row is not None and not row.adverse and row.evidence_verified
    event = [e for e in built.ws.audit.events(case_id=built.plan.case.id) if e.action == "item.validated"][-1]
    assert event.subject == item.id and event.payload["decision_id"] == row.id


def test_changed_evidence_refuses_validation(built) -> None:
    item = add_item(built, "a", GUN)
    shot = [a for a in item.artifacts() if a["kind"] == "screenshot"][0]
    path = built.ws.evidence_path(shot["path"])
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ValidationRefused, match="no longer matches its sha256"):
        decide(built.ws, DecisionRequest(item.id, "validated", "looks like her", "Inv. Lee"))
    assert current_decision(built.ws, item.id) is None
    assert any(e.action == "item.validation_refused" for e in built.ws.audit.events(case_id=built.plan.case.id))


def test_deleted_evidence_refuses_validation(built) -> None:
    item = add_item(built, "a", GUN)
    built.ws.evidence_path(item.artifacts()[0]["path"]).unlink()
    with pytest.raises(ValidationRefused, match="missing"):
        decide(built.ws, DecisionRequest(item.id, "validated", "looks like her", "Inv. Lee"))


@pytest.mark.parametrize("level", ["possible", "probable", "not_attributable"])
def test_below_minimum_identity_cannot_be_validated(built, level: str) -> None:
    item = add_item(built, "a", "Jane Doe posted this.", level=level)
    with pytest.raises(ValidationRefused, match="below the procedure's minimum"):
        decide(built.ws, DecisionRequest(item.id, "validated", "same name", "Inv. Lee"))
    # but it can be recorded as unverifiable or rejected
    assert decide(built.ws, DecisionRequest(item.id, "unverifiable", "name only, no other identifier", "Inv. Lee"))


def test_adverse_needs_a_second_person(built) -> None:
    item = add_item(built, "a", GUN, flags=[flag(GUN, "rifle", "tactical-instruments", "IV.C.1.e", discredit=True)])
    with pytest.raises(ValidationRefused, match="brings discredit"):
        decide(built.ws, DecisionRequest(item.id, "validated", "her account", "Inv. Lee", ("tactical-instruments",)))
    row = decide(built.ws, DecisionRequest(item.id, "validated", "her account", "Inv. Lee", ("tactical-instruments",),
                                           discredit="Pointing a rifle at an animal for fun, posted publicly."))
    assert row is not None and row.adverse
    with pytest.raises(ValidationRefused, match="a second person must concur"):
        concur(built.ws, row.id, "inv.  LEE")
    done = concur(built.ws, row.id, "Sgt. Park", "agree")
    assert done.concurred_by == "Sgt. Park"
    with pytest.raises(ValidationRefused, match="already has the concurrence"):
        concur(built.ws, row.id, "Lt. Cho")


def test_revision_must_cite_and_never_overwrites(built) -> None:
    item = add_item(built, "a", "Volunteered at the food bank today.")
    first = decide(built.ws, DecisionRequest(item.id, "unverifiable", "could not tell", "Inv. Lee"))
    with pytest.raises(ValidationRefused, match="--supersedes"):
        decide(built.ws, DecisionRequest(item.id, "validated", "now confirmed", "Inv. Lee"))
    second = decide(built.ws, DecisionRequest(item.id, "validated", "now confirmed", "Inv. Lee", supersedes=first.id))
    assert current_decision(built.ws, item.id).id == second.id
    from sqlmodel import select

    from vetting.domain.models import Decision

    with built.ws.session() as s:
        rows = list(s.exec(select(Decision).where(Decision.item_id == item.id)))
    assert [r.decision for r in rows] == ["unverifiable", "validated"]


def test_outside_lookback_cannot_be_a_finding(built) -> None:
    item = add_item(built, "a", GUN, outside_lookback=True,
                    flags=[flag(GUN, "rifle", "tactical-instruments", "IV.C.1.e", discredit=True)])
    with pytest.raises(ValidationRefused, match="lookback"):
        decide(built.ws, DecisionRequest(item.id, "validated", "her account", "Inv. Lee", ("tactical-instruments",),
                                         discredit="Pointing a rifle at an animal for fun."))


def test_unknown_category_and_findings_on_rejection_refused(built) -> None:
    item = add_item(built, "a", GUN)
    with pytest.raises(ValidationRefused, match="unknown review category"):
        decide(built.ws, DecisionRequest(item.id, "validated", "her account", "Inv. Lee", ("political-views",)))
    with pytest.raises(ValidationRefused, match="only a validated item"):
        decide(built.ws, DecisionRequest(item.id, "rejected", "not her", "Inv. Lee", ("tactical-instruments",)))


def test_procedure_may_allow_findings_outside_lookback(tmp_path: Path) -> None:
    import yaml
    from case_fixtures import REPO

    from vetting.domain.approvals import approve

    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"]["findings_outside_lookback"] = True
    data["version"] = 2
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "sites").mkdir()
    (tmp_path / "p" / "sites" / "whatsmyname.json").write_bytes((REPO / "procedures" / "sites" / "whatsmyname.json").read_bytes())
    (tmp_path / "p" / "proc.yaml").write_text(yaml.safe_dump(data))
    b = build_case(tmp_path)
    approve(b.ws, tmp_path / "p" / "proc.yaml", "Capt. Rao")
    from vetting.engine.steps import open_case

    b.plan = open_case(b.ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")  # the v2 case
    item = add_item(b, "old", GUN, outside_lookback=True,
                    flags=[flag(GUN, "rifle", "tactical-instruments", "IV.C.1.e", discredit=True)])
    row = decide(b.ws, DecisionRequest(item.id, "validated", "her account", "Inv. Lee", ("tactical-instruments",),
                                       discredit="Pointing a rifle at an animal for fun."))
    assert row is not None and row.adverse


# -- issue 9.7: floors no procedure can lower ---------------------------------------------------
def _procedure_with(tmp_path: Path, **settings) -> Path:
    import yaml
    from case_fixtures import REPO

    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"].update(settings)
    data["version"] = 2
    (tmp_path / "p" / "sites").mkdir(parents=True, exist_ok=True)
    (tmp_path / "p" / "sites" / "whatsmyname.json").write_bytes(
        (REPO / "procedures" / "sites" / "whatsmyname.json").read_bytes())
    (tmp_path / "p" / "proc.yaml").write_text(yaml.safe_dump(data))
    return tmp_path / "p" / "proc.yaml"


@pytest.mark.parametrize("level", ["possible", "not_attributable", "anything"])
def test_min_identity_below_probable_refused_at_check(tmp_path: Path, level: str) -> None:
    from test_cli import invoke

    path = _procedure_with(tmp_path, min_identity=level)
    result = invoke(tmp_path / "ws", "procedure", "check", str(path))
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if "min_identity" in x)
    assert "proc.yaml:" in line and "at least 'probable'" in line and "no procedure can lower" in line


@pytest.mark.parametrize("matches", [
    [{"kind": "full_name", "value": "Jane Doe", "where": "text:0", "snippet": "Jane Doe"}],
    [{"kind": "full_name", "value": "Jane Doe", "where": "text:0", "snippet": "Jane Doe"},
     {"kind": "alias", "value": "Janie Doe", "where": "title:0", "snippet": "Janie Doe"}],
])
def test_name_only_item_never_validated_under_any_procedure(tmp_path: Path, matches: list) -> None:
    import json

    from vetting.domain.approvals import approve
    from vetting.domain.models import Assessment
    from vetting.engine.steps import open_case

    b = build_case(tmp_path)
    approve(b.ws, _procedure_with(tmp_path, min_identity="probable"), "Capt. Rao")
    b.plan = open_case(b.ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")  # the lenient v2 case
    for key, level in (("n1", "probable"), ("n2", "confirmed")):
        item = add_item(b, key, GUN, level=level)
        with b.ws.session() as s:
            a = s.get(Assessment, item.id)
            a.matches_json = json.dumps(matches)
            s.add(a)
            s.commit()
        with pytest.raises(ValidationRefused, match="a name alone never establishes identity"):
            decide(b.ws, DecisionRequest(item.id, "validated", "same name as the candidate", "Inv. Lee"))
        assert current_decision(b.ws, item.id) is None
    # the same level with a second, independent identifier is validated under the lenient procedure
    other = add_item(b, "n3", "Volunteered at the food bank.", level="probable")
    with b.ws.session() as s:
        a = s.get(Assessment, other.id)
        a.matches_json = json.dumps(matches + [{"kind": "username", "value": "janed95", "where": "url",
                                                "snippet": "janed95"}])
        s.add(a)
        s.commit()
    assert decide(b.ws, DecisionRequest(other.id, "validated", "name and her username", "Inv. Lee")) is not None
