"""Cancelling a case's steps left (vetting/engine/cancellation.py): recorded, audited, a deviation."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_engine import Flaky, ws_with_candidate  # noqa: F401 - the fixture

from vetting.engine.cancellation import cancel_remaining_steps
from vetting.engine.steps import open_case, run_case, step_runs
from vetting.review.uniformity import check_uniformity
from vetting.store.personal import is_commitment


def test_steps_left_are_cancelled_once_with_who_and_why(ws_with_candidate, monkeypatch) -> None:  # noqa: F811
    ws = ws_with_candidate
    monkeypatch.setattr("vetting.engine.steps.get_collector", lambda kind: Flaky(0))
    done = asyncio.run(run_case(ws, open_case(ws, "john-roe", "kcpd-261-1-preemployment", "Inv. Lee"), "Inv. Lee"))
    plan = open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    first = step_runs(ws, plan.case.id)[0]
    first.status = "running"  # as a killed run leaves it
    with ws.session() as s:
        s.merge(first)
        s.commit()
    assert cancel_remaining_steps(ws, plan.case.id, "Sgt. Moreno", "candidate withdrew") == [
        "disclosed-profiles", "account-discovery", "web-search"]
    assert cancel_remaining_steps(ws, plan.case.id, "Sgt. Moreno", "again") == []  # idempotent
    runs = step_runs(ws, plan.case.id)
    assert {r.status for r in runs} == {"cancelled"}
    assert runs[0].error == "cancelled by Sgt. Moreno: candidate withdrew"
    finished = [e for e in ws.audit.events(case_id=plan.case.id) if e.action == "step.finished"]
    assert [(e.actor, e.payload["status"], e.payload["cancelled_by"]) for e in finished] == [
        ("Sgt. Moreno", "cancelled", "Sgt. Moreno")] * 3
    # the reason is free text that may name the candidate: events carry its commitment
    assert all(is_commitment(e.payload["reason"]) and is_commitment(e.payload["error"]) for e in finished)
    assert "candidate withdrew" not in json.dumps([e.payload for e in ws.audit.events(case_id=plan.case.id)])
    # a later `vet run` of the case neither runs the steps nor calls it complete
    case = asyncio.run(run_case(ws, open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee"), "Inv. Lee"))
    assert case.status == "cancelled"
    report = check_uniformity(ws, "kcpd-261-1-preemployment")
    assert not report.uniform
    assert [d for d in report.deviations if "was cancelled" in d] == [
        f"jane-doe ({plan.case.id}): step {s} was cancelled (cancelled by Sgt. Moreno: candidate withdrew)"
        for s in ("disclosed-profiles", "account-discovery", "web-search")]
    assert not any(done.id in d for d in report.deviations)  # the other candidate is untouched


def test_a_cancel_names_who(ws_with_candidate) -> None:  # noqa: F811
    plan = open_case(ws_with_candidate, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee")
    with pytest.raises(ValueError, match="names the person"):
        cancel_remaining_steps(ws_with_candidate, plan.case.id, "  ", "r")
