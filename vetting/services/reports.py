"""Reports and exports: the three reports, releasing a findings report, the audit and evidence exports.

Hiring staff render a findings report only while it is released to them by name
(``vet report release``); the written-process and audit reports, the audit log and the
evidence are for casework roles. Every file written is an audit event whose actor is the
account that asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vetting.people.permissions import authorize
from vetting.services.registry import service

if TYPE_CHECKING:
    from vetting.people.models import Account, ReportRelease
    from vetting.store.workspace import Workspace

#: The act of rendering each kind of report.
REPORT_ACTS = {"findings": "report.findings", "process": "report.process", "audit": "report.audit"}


def _authorize_report(ws: Workspace, account: Account, kind: str, subject: str | None) -> None:
    from vetting.store.lookup import require_case, require_procedure

    if kind not in REPORT_ACTS:
        raise ValueError(f"no report kind {kind!r}")
    if kind == "findings":
        assert subject is not None
        authorize(ws, account, "report.findings", subject, subject=subject)
        require_case(ws, subject)
        return
    authorize(ws, account, REPORT_ACTS[kind], subject=subject)
    if subject is not None:
        procedure_id, _, fingerprint = subject.partition("@")
        require_procedure(ws, procedure_id, fingerprint or None)


@service("report.findings")
def render_findings(ws: Workspace, account: Account, case_id: str, fmt: str, out: Path, *, paper: str = "A4",
                    allow_damaged: bool = False) -> Path:
    """One case's findings report (for hiring staff: only when released to them)."""
    from vetting.reports.render import render_report

    _authorize_report(ws, account, "findings", case_id)
    return render_report(ws, "findings", case_id, fmt, out, account.actor, paper=paper, allow_damaged=allow_damaged)


@service("report.process")
def render_process(ws: Workspace, account: Account, procedure: str, fmt: str, out: Path, *,
                   paper: str = "A4") -> Path:
    """The written process (``ID`` or ``ID@FINGERPRINT``) as a document with its history."""
    from vetting.reports.render import render_report

    _authorize_report(ws, account, "process", procedure)
    return render_report(ws, "process", procedure, fmt, out, account.actor, paper=paper)


@service("report.audit")
def render_audit(ws: Workspace, account: Account, procedure: str | None, fmt: str, out: Path, *,
                 paper: str = "A4") -> Path:
    """The audit and uniformity report (of one procedure, or all)."""
    from vetting.reports.render import render_report

    _authorize_report(ws, account, "audit", procedure)
    return render_report(ws, "audit", procedure, fmt, out, account.actor, paper=paper)


@service("report.audit")
def render_all(ws: Workspace, account: Account, out_dir: Path, formats: Sequence[str] | None = None) -> list[Path]:
    """Every report of the workspace (every findings report, every process version, the audit)."""
    from sqlmodel import select

    from vetting.domain.models import Case
    from vetting.reports.render import FORMATS
    from vetting.reports.render import render_all as render

    authorize(ws, account, "report.audit")
    authorize(ws, account, "report.process")
    with ws.session() as s:
        case_ids = list(s.exec(select(Case.id)))
    for case_id in case_ids:
        authorize(ws, account, "report.findings", case_id)
    return render(ws, out_dir, account.actor, formats or FORMATS)


@service("report.release")
def release_report(ws: Workspace, account: Account, case_id: str, login: str) -> ReportRelease:
    """Release a case's findings report to one named hiring account (an audited act)."""
    from vetting.people.assignments import release_report as release

    return release(ws, case_id, login, actor=account)


@service("report.revoke")
def revoke_release(ws: Workspace, account: Account, case_id: str, login: str) -> ReportRelease:
    from vetting.people.assignments import revoke_release as revoke

    return revoke(ws, case_id, login, actor=account)


@service("report.released")
def released_reports(ws: Workspace, account: Account) -> list[ReportRelease]:
    """The findings reports released to the account now (not revoked), newest release first:
    what a hiring account may read, and all it may read."""
    from sqlmodel import select

    from vetting.people.models import ReportRelease

    authorize(ws, account, "report.released")
    with ws.session() as s:
        return list(s.exec(select(ReportRelease).where(ReportRelease.login == account.login,
                                                       ReportRelease.revoked_at == None)  # noqa: E711
                           .order_by(ReportRelease.released_at.desc(), ReportRelease.id.desc())))  # type: ignore[attr-defined, union-attr]


@service("report.verify")
def verify_receipts(ws: Workspace, account: Account, report: Path) -> Any:
    """Re-check a findings report's receipts against the log (hiring staff may check what they hold)."""
    from vetting.reports.render import verify_receipts as verify

    authorize(ws, account, "report.verify", subject=report.name)
    return verify(ws, report)


@service("audit.verify")
def verify_audit(ws: Workspace, account: Account, case_id: str | None = None) -> tuple[Any, list[Any]]:
    """The log's verification (and the evidence's re-hash) and the decision tables' agreement with it."""
    from vetting.store.log_index import check_index
    from vetting.store.lookup import require_case

    authorize(ws, account, "audit.verify", subject=case_id)
    if case_id is not None:
        require_case(ws, case_id)
    return ws.verify(case_id), check_index(ws)


@service("audit.export")
def export_audit(ws: Workspace, account: Account, out: Path) -> Any:
    """Write the log for third-party verification; the export is then an ``audit.exported`` event."""
    from audit.export import export_log

    authorize(ws, account, "audit.export", subject=str(out))
    result = export_log(ws.engine, ws.key_dir, out)
    # Recorded after the export it describes, with the root the export carries.
    root = result.root.hex() if isinstance(result.root, bytes) else str(result.root)
    ws.record("audit.exported", actor=account.actor, payload={"out": str(out), "tree_size": result.tree_size,
                                                              "root": root})
    ws.audit.checkpoint()
    return result


@service("evidence.export")
def export_evidence(ws: Workspace, account: Account, case_id: str, out: Path) -> Any:
    """A case's evidence as a signed WACZ with its audit events and their inclusion proofs."""
    from vetting.reports.evidence_export import export_case
    from vetting.store.lookup import require_case

    authorize(ws, account, "evidence.export", case_id, subject=out.name)
    require_case(ws, case_id)
    return export_case(ws, case_id, out, account.actor)
