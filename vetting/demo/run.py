"""``vet demo``: the whole chain, end to end, on the bundled fictional demo web.

It serves the demo web on loopback, makes a fresh workspace in ``OUT/workspace`` with
fictional accounts of every role (``OUT/accounts.txt``, 0600) and acts as them through the
service layer, as people at the CLI would. The commander approves the shipped procedure with
the ``loopback`` network profile (the only change, besides pointing the search step at the
demo's search service and the account step at the demo's site manifest); an investigator adds
the sample candidates with their signed authorizations; the automation account runs every
case; the supervisor assigns them; each investigator applies their decisions; the supervisor
concurs; the commander releases one findings report to the hiring account, which renders it;
then the records acts (vetting/demo/records.py): the candidate's notice and response beside a
finding, a legal hold on one case, a disposal run two years on that disposes of one case and is
refused the held one. Everything produced is written under ``OUT``. Nothing leaves the loopback interface.
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

#: The demo accounts (vetting/demo/accounts.py) that take each part of the chain.
DEMO_COMMANDER, DEMO_SUPERVISOR, DEMO_RUNNER, DEMO_HIRING = "dwhitfield", "amoreno", "demo-bot", "hjones"
DEMO_DIR = Path(__file__).resolve().parent.parent / "demoweb"
#: Each investigator's decisions file (the cases in it are assigned to them).
DEMO_DECISIONS = {"sortiz": "decisions-demo-sortiz.yaml", "kosei": "decisions-demo-kosei.yaml"}
DEMO_CONCURRENCES = DEMO_DIR / "concurrences-demo.yaml"
#: The candidate whose findings report is released to the hiring account.
DEMO_RELEASED = "jordan-hale"


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
    """Run the demo as its accounts; return the exit code (0 when every case is complete and uniform)."""
    from vetting.cli.views import print_uniformity
    from vetting.demo.accounts import create_demo_people, fresh_account, write_accounts_file
    from vetting.demoweb import DemoWeb
    from vetting.domain.candidates import load_candidate_file
    from vetting.services import candidates, cases, procedures, reports, review

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
        people = create_demo_people(ws)
        accounts_file = write_accounts_file(out / "accounts.txt", people, ws_dir)
        console.print(f"demo accounts (fictional): {', '.join(f'{p.login} ({p.role})' for p in people.values())}; "
                      f"their passwords and TOTP secrets: {accounts_file} (0600)")

        def who(login: str):  # type: ignore[no-untyped-def] - each act checks the person's session anew
            return fresh_account(ws, people[login])

        version, _ = procedures.approve_procedure(ws, who(DEMO_COMMANDER), proc_path)
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
            row = candidates.add_candidate(ws, who("sortiz"), cand, auth, source=str(resolved))
            candidate_ids.append(row.id)
        console.print(f"added {len(candidate_ids)} candidates as sortiz: {', '.join(candidate_ids)}")
        run = cases.run_cases(ws, who(DEMO_RUNNER), candidate_ids, version.procedure_id, console=console)
        files = {login: out / name for login, name in DEMO_DECISIONS.items()}
        for path in files.values():
            path.write_text(web.resolve((DEMO_DIR / path.name).read_text(encoding="utf-8")), encoding="utf-8")
        concurrences = yaml.safe_load(web.resolve(DEMO_CONCURRENCES.read_text(encoding="utf-8")))["concurrences"]
    # The automation account's cases are nobody's until the supervisor assigns them: each
    # investigator gets the cases their decisions file decides; sortiz, the rest.
    by_case = {c.candidate_id: c.id for c in run}
    owner = {d["candidate"]: login for login, path in files.items()
             for d in yaml.safe_load(path.read_text(encoding="utf-8"))["decisions"]}
    for candidate_id, case_id in sorted(by_case.items()):
        cases.assign_case(ws, who(DEMO_SUPERVISOR), case_id, owner.get(candidate_id, "sortiz"))
    applied = [row for login, path in files.items() for row in review.apply_decisions_file(ws, who(login), path)]
    console.print(f"applied {len(applied)} demo decisions as {', '.join(files)} (fictional reviewers)")
    for entry in concurrences:
        decision = _decision_at(ws, applied, entry["candidate"], entry["url"])
        review.concur(ws, who(DEMO_SUPERVISOR), decision, entry["reason"])
    console.print(f"{len(concurrences)} concurrences by {DEMO_SUPERVISOR}")
    report = procedures.check_uniformity(ws, who(DEMO_COMMANDER), version.procedure_id)
    print_uniformity(console, report)
    print_collection_summary(console, ws, [c.id for c in run])
    print_review_summary(console, ws, [c.id for c in run])
    released = by_case[DEMO_RELEASED]
    reports.release_report(ws, who(DEMO_COMMANDER), released, DEMO_HIRING)
    written = reports.render_all(ws, who(DEMO_COMMANDER), out / "reports")
    console.print(f"wrote {len(written)} reports (HTML and PDF) under {out / 'reports'} as {DEMO_COMMANDER}")
    hiring_dir = out / f"released-to-{DEMO_HIRING}"  # what the hiring account itself rendered
    hiring_dir.mkdir(exist_ok=True)
    hiring_copy = reports.render_findings(ws, who(DEMO_HIRING), released, "html",
                                          hiring_dir / f"findings-{released}.html")
    console.print(f"released the findings of {released} to {DEMO_HIRING}, who rendered {hiring_copy}")
    for case in run:  # one signed evidence package per case (docs/evidence.md)
        reports.export_evidence(ws, who(DEMO_COMMANDER), case.id, out / "evidence" / f"{case.id}.wacz")
    console.print(f"wrote {len(run)} evidence packages (signed WACZ) under {out / 'evidence'}")
    # Records over time (docs/records.md): a response beside a finding, a legal hold, a disposal.
    from vetting.demo.records import demo_records, retention_note

    # Riley Chen's case (the hostile links the guard refused) is held; Quinn Alvarez, not hired, is disposed of.
    demo_records(ws, who, out=out, console=console, hold="riley-chen", dispose="quinn-alvarez")
    console.print(retention_note(ws), markup=False)
    verified = ws.verify()
    console.print(f"audit log: {verified.summary()}")
    complete = all(c.status == "complete" for c in run)
    console.print(f"\nworkspace: {ws_dir}\naccounts: {accounts_file}\nprocedure as approved: {proc_path}\n"
                  f"candidates: {cand_dir}\ndecisions: {', '.join(str(f) for f in files.values())}\n"
                  f"reports: {out / 'reports'}\nevidence packages: {out / 'evidence'}\n"
                  f"demo took {time.monotonic() - started:.1f} s")
    return 0 if complete and report.uniform and verified.ok else 1


def _decision_at(ws: Workspace, applied: list[Any], candidate_id: str, url: str) -> int:
    """The id of the demo decision on ``candidate_id``'s item at ``url``."""
    from vetting.review.validation import resolve_item

    item_id = resolve_item(ws, candidate_id, url)
    return next(int(d.id) for d in applied if d.item_id == item_id)


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
