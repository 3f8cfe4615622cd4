"""The records part of the demo (issue 17): one finding with the candidate's response, one case on
legal hold, one disposed case; every act by the demo account whose role takes it.

Called by ``vetting.demo.run.run_demo`` after the reports are rendered and the evidence packages
exported (the disposed case's package in ``out/evidence`` is then destroyed too), before the
final ``ws.verify()``::

    from vetting.demo.records import demo_records, retention_note
    done = demo_records(ws, who, out=out, console=console)
    console.print(retention_note(ws))   # in the closing note: the retention periods and their legal basis

The disposal runs "as of" two years and a day after today (the demo's records are new, and the
shortest default period is 730 days): only code chooses a clock (vetting.people.clock), and the
certificate states the date it applied the rule at (``as_of``). The candidate disposed of loses
their findings reports and every audit report rendered so far (they named them); the audit
report and the responding candidate's findings report are rendered again, showing the
certificate, the hold and the response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from vetting.people.clock import system_clock
from vetting.store.workspace import Workspace

RESPONSE = ("Fictional demo response: the photo with the rifle was taken at a licensed range during a "
            "hunter-safety course; the certificate is attached.")
ATTACHMENT = b"%PDF-1.4\n% Fictional demo attachment: hunter-safety course certificate.\n%%EOF\n"
HOLD_REASON = "Fictional demo: EEOC charge 000-2026-00001 names this hiring process"
DEMO_AHEAD = timedelta(days=731)


@dataclass
class RecordsDemo:
    responded_case: str = ""
    response_sha256: str = ""
    held_case: str = ""
    disposed_case: str = ""
    certificates: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _case_of(ws: Workspace, candidate_id: str) -> str:
    from sqlmodel import select

    from vetting.domain.models import Case

    with ws.session() as s:
        case = s.exec(select(Case).where(Case.candidate_id == candidate_id).order_by(Case.opened_at)).first()
    if case is None:
        raise LookupError(f"the demo has no case of {candidate_id}")
    return case.id


def demo_records(ws: Workspace, who: Callable[[str], Any], *, respond: str = "jordan-hale",
                 hold: str = "taylor-brooks", dispose: str = "riley-chen", out: Path | None = None,
                 console: Any = None, formats: tuple[str, ...] = ("html", "pdf")) -> RecordsDemo:
    """Notice and response on ``respond``'s first finding (by its assigned investigator), a legal
    hold on ``hold``'s case (dwhitfield), both ``hold`` and ``dispose`` recorded not hired
    (amoreno), then a disposal run (dwhitfield) two years on: ``dispose`` goes, ``hold`` stays."""
    from vetting.people.assignments import assigned_investigators
    from vetting.reports.findings import findings_data
    from vetting.services import records, reports

    say = console.print if console is not None else (lambda *_a, **_k: None)
    done = RecordsDemo()
    # 1. the candidate's notice and response, beside the first finding
    case = done.responded_case = _case_of(ws, respond)
    investigator = (assigned_investigators(ws, case) or ["sortiz"])[0]
    today = system_clock().date()
    records.record_notice(ws, who(investigator), case, today, "letter by certified mail (fictional)")
    finding = next(iter(findings_data(ws, case).findings), None)
    attachments = []
    if out is not None:
        attachment = out / "records-demo-attachment.pdf"
        attachment.write_bytes(ATTACHMENT)
        attachments.append(attachment)
    row = records.record_response(ws, who(investigator), case, RESPONSE, attachments,
                                  item_id=finding.item_id if finding else None)
    done.response_sha256 = row.document_sha256
    say(f"{investigator} recorded the notice to {respond} and their response"
        f"{' to finding ' + finding.item_id if finding else ''} (sha256 {row.document_sha256[:16]}…)")
    # 2. a legal hold
    done.held_case = _case_of(ws, hold)
    records.place_hold(ws, who("dwhitfield"), done.held_case, HOLD_REASON)
    say(f"dwhitfield placed case {done.held_case} ({hold}) on legal hold")
    # 3. the hiring outcomes, and a disposal run two years on
    for candidate in (hold, dispose):
        records.record_outcome(ws, who("amoreno"), candidate, "not-hired")
    done.disposed_case = _case_of(ws, dispose)
    ahead = system_clock() + DEMO_AHEAD
    run = records.dispose_due(ws, who("dwhitfield"), now=lambda: ahead)
    done.certificates = [seq for d in run.disposed for seq in d.certificates]
    done.refused = [why for _, why in run.refused]
    say(f"dwhitfield ran the disposal as of {ahead.date()}: disposed of "
        + (", ".join(f"{d.candidate_id} ({', '.join(d.cases)})" for d in run.disposed) or "nothing")
        + (f"; refused {len(run.refused)} on legal hold" if run.refused else ""))
    if out is not None:
        _destroy_demo_exports(out, run, say)
        for d in run.disposed:  # the demo's own copy of the candidate's input file, outside the workspace
            source = out / "candidates" / f"{d.candidate_id}.yaml"
            if source.is_file():
                source.unlink()
                say(f"destroyed the demo's copy of {d.candidate_id}'s candidate file {source.name}")
        folder = out / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            done.written.append(reports.render_findings(ws, who("dwhitfield"), case, fmt,
                                                        folder / f"findings-{case}.{fmt}"))
            done.written.append(reports.render_audit(ws, who("dwhitfield"), None, fmt, folder / f"audit.{fmt}"))
        say(f"rendered again: {', '.join(p.name for p in done.written)} (the response; the certificate and hold)")
    return done


def _destroy_demo_exports(out: Path, run: Any, say: Callable[..., Any]) -> None:
    """The demo's own copies of the disposed cases' evidence packages (``out/evidence``), which the
    certificate names as not reached: destroyed where they were "sent", if they still hash right."""
    import hashlib

    for d in run.disposed:
        for x in d.not_reached:
            path = out / "evidence" / str(x.get("file"))
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == x.get("sha256"):
                path.unlink()
                say(f"destroyed the demo's copy of the exported package {path.name} (named in the certificate)")


def retention_note(ws: Workspace) -> str:
    """The closing note's lines: each retention period in force in ``ws`` and its legal basis."""
    from vetting.records.retention import BASIS, load_settings

    s = load_settings(ws)
    lines = [f"retention ({'defaults' if s.source == 'defaults' else s.source}; docs/records.md):"]
    for kind in ("not_hired_days", "hired_days", "evidence_days", "reports_days"):
        days = getattr(s, kind)
        lines.append(f"  {kind}: {'kept' if days is None else f'{days} days'}: {BASIS[kind]}")
    lines.append(f"  notice.response_days: {s.response_days} days: FCRA 15 U.S.C. 1681b(b)(3) pre-adverse-action "
                 "notice (FTC staff: about five business days is reasonable)")
    lines.append("  a case on legal hold is never disposed of (29 CFR 1602.14: kept until final disposition of a "
                 "charge or action)")
    if s.basis:
        lines.append(f"  agency schedule: {s.basis}")
    return "\n".join(lines)
