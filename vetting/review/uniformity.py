"""The uniformity check (IV.B.8.c): did every candidate go through the identical search?

For each approved fingerprint of a procedure, every case must have run exactly the
procedure's ordered step list, each step started in order and ended in a terminal state. The
check reads both the step records and the audit log (which cannot be edited without
detection), and names every deviation it finds.

Uniform means every candidate was searched the same way, so these are deviations too, each
named with its reason: a step that ended ``failed`` (that candidate was not searched the way
the others were), a step never run, and a candidate in the workspace with no complete case
under the procedure (never run, or a run left unfinished).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from sqlmodel import select

from vetting.domain.models import STEP_TERMINAL, Candidate, Case, ProcedureVersion, StepRun
from vetting.domain.yamlsource import clip
from vetting.store.workspace import Workspace


@dataclass
class CaseRow:
    case_id: str
    candidate_id: str
    status: str
    steps: dict[str, str]  # step id -> state


@dataclass
class FingerprintGroup:
    fingerprint: str
    version: int
    approved_by: str
    steps: list[str]
    cases: list[CaseRow] = field(default_factory=list)


@dataclass
class UniformityReport:
    procedure_id: str
    groups: list[FingerprintGroup] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)

    @property
    def uniform(self) -> bool:
        return not self.deviations


def check_uniformity(ws: Workspace, procedure_id: str) -> UniformityReport:
    report = UniformityReport(procedure_id)
    with ws.session() as s:
        versions = list(s.exec(select(ProcedureVersion).where(
            ProcedureVersion.procedure_id == procedure_id).order_by(ProcedureVersion.version)))
        for version in versions:
            expected = [step["id"] for step in json.loads(version.canonical_json)["steps"]]
            group = FingerprintGroup(version.fingerprint, version.version, version.approved_by, expected)
            report.groups.append(group)
            cases = list(s.exec(select(Case).where(Case.fingerprint == version.fingerprint)
                                .order_by(Case.candidate_id)))
            for case in cases:
                runs = list(s.exec(select(StepRun).where(StepRun.case_id == case.id).order_by(StepRun.position)))
                group.cases.append(CaseRow(case.id, case.candidate_id, case.status,
                                           {r.step_id: r.status for r in runs}))
                report.deviations.extend(_case_deviations(ws, case, expected, runs))
        if versions:
            report.deviations.extend(_candidates_not_searched(s, procedure_id))
    return report


def _candidates_not_searched(s, procedure_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every candidate of the workspace without a complete case under this procedure."""
    out = []
    cases = list(s.exec(select(Case).where(Case.procedure_id == procedure_id)))
    for candidate in s.exec(select(Candidate).order_by(Candidate.id)):
        mine = [c for c in cases if c.candidate_id == candidate.id]
        if any(c.status == "complete" for c in mine):
            continue
        if not mine:
            out.append(f"{candidate.id}: never run under {procedure_id} (no case): this candidate was not "
                       "searched like the others")
        else:
            out.append(f"{candidate.id}: no complete case under {procedure_id} "
                       f"({', '.join(c.id + ' is ' + c.status for c in mine)})")
    return out


def _case_deviations(ws: Workspace, case: Case, expected: list[str], runs: list[StepRun]) -> list[str]:
    out: list[str] = []
    who = f"{case.candidate_id} ({case.id})"
    ran = [r.step_id for r in runs]
    if ran != expected:
        out.append(f"{who}: step list {ran} differs from the procedure's {expected}")
    started = [(r.started_at, r.position, r.step_id) for r in runs if r.started_at is not None]
    for (t1, p1, s1), (t2, p2, s2) in itertools.pairwise(started):
        if t2 < t1:
            out.append(f"{who}: step {s2} (#{p2 + 1}) started before step {s1} (#{p1 + 1})")
    if case.status == "complete":
        for r in runs:
            if r.status not in STEP_TERMINAL:
                out.append(f"{who}: marked complete but step {r.step_id} is {r.status}")
    else:
        for r in runs:
            if r.status == "pending":
                out.append(f"{who}: step {r.step_id} never ran")
            elif r.status == "running":
                out.append(f"{who}: step {r.step_id} started but never finished (run interrupted; run the "
                           "case again to resume)")
    for r in runs:
        if r.status == "failed":
            out.append(f"{who}: step {r.step_id} failed after {r.attempts} attempt(s): "
                       f"{clip(r.error or 'no reason recorded', 300)}")
    out.extend(_cancelled_deviations(runs, who))
    out.extend(_audit_deviations(ws, case, expected, runs, who))
    return out


def _cancelled_deviations(runs: list[StepRun], who: str) -> list[str]:
    """A cancelled step (``vet queue cancel``) is recorded, never hidden: it did not run."""
    return [f"{who}: step {r.step_id} was cancelled ({r.error or 'no reason recorded'})"
            for r in runs if r.status == "cancelled"]


def _audit_deviations(ws: Workspace, case: Case, expected: list[str], runs: list[StepRun],
                      who: str) -> list[str]:
    """Cross-check the step records against the audit trail of step events."""
    out: list[str] = []
    last_position = -1
    finished: dict[str, str] = {}
    for event in ws.audit.events(case_id=case.id):
        if event.action == "step.started":
            step_id = event.subject
            if step_id not in expected:
                out.append(f"{who}: audit shows step {step_id!r}, which is not in the procedure")
                continue
            position = expected.index(step_id)
            if position < last_position:
                out.append(f"{who}: audit shows step {step_id} started after step {expected[last_position]}")
            last_position = max(last_position, position)
        elif event.action == "step.finished":
            finished[event.subject] = event.payload.get("status")
    for r in runs:
        if r.status in STEP_TERMINAL and finished.get(r.step_id) != r.status:
            out.append(f"{who}: step {r.step_id} is recorded {r.status} but the audit log says "
                       f"{finished.get(r.step_id) or 'it never finished'}")
    return out
