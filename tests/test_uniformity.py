"""The uniformity check names any case that deviates from its procedure's ordered steps."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from test_engine import Flaky, local_procedure

from vetting.domain.approvals import approve
from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.engine.steps import open_case, run_case
from vetting.review.uniformity import check_uniformity
from vetting.store.workspace import Workspace

PROC = "kcpd-261-1-preemployment"


@pytest.fixture
def ran(tmp_path: Path, auth_file: Path, monkeypatch):
    ws = Workspace.open(tmp_path / "ws")
    approve(ws, local_procedure(tmp_path), "Capt. Rao")
    monkeypatch.setattr("vetting.engine.steps.get_collector", lambda kind: Flaky(0))
    for name in ("Ann One", "Ben Two", "Cy Three"):
        c = add_candidate(ws, CandidateInput(full_name=name, usernames=["x" + name.split()[0].lower()],
                                             authorization={"file": "a", "signed_on": "2026-10-01"}), auth_file, "Inv")
        asyncio.run(run_case(ws, open_case(ws, c.id, PROC, "Inv"), "Inv"))
    return ws, tmp_path / "ws" / "vetting.db"


def test_uniform_cases_pass(ran) -> None:
    ws, _ = ran
    report = check_uniformity(ws, PROC)
    assert report.uniform, report.deviations
    (group,) = report.groups
    assert [row.candidate_id for row in group.cases] == ["ann-one", "ben-two", "cy-three"]
    assert all(list(row.steps) == group.steps for row in group.cases)


def sql(db: Path, statement: str, *args) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement, args)


@pytest.mark.parametrize("tamper,expected", [
    ("UPDATE steprun SET step_id = CASE position WHEN 0 THEN 'account-discovery' WHEN 1 THEN 'disclosed-profiles' "
     "ELSE step_id END WHERE case_id LIKE 'case-ben-two-%'", "ben-two (case-ben-two-"),
    ("DELETE FROM steprun WHERE position = 2 AND case_id LIKE 'case-ben-two-%'", "differs from the procedure's"),
    ("UPDATE steprun SET status = 'failed' WHERE position = 1 AND case_id LIKE 'case-ben-two-%'",
     "recorded failed but the audit log says completed"),
])
def test_deviation_named(ran, tamper: str, expected: str) -> None:
    ws, db = ran
    sql(db, tamper)
    report = check_uniformity(ws, PROC)
    assert not report.uniform
    assert any(expected in d for d in report.deviations), report.deviations
    assert all("ben-two" in d for d in report.deviations)


def test_out_of_order_named(ran) -> None:
    ws, db = ran
    with sqlite3.connect(db) as conn:
        (t0,) = conn.execute("SELECT started_at FROM steprun WHERE position=0 AND case_id LIKE 'case-cy-three-%'").fetchone()
    from datetime import datetime

    earlier = (datetime.fromisoformat(t0) - timedelta(seconds=5)).isoformat(sep=" ")
    sql(db, "UPDATE steprun SET started_at = ? WHERE position = 2 AND case_id LIKE 'case-cy-three-%'", earlier)
    report = check_uniformity(ws, PROC)
    assert any("cy-three" in d and "step web-search (#3) started before step account-discovery (#2)" in d
               for d in report.deviations), report.deviations


def test_audit_order_checked_too(ran) -> None:
    """A step started out of order in the audit log is named even if the step table looks fine."""
    ws, _ = ran
    case_id = next(c.case_id for c in check_uniformity(ws, PROC).groups[0].cases if c.candidate_id == "ann-one")
    ws.record("step.started", actor="Inv", case_id=case_id, subject="disclosed-profiles", payload={"position": 0})
    report = check_uniformity(ws, PROC)
    assert any("ann-one" in d and "started after step web-search" in d for d in report.deviations), report.deviations


def test_cli_exit_code(ran) -> None:
    from conftest import vet

    ws, db = ran
    assert vet("uniformity", "--procedure", PROC, workspace=ws.root).returncode == 0
    sql(db, "DELETE FROM steprun WHERE position = 2 AND case_id LIKE 'case-ann-one-%'")
    result = vet("uniformity", "--procedure", PROC, workspace=ws.root)
    assert result.returncode == 1
    assert "deviation" in result.stdout and "ann-one" in result.stdout


# -- issue 9.4: uniform means every candidate was searched -------------------------------------
def test_failed_step_is_a_deviation_with_its_reason(ran) -> None:
    ws, db = ran
    sql(db, "UPDATE steprun SET status='failed', error='search backend down' WHERE position=2 "
            "AND case_id LIKE 'case-ann-one-%'")
    ws.record("step.finished", actor="system:engine", case_id=next(
        c.case_id for c in check_uniformity(ws, PROC).groups[0].cases if c.candidate_id == "ann-one"),
        subject="web-search", payload={"status": "failed"})
    report = check_uniformity(ws, PROC)
    assert any("ann-one" in d and "step web-search failed" in d and "search backend down" in d
               for d in report.deviations), report.deviations


def test_step_never_run_is_a_deviation(ran) -> None:
    ws, db = ran
    sql(db, "UPDATE steprun SET status='pending' WHERE position=2 AND case_id LIKE 'case-ben-two-%'")
    sql(db, "UPDATE \"case\" SET status='open' WHERE id LIKE 'case-ben-two-%'")
    report = check_uniformity(ws, PROC)
    assert any("ben-two" in d and "step web-search never ran" in d for d in report.deviations), report.deviations
    assert any("ben-two: no complete case under" in d for d in report.deviations), report.deviations


def test_candidate_never_run_is_a_deviation(ran, auth_file: Path) -> None:
    ws, _ = ran
    add_candidate(ws, CandidateInput(full_name="Dee Four", authorization={"file": "a", "signed_on": "2026-10-01"}),
                  auth_file, "Inv")
    report = check_uniformity(ws, PROC)
    assert report.deviations == [f"dee-four: never run under {PROC} (no case): this candidate was not searched "
                                 "like the others"]

