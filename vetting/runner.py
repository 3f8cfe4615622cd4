"""Running cases from the command line: refuse early, then collect inside one reactor.

Everything that can refuse a run (unknown candidate, no authorization, unapproved procedure)
is checked for every candidate before the first request is sent, so a bad invocation
changes nothing.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vetting.engine import CasePlan, open_case, run_case
from vetting.models import Case
from vetting.reactor import run_in_reactor
from vetting.workspace import Workspace


def plan_cases(ws: Workspace, candidate_ids: list[str], procedure_id: str, by: str) -> list[CasePlan]:
    from vetting.approvals import load_approved
    from vetting.candidates import get_candidate

    # Validate everything first; open cases only when every candidate can run.
    load_approved(ws, procedure_id)
    for cid in candidate_ids:
        get_candidate(ws, cid)
    return [open_case(ws, cid, procedure_id, by) for cid in candidate_ids]


def run_cases(ws: Workspace, candidate_ids: list[str], procedure_id: str, by: str,
              console: Console | None = None) -> list[Case]:
    """Run (or resume) the cases with a progress bar per case; return the cases."""
    console = console or Console()
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
    from vetting.engine import step_runs
    from vetting.views import readable

    for case in cases:
        console.print(f"{case.id}: [bold]{case.status}[/]")
        for run in step_runs(ws, case.id):
            if run.status == "failed":
                console.print(f"  step {run.step_id} [red]failed[/]: {readable(run.error)}", highlight=False)
    return cases
