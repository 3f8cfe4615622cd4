"""The uniform-procedure engine: every case runs every step of its procedure, in order.

Policy 261-1 IV.B.8.c requires vetting techniques to be applied uniformly. The engine makes
that structural: a case is a candidate x an approved procedure fingerprint; opening it
creates one step record per step of the procedure, in order, all ``pending``; running it
drives each to a terminal state (``completed``, ``no_input`` or ``failed``), retrying a
failing step before recording it failed with the reason. Nothing is skipped silently, and a
case is complete only when every step is terminal.

Resumption: a killed run leaves committed items and step records behind; running the case
again continues with the first non-terminal step, and the collectors skip items already
captured (unique per case and key), so nothing is lost or duplicated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import select

from vetting.collectors import StepContext, get_collector
from vetting.domain.approvals import load_approved
from vetting.domain.candidates import candidate_erased, candidate_identifiers, get_candidate
from vetting.domain.models import STEP_TERMINAL, Candidate, Case, ProcedureVersion, StepRun, utcnow
from vetting.domain.procedure import LoadedProcedure
from vetting.store.workspace import Workspace

ProgressCallback = Callable[[Case, int, str, str], None]  # case, position, step id, status


class RunError(Exception):
    """A run is refused before anything is collected (unapproved procedure, no authorization...)."""


@dataclass
class CasePlan:
    case: Case
    candidate: Candidate
    version: ProcedureVersion
    loaded: LoadedProcedure


def case_id_for(candidate_id: str, fingerprint: str) -> str:
    digest = hashlib.sha256(f"{candidate_id}\n{fingerprint}".encode()).hexdigest()[:10]
    return f"case-{candidate_id}-{digest}"


def open_case(ws: Workspace, candidate_id: str, procedure_id: str, by: str,
              fingerprint: str | None = None) -> CasePlan:
    """Open (or find, to resume) the case of a candidate under the latest approved version."""
    if not by.strip():
        raise RunError("--by must name the investigator running the search")
    candidate = get_candidate(ws, candidate_id)
    if candidate_erased(ws, candidate.id):
        raise RunError(f"candidate {candidate_id}'s personal data was erased: there is nothing to search with")
    if not candidate.authorization_sha256:
        raise RunError(f"candidate {candidate_id} has no signed authorization on file: no search")
    version, loaded = load_approved(ws, procedure_id, fingerprint)
    cid = case_id_for(candidate.id, version.fingerprint)
    with ws.session() as s:
        case = s.get(Case, cid)
        if case is not None:
            return CasePlan(case, candidate, version, loaded)
        case = Case(id=cid, candidate_id=candidate.id, fingerprint=version.fingerprint,
                    procedure_id=version.procedure_id, opened_by=by.strip(), opened_at=utcnow())
        s.add(case)
        s.flush()
        for position, step in enumerate(loaded.procedure.steps):
            s.add(StepRun(case_id=cid, position=position, step_id=step.id, collector=step.collector))
        s.commit()
    ws.record("case.opened", actor=by.strip(), case_id=cid, subject=candidate.id,
              payload={"procedure_id": version.procedure_id, "version": version.version,
                       "fingerprint": version.fingerprint,
                       "steps": [s.id for s in loaded.procedure.steps],
                       "authorization_sha256": candidate.authorization_sha256})
    ws.audit.checkpoint()
    return CasePlan(case, candidate, version, loaded)


def step_runs(ws: Workspace, case_id: str) -> list[StepRun]:
    with ws.session() as s:
        return list(s.exec(select(StepRun).where(StepRun.case_id == case_id).order_by(StepRun.position)))


async def run_case(ws: Workspace, plan: CasePlan, by: str, progress: ProgressCallback | None = None) -> Case:
    """Drive every step of the case to a terminal state, in order; return the case."""
    proc = plan.loaded.procedure
    identifiers = candidate_identifiers(ws, plan.candidate)
    retries = proc.settings.retries
    for run in step_runs(ws, plan.case.id):
        step = proc.steps[run.position]
        if run.step_id != step.id:  # the frozen procedure and the case disagree: never guess
            raise RunError(f"case {plan.case.id} step {run.position} is {run.step_id!r} but the "
                           f"procedure says {step.id!r}")
        if run.status in STEP_TERMINAL:
            if progress:
                progress(plan.case, run.position, step.id, run.status)
            continue
        collector = get_collector(step.collector)
        inputs = collector.plan(step, identifiers)
        run.inputs_json = json.dumps([i.value for i in inputs])
        resumed = run.status == "running"
        if not inputs:
            _start(ws, plan, run, by, resumed)
            _finish(ws, plan, run, "no_input", None)
            if progress:
                progress(plan.case, run.position, step.id, "no_input")
            continue
        failures: list[str] = []
        while True:
            _start(ws, plan, run, by, resumed)
            resumed = False
            if progress:
                progress(plan.case, run.position, step.id, "running")
            ctx = StepContext(ws=ws, case=plan.case, loaded=plan.loaded, step=step,
                              position=run.position, inputs=inputs, operator=by)
            try:
                await collector.collect(ctx)
                error = None
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, then retried
                error = f"attempt {run.attempts}: {type(exc).__name__}: {exc}"
                try:
                    ctx.close()
                except Exception as closing:  # noqa: BLE001 - e.g. the WARC's upload failed again
                    error += f"; closing: {type(closing).__name__}: {closing}"
            run.requests_allowed += ctx.requests_allowed
            run.requests_refused += ctx.requests_refused
            run.items += ctx.items_saved
            if error is not None:
                failures.append(error)
                if len(failures) <= retries:
                    (error_c,) = ws.commit_values(plan.candidate.id, [failures[-1]])
                    ws.record("step.retried", actor="system:engine", case_id=plan.case.id,
                              subject=step.id, payload={"position": run.position, "error": error_c})
                    continue
                _finish(ws, plan, run, "failed", "; ".join(failures))
                break
            _finish(ws, plan, run, "completed", "; ".join(failures) or None)
            break
        if progress:
            progress(plan.case, run.position, step.id, run.status)
    if all(r.status in STEP_TERMINAL for r in step_runs(ws, plan.case.id)):
        from vetting.screening.assessment import assess_case

        assess_case(ws, plan.case, plan.candidate, plan.loaded)
    return _maybe_complete(ws, plan)


def _start(ws: Workspace, plan: CasePlan, run: StepRun, by: str, resumed: bool) -> None:
    run.status = "running"
    run.attempts += 1
    run.started_at = utcnow()
    _save(ws, run)
    # The inputs are the candidate's identifiers and queries built from them: committed, not written.
    inputs = ws.commit_values(plan.candidate.id, json.loads(run.inputs_json))
    ws.record("step.started", actor=by, case_id=plan.case.id, subject=run.step_id,
              payload={"position": run.position, "attempt": run.attempts, "resumed": resumed,
                       "collector": run.collector, "inputs": inputs})


def _finish(ws: Workspace, plan: CasePlan, run: StepRun, status: str, error: str | None) -> None:
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    _save(ws, run)
    (error_c,) = ws.commit_values(plan.candidate.id, [error])  # an error may quote a URL or a query
    ws.record("step.finished", actor="system:engine", case_id=plan.case.id, subject=run.step_id,
              payload={"position": run.position, "status": status, "error": error_c or None,
                       "attempts": run.attempts, "requests_allowed": run.requests_allowed,
                       "requests_refused": run.requests_refused, "items": run.items})
    ws.audit.checkpoint()


def _save(ws: Workspace, run: StepRun) -> None:
    with ws.session() as s:
        s.merge(run)
        s.commit()


def _maybe_complete(ws: Workspace, plan: CasePlan) -> Case:
    runs = step_runs(ws, plan.case.id)
    with ws.session() as s:
        case = s.get(Case, plan.case.id)
        assert case is not None
        if case.status == "open" and all(r.status in STEP_TERMINAL for r in runs):
            case.status = "complete"
            case.completed_at = utcnow()
            s.add(case)
            s.commit()
            ws.record("case.completed", actor="system:engine", case_id=case.id, subject=case.candidate_id,
                      payload={"steps": {r.step_id: r.status for r in runs}})
            ws.audit.checkpoint()
        return case
