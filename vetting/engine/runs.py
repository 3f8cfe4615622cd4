"""Running cases from the command line: refuse early, then collect inside one reactor.

Everything that can refuse a run (unknown candidate, no authorization, unapproved procedure,
a case another process is running) is checked for every candidate before the first request
is sent, so a bad invocation changes nothing. Each case's lock (vetting.store.caselock) is held
from before the case is opened until its run ends.
"""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vetting.domain.models import Case
from vetting.engine.reactor import run_in_reactor
from vetting.engine.steps import CasePlan, open_case, run_case
from vetting.store.workspace import Workspace


def planned_case_ids(ws: Workspace, candidate_ids: list[str], procedure_id: str) -> list[str]:
    """Validate everything a run needs (read only) and return the ids of the cases it will write."""
    from vetting.domain.approvals import load_approved
    from vetting.domain.candidates import get_candidate
    from vetting.engine.steps import case_id_for

    version, _ = load_approved(ws, procedure_id)
    return [case_id_for(get_candidate(ws, cid).id, version.fingerprint) for cid in candidate_ids]


def plan_cases(ws: Workspace, candidate_ids: list[str], procedure_id: str, by: str) -> list[CasePlan]:
    # Validate everything first; open cases only when every candidate can run.
    planned_case_ids(ws, candidate_ids, procedure_id)
    return [open_case(ws, cid, procedure_id, by) for cid in dict.fromkeys(candidate_ids)]


def run_cases(ws: Workspace, candidate_ids: list[str], procedure_id: str, by: str,
              console: Console | None = None, *, wait: bool = False,
              lock: bool = True) -> list[Case]:
    """Run (or resume) the cases with a progress bar per case, holding each case's lock."""
    from vetting.store.caselock import case_locks

    console = console or Console()
    case_ids = planned_case_ids(ws, candidate_ids, procedure_id)
    guard = case_locks(ws, case_ids, "run", wait=wait,
                       on_wait=lambda m: console.print(m, markup=False)) if lock else contextlib.nullcontext()
    with guard:
        plans = plan_cases(ws, candidate_ids, procedure_id, by)
        return run_plans(ws, plans, by, console)


def run_plans(ws: Workspace, plans: list[CasePlan], by: str, console: Console) -> list[Case]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[step]}"), TimeElapsedColumn(), console=console,
                  transient=False) as progress:
        tasks = {p.case.id: progress.add_task(p.candidate.id, total=len(p.loaded.procedure.steps), step="")
                 for p in plans}

        def on_step(case: Case, position: int, step_id: str, status: str) -> None:
            done = status != "running"
            progress.update(tasks[case.id], completed=position + (1 if done else 0),
                            step=f"{step_id}: {status}")

        async def main() -> list[Case]:
            return [await run_case(ws, plan, by, on_step) for plan in plans]

        cases = run_in_reactor(main)
    from vetting.cli.views import readable
    from vetting.engine.steps import step_runs

    for case in cases:
        console.print(f"{case.id}: [bold]{case.status}[/]")
        for run in step_runs(ws, case.id):
            if run.status == "failed":
                console.print(f"  step {run.step_id} [red]failed[/]: {escape(readable(run.error))}", highlight=False)
    return cases
