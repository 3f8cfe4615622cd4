"""The report gate: only validated (and, when adverse, concurred) items, masked, reach hiring staff."""

from __future__ import annotations

from pathlib import Path

import pytest
from case_fixtures import add_item, build_case, flag

from vetting.reports.findings import FindingPublic, findings_data
from vetting.review.validation import DecisionRequest, concur, decide

BIAS = "Those Muslims on my street are ruining this town. Also I'm 29 weeks pregnant and my Baptist church rocks."
GUN = "Pointing my pistol at the camera, who wants to test me. My wheelchair-using brother filmed it."


@pytest.fixture
def case(tmp_path: Path):
    b = build_case(tmp_path)
    items = {
        "bias": add_item(b, "bias", BIAS, flags=[flag(BIAS, "Those Muslims", "bias-speech", "IV.A.6.a", protected=True)]),
        "gun": add_item(b, "gun", GUN, flags=[flag(GUN, "pistol", "tactical-instruments", "IV.C.1.e", discredit=True)]),
        "clean": add_item(b, "clean", "Ran the half marathon with my Catholic running club."),
        "pending": add_item(b, "pending", "Unreviewed post about my Jewish neighbour."),
        "rejected": add_item(b, "rejected", "A stranger's post.", level="possible"),
    }
    by, second = "Det. Ortiz", "Sgt. Moreno"
    d = decide(b.ws, DecisionRequest(items["bias"].id, "validated", "her account, read in full", by, ("bias-speech",)))
    concur(b.ws, d.id, second)
    decide(b.ws, DecisionRequest(items["gun"].id, "validated", "her account", by, ("tactical-instruments",),
                                 discredit="Points a pistol at viewers with a challenge, publicly."))  # not concurred
    decide(b.ws, DecisionRequest(items["clean"].id, "validated", "her account, nothing of concern", by))
    decide(b.ws, DecisionRequest(items["rejected"].id, "rejected", "same name, other city", by))
    return b, items


def test_only_validated_and_concurred_items(case) -> None:
    b, items = case
    data = findings_data(b.ws, b.plan.case.id)
    ids = {f.item_id for f in data.findings}
    assert ids == {items["bias"].id, items["clean"].id}
    counts = {c.id: n for c, n in data.categories}
    assert counts["bias-speech"] == 1 and counts["tactical-instruments"] == 0  # awaiting concurrence
    assert len(data.categories) == 9 and data.validated_without_findings == 1


def test_protected_terms_masked_except_the_conduct(case) -> None:
    b, items = case
    data = findings_data(b.ws, b.plan.case.id)
    bias = next(f for f in data.findings if f.item_id == items["bias"].id)
    assert "Those Muslims" in bias.excerpt  # the words that ARE the bias-speech conduct
    for term in ("pregnant", "Baptist", "29 weeks"):
        assert term not in bias.excerpt
    assert "[protected:" in bias.excerpt and bias.masked_count >= 2
    clean = next(f for f in data.findings if f.item_id == items["clean"].id)
    assert "Catholic" not in clean.excerpt and "[protected: religion]" in clean.excerpt


def test_public_shape_has_no_raw_or_unvalidated_fields() -> None:
    fields = set(FindingPublic.model_fields)
    assert not fields & {"text", "flags", "date_of_birth", "links", "body", "matches"}


def test_changed_evidence_drops_out_of_the_report(case) -> None:
    b, items = case
    art = items["clean"].artifacts()[0]
    b.ws.evidence_path(art["path"]).write_bytes(b"tampered")
    data = findings_data(b.ws, b.plan.case.id)
    assert items["clean"].id not in {f.item_id for f in data.findings}


def test_concurred_adverse_appears_once_concurred(case) -> None:
    b, items = case
    from vetting.review.validation import current_decision

    concur(b.ws, current_decision(b.ws, items["gun"].id).id, "Lt. Vance")
    data = findings_data(b.ws, b.plan.case.id)
    gun = next(f for f in data.findings if f.item_id == items["gun"].id)
    assert gun.concurred_by == "Lt. Vance" and "wheelchair" not in gun.excerpt
    assert gun.discredit_justification.startswith("Points a pistol")
