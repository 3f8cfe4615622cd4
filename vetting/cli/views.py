"""Terminal views (rich) of the toolkit's reports: kept apart so the CLI stays thin."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vetting.domain.yamlsource import clip
from vetting.review.uniformity import UniformityReport
from vetting.screening.safetext import visible


def readable(value: object) -> str:
    """Collected text for the terminal: controls made visible (never interpreted: an ESC from a
    page cannot drive the terminal, a U+202E cannot reverse a URL) and rich markup escaped."""
    return escape(visible(value))


STATE_STYLE = {"completed": "green", "no_input": "cyan", "failed": "red", "cancelled": "red", "running": "yellow",
               "pending": "dim"}


def print_uniformity(console: Console, report: UniformityReport) -> None:
    if not report.groups:
        console.print(f"no approved version of procedure {report.procedure_id!r}", markup=False)
    for group in report.groups:
        table = Table(title=escape(f"{report.procedure_id} v{group.version} {group.fingerprint[:23]}… "
                                   f"(approved by {clip(group.approved_by)})"))
        table.add_column("candidate")
        for i, step in enumerate(group.steps, 1):
            table.add_column(f"{i}. {step}")
        table.add_column("case")
        for row in group.cases:
            cells = []
            for step in group.steps:
                state = row.steps.get(step, "missing")
                cells.append(f"[{STATE_STYLE.get(state, 'bold red')}]{state}[/]")
            table.add_row(readable(row.candidate_id), *cells, row.status)
        console.print(table)
    if report.deviations:
        console.print(f"[bold red]{len(report.deviations)} deviation(s):[/]")
        for d in report.deviations:
            console.print(f"  - {visible(d)}", markup=False)
    else:
        console.print("[green]uniform[/]: every case ran the procedure's steps in order")


def print_timeline(console: Console, events: list, reveal=lambda v: v or "") -> None:  # type: ignore[no-untyped-def]
    """A case's audit events, one line each: what happened, when, by whom.

    ``reveal`` reads committed personal values back (``vetting.store.personal.Revealer``).
    """
    table = Table("seq", "time (UTC)", "actor", "action", "subject", "detail")
    for e in events:
        p = e.payload
        detail = ", ".join(f"{k}={reveal(p[k]) if isinstance(p[k], str) else p[k]}"
                           for k in ("status", "outcome", "reason", "position", "attempt")
                           if k in p and p[k] not in (None, ""))
        table.add_row(str(e.seq), e.time[:19], readable(e.actor), e.action, readable(reveal(e.subject)[:60]),
                      readable(detail[:80]))
    console.print(table)


def print_review(console: Console, ws, case_id: str, pending_only: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The reviewer's queue: each item's identity evidence, leads and screenshot, one panel each."""
    import json

    from rich.panel import Panel

    from vetting.domain.models import Assessment
    from vetting.engine.reached import describe_chain
    from vetting.review.validation import current_decision, decision_reason, reviewable_items, verify_item_evidence

    items = reviewable_items(ws, case_id)
    shown = 0
    for item in items:
        decision = current_decision(ws, item.id)
        if pending_only and decision is not None:
            continue
        with ws.session() as s:
            a = s.get(Assessment, item.id)
        lines = [f"[bold]{readable(item.title or item.url)}[/]", f"url: {readable(item.final_url or item.url)}",
                 f"kind: {item.kind}   captured: {item.captured_at:%Y-%m-%d %H:%M}Z",
                 f"reached: {readable(describe_chain(item, lambda i: _get_item(ws, i)))}"]
        if a is None:
            lines.append("[yellow]not screened yet[/]")
        else:
            matches = json.loads(a.matches_json)
            lines.append(f"identity: [bold]{a.identity_level}[/] from "
                         + (", ".join(readable(_match_words(m)) for m in matches) or "nothing"))
            for c in json.loads(a.contradictions_json):
                lines.append(f"  [red]contradiction[/]: {readable(c['kind'])} {readable(repr(c['value']))} "
                             f"(expected {readable(c['expected'])})")
            for f in json.loads(a.flags_json):
                lines.append(f"  lead: {f['category_id']} ({f['policy']}) rule {f['rule_id']}: "
                             f"\u201c{readable(f['excerpt'][:160])}\u201d")
            if a.outside_lookback:
                lines.append("  [dim]older than the lookback window: stays out of findings[/]")
            if a.undated:
                lines.append("  [yellow]no date on the item: check it is within the lookback window[/]")
            if a.truncated:
                lines.append("  [yellow]very long item: only its first part was screened; read the rest[/]")
        damage = verify_item_evidence(ws, item)
        if damage:
            lines.append("[bold red]DAMAGED EVIDENCE[/]: the stored evidence no longer verifies; it cannot be "
                         "validated or reported until this is resolved ('vet audit verify'):")
            lines.extend(f"  [red]- {escape(problem)}[/]" for problem in damage)
        shots = [x["path"] for x in item.artifacts() if x["kind"] == "screenshot"]
        if shots:
            lines.append(f"screenshot: {ws.evidence_path(shots[0])}")
        lines += _markable_images(ws, item)
        if decision is not None:
            lines.append(f"decision {decision.id}: {decision.decision} by {readable(decision.decided_by)}: "
                         f"{readable(decision_reason(ws, decision))}")
        console.print(Panel("\n".join(lines), title=readable(item.id), expand=True))
        shown += 1
    console.print(f"{shown} item(s) shown of {len(items)} collected in {case_id}", markup=False)


def _get_item(ws, item_id: str):  # type: ignore[no-untyped-def]
    from vetting.domain.models import Item

    with ws.session() as s:
        return s.get(Item, item_id)


def _match_words(match: dict) -> str:
    """One identity match in words: a cross-link names the disclosed profile linking here."""
    if match["where"] == "linked_from_disclosed":
        return f"cross_link (the disclosed profile {match['value']} links to this page)"
    return f"{match['kind']}={match['value']!r} ({match['where']})"


def _markable_images(ws, item) -> list[str]:  # type: ignore[no-untyped-def]
    """The page's pictures, covered for hiring staff unless one is marked as the evidence."""
    from vetting.review.evidence_images import media_addresses

    arts = item.artifacts()
    dom = next((a for a in arts if a["kind"] == "dom"), None) or next((a for a in arts if a["kind"] == "response"),
                                                                     None)
    if dom is None:
        return []
    html = ws.read_evidence(dom["path"], dom["sha256"]).decode("utf-8", errors="replace")
    found = media_addresses(html, item.final_url or item.url)
    if not found:
        return []
    return ["pictures (covered for hiring staff unless marked: vet validate ... --evidence-image ADDRESS):"] + [
        f"  {readable(u)}" for u in found]


def print_cases(console: Console, ws, candidate_id: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """The cases table: where an investigator finds the CASE ids the other commands take."""
    from sqlmodel import select

    from vetting.domain.models import Case, ProcedureVersion
    from vetting.engine.steps import step_runs
    from vetting.review.validation import current_decision, reviewable_items

    table = Table("case", "candidate", "procedure", "status", "steps", "items to decide")
    with ws.session() as s:
        query = select(Case).order_by(Case.candidate_id, Case.opened_at)
        if candidate_id:
            query = query.where(Case.candidate_id == candidate_id)
        cases = list(s.exec(query))
        versions = {v.fingerprint: v for v in s.exec(select(ProcedureVersion))}
    for case in cases:
        runs = step_runs(ws, case.id)
        states = ", ".join(f"{r.status}" for r in runs)
        pending = sum(1 for i in reviewable_items(ws, case.id) if current_decision(ws, i.id) is None)
        version = versions[case.fingerprint]
        table.add_row(readable(case.id), readable(case.candidate_id), f"{version.procedure_id} v{version.version}",
                      case.status,
                      states, str(pending))
    console.print(table)
    if not cases:
        console.print("no cases" + (f" for candidate {candidate_id!r}" if candidate_id else ""), markup=False)
