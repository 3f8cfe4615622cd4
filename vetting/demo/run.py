"""``vet demo``: the whole chain, end to end, on the bundled fictional demo web.

It serves the demo web on loopback, makes a fresh workspace in ``OUT/workspace``, approves
the shipped procedure with the ``loopback`` network profile (the only change, besides
pointing the search step at the demo's search service and the account step at the demo's
site manifest), adds the sample candidates with their signed authorizations, runs every case
and writes what it produced under ``OUT``. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from vetting.domain.bundled import shipped_procedure
from vetting.store.workspace import MARKER, Workspace, WorkspaceError

DEMO_COMMANDER = "Capt. Dana Whitfield (demo commander, fictional)"
DEMO_INVESTIGATOR = "Det. Sam Ortiz (demo investigator, fictional)"
DEMO_DECISIONS = Path(__file__).resolve().parent.parent / "demoweb" / "decisions-demo.yaml"


def demo_procedure(shipped: Path, web: Any, manifest_name: str) -> dict[str, Any]:
    """The shipped procedure, adapted to the demo web: loopback profile, demo search and sites."""
    data = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    settings = data["settings"]
    settings["network"] = "loopback"
    settings["search"] = {"backend": "searxng", "url": web.base_url("search")}
    # The demo web is ours: a short delay keeps the demo quick while staying polite.
    settings["rate_limit"] = {"delay_seconds": 0.05, "concurrency_per_domain": 4}
    settings["limits"] = dict(settings.get("limits", {}), timeout_seconds=10)
    for step in data["steps"]:
        if step.get("collector") == "accounts":
            step["sites"] = manifest_name
    data["description"] = ("DEMO ADAPTATION (loopback network profile, fictional demo web). "
                           + data.get("description", ""))
    return data


def fresh_folder(out: Path) -> Path:
    """``OUT/workspace``, emptied if it is a previous demo's workspace; refuse anything else."""
    ws_dir = out / "workspace"
    if ws_dir.exists():
        if not (ws_dir / MARKER).exists() and any(ws_dir.iterdir()):
            raise WorkspaceError(f"{ws_dir} exists and is not a vetting workspace; refusing to delete it")
        shutil.rmtree(ws_dir)
    out.mkdir(parents=True, exist_ok=True)
    return ws_dir


def run_demo(out: Path, console: Console | None = None) -> int:
    """Run the demo; return the exit code (0 when every case is complete and uniform)."""
    from vetting.cli.views import print_uniformity
    from vetting.demoweb import DemoWeb
    from vetting.domain.approvals import approve
    from vetting.domain.candidates import add_candidate, load_candidate_file
    from vetting.engine.runs import run_plans
    from vetting.engine.steps import open_case
    from vetting.reports.render import render_all
    from vetting.review.uniformity import check_uniformity
    from vetting.review.validation import apply_decisions_file

    console = console or Console()
    started = time.monotonic()
    ws_dir = fresh_folder(out)
    with DemoWeb() as web:
        console.print(f"demo web on loopback: {', '.join(f'{k}={v}' for k, v in sorted(web.placeholders.items()))}")
        manifest = out / "demo-sites.json"
        manifest.write_text(web.resolve(web.sites_manifest_path().read_text(encoding="utf-8")), encoding="utf-8")
        proc_path = out / "procedure-demo.yaml"
        proc_data = demo_procedure(shipped_procedure(), web, manifest.name)
        proc_path.write_text(yaml.safe_dump(proc_data, sort_keys=False, allow_unicode=True, width=100),
                             encoding="utf-8")
        ws = Workspace.open(ws_dir)
        version, _ = approve(ws, proc_path, DEMO_COMMANDER)
        console.print(f"approved {version.procedure_id} v{version.version} ({version.fingerprint}) "
                      f"by {DEMO_COMMANDER}")
        cand_dir = out / "candidates"
        cand_dir.mkdir(exist_ok=True)
        candidate_ids = []
        for source in web.candidate_files():
            resolved = cand_dir / source.name
            resolved.write_text(web.resolve(source.read_text(encoding="utf-8")), encoding="utf-8")
            cand, auth = load_candidate_file(resolved)
            if cand.authorization is not None:
                auth = source.parent / cand.authorization.file
            row = add_candidate(ws, cand, auth, DEMO_INVESTIGATOR, source=str(resolved))
            candidate_ids.append(row.id)
        console.print(f"added {len(candidate_ids)} candidates: {', '.join(candidate_ids)}")
        plans = [open_case(ws, cid, version.procedure_id, DEMO_INVESTIGATOR) for cid in candidate_ids]
        cases = run_plans(ws, plans, DEMO_INVESTIGATOR, console)
        decisions = out / "decisions-demo.yaml"
        decisions.write_text(web.resolve(DEMO_DECISIONS.read_text(encoding="utf-8")), encoding="utf-8")
    applied = apply_decisions_file(ws, decisions)
    console.print(f"applied {len(applied)} demo decisions from {decisions} (labelled DEMO: fictional reviewers)")
    report = check_uniformity(ws, version.procedure_id)
    print_uniformity(console, report)
    print_collection_summary(console, ws, [c.id for c in cases])
    print_review_summary(console, ws, [c.id for c in cases])
    reports = render_all(ws, out / "reports", DEMO_COMMANDER)
    console.print(f"wrote {len(reports)} reports (HTML and PDF) under {out / 'reports'}")
    from vetting.reports.evidence_export import export_case

    for case in cases:  # one signed evidence package per case (docs/evidence.md)
        export_case(ws, case.id, out / "evidence" / f"{case.id}.wacz", DEMO_INVESTIGATOR)
    console.print(f"wrote {len(cases)} evidence packages (signed WACZ) under {out / 'evidence'}")
    verified = ws.verify()
    console.print(f"audit log: {verified.summary()}")
    complete = all(c.status == "complete" for c in cases)
    console.print(f"\nworkspace: {ws_dir}\nprocedure as approved: {proc_path}\n"
                  f"candidates: {cand_dir}\ndecisions: {decisions}\nreports: {out / 'reports'}\n"
                  f"evidence packages: {out / 'evidence'}\n"
                  f"demo took {time.monotonic() - started:.1f} s")
    return 0 if complete and report.uniform and verified.ok else 1


def print_collection_summary(console: Console, ws: Workspace, case_ids: list[str]) -> None:
    """Items per case and outcome: what was captured, and what could not be reached and why."""
    from sqlmodel import select

    from vetting.domain.models import Item

    table = Table(title="collected items by outcome")
    table.add_column("case")
    table.add_column("items", justify="right")
    table.add_column("outcomes")
    with ws.session() as s:
        for cid in case_ids:
            items = list(s.exec(select(Item).where(Item.case_id == cid)))
            outcomes = Counter(f"{i.kind}:{i.outcome}" for i in items)
            table.add_row(cid, str(len(items)), ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    console.print(table)


def print_review_summary(console: Console, ws: Workspace, case_ids: list[str]) -> None:
    """Screened items per identity level and per decision in force, per case."""
    from sqlmodel import select

    from vetting.domain.models import Assessment
    from vetting.review.validation import concurrence_for, current_decision

    table = Table(title="screened items: identity level and decision")
    for col in ("case", "identity levels", "decisions"):
        table.add_column(col)
    with ws.session() as s:
        for cid in case_ids:
            levels: Counter[str] = Counter()
            decided: Counter[str] = Counter()
            for a in s.exec(select(Assessment).where(Assessment.case_id == cid)):
                levels[a.identity_level] += 1
                d = current_decision(ws, a.item_id)
                if d is None:
                    decided["pending"] += 1
                elif d.adverse:
                    concurred = concurrence_for(ws, d.id) is not None
                    decided["validated+concurred" if concurred else "validated, awaiting concurrence"] += 1
                else:
                    decided[d.decision] += 1
            table.add_row(cid, ", ".join(f"{k}={v}" for k, v in sorted(levels.items())),
                          ", ".join(f"{k}={v}" for k, v in sorted(decided.items())))
    console.print(table)
