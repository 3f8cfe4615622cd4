"""The three reports in the browser, and the hiring staff's home: the reports released to them.

Each report is the same document ``vet report`` writes (:mod:`vetting.services.reports`), made
in a temporary folder and sent as it is: one report format for the CLI and the browser, and
each rendering is its own ``report.rendered`` audit event. The report's HTML carries inline
styles and its own CSP; it is served with :data:`vetting.web.security.SANDBOX_CSP` (a unique
origin, no script, no request but its own embedded pictures) and ``nosniff``, so even a report
quoting a captured page cannot run anything in the application's origin. ``?format=pdf`` is
the PDF, as an attachment.

A hiring account reads a findings report only while it is released to it (the gate checks
``report.findings`` with the scope "reports released to them"); that report shows only the
redacted pictures (:mod:`vetting.reports.redaction`), never a screenshot.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from starlette.responses import Response

from vetting.web.routes import BadRequest, Ctx, Page
from vetting.web.security import SANDBOX_CSP

MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _format(ctx: Ctx) -> str:
    fmt = ctx.request.query_params.get("format", "html")
    if fmt not in MEDIA:
        raise BadRequest("format: html or pdf")
    return fmt


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120] or "report"


def _serve(ctx: Ctx, stem: str, render: Callable[[str, Path], Path]) -> Response:
    """Render into a temporary folder and send the bytes: inline HTML under the sandbox CSP,
    or the PDF as a download."""
    from vetting.errors import DamagedEvidence, UnknownName
    from vetting.web.routes import error_page

    fmt = _format(ctx)
    with tempfile.TemporaryDirectory(prefix="vet-web-report-") as tmp:
        try:
            written = render(fmt, Path(tmp) / f"{_safe(stem)}.{fmt}")
        except UnknownName:
            raise  # a LookupError too: the gate's 404
        except DamagedEvidence as exc:
            return error_page(ctx.request, 409, "Damaged evidence", [str(exc)], ctx.visitor)
        except LookupError as exc:  # the report disagrees with the audit log: never sent
            return error_page(ctx.request, 409, "The report cannot be made", [str(exc)], ctx.visitor)
        data = written.read_bytes()
    disposition = "inline" if fmt == "html" else "attachment"
    return Response(data, media_type=MEDIA[fmt], headers={
        "content-security-policy": SANDBOX_CSP, "x-content-type-options": "nosniff",
        "content-disposition": f'{disposition}; filename="{_safe(stem)}.{fmt}"',
        "cache-control": "private, no-store", "cross-origin-resource-policy": "same-origin"})


def findings(ctx: Ctx) -> Response:
    from vetting.services.reports import render_findings

    case_id = ctx.params["case"]
    return _serve(ctx, f"findings-{case_id}",
                  lambda fmt, out: render_findings(ctx.ws, ctx.account, case_id, fmt, out))


def process(ctx: Ctx) -> Response:
    """The written process of the latest approved version, or of ``?fingerprint=``."""
    from vetting.services.reports import render_process

    procedure = ctx.params["procedure"]
    fingerprint = ctx.request.query_params.get("fingerprint", "")
    if len(fingerprint) > 100 or not re.fullmatch(r"(sha256:[0-9a-f]{64})?", fingerprint):
        raise BadRequest("fingerprint: sha256: and 64 hexadecimal digits")
    subject = f"{procedure}@{fingerprint}" if fingerprint else procedure
    return _serve(ctx, f"process-{procedure}", lambda fmt, out: render_process(ctx.ws, ctx.account, subject, fmt, out))


def audit_report(ctx: Ctx) -> Response:
    from vetting.services.reports import render_audit

    return _serve(ctx, "audit", lambda fmt, out: render_audit(ctx.ws, ctx.account, None, fmt, out))


def released(ctx: Ctx) -> Response:
    """The hiring staff's home: the findings reports released to this account now, and nothing else."""
    from vetting.services.reports import released_reports

    return ctx.render("web/released.html", rows=released_reports(ctx.ws, ctx.account))


PAGES = [
    Page("/released", released, "report.released", name="released"),
    Page("/cases/{case}/report", findings, "report.findings", target="case", name="findings_report"),
    Page("/reports/process/{procedure}", process, "report.process", name="process_report"),
    Page("/reports/audit", audit_report, "report.audit", name="audit_report"),
]
