"""Rendering the three reports: data -> HTML (Jinja2), HTML -> PDF (Chromium via Playwright).

Collected content is hostile. The HTML is safe by construction, not by filtering:

* autoescape is on for every template, and no template marks collected content ``|safe``;
  the one JSON block (receipts) goes through Jinja's ``tojson``, which escapes ``<``, ``>``,
  ``&`` and ``'``, inside ``<script type="application/json">``, a data block that never runs;
* a Content-Security-Policy meta forbids every script, every network fetch and every
  external style: only inline CSS and ``data:`` images (the embedded screenshots) load;
* collected URLs are shown as text, never as links: the reader of a hiring report should not
  visit the candidate's pages, which would also reveal the agency's interest;
* PDFs are printed by the same Chromium with JavaScript disabled and every request aborted.

Rendering is deterministic: the same data gives the same bytes, apart from the generation
time, which appears in exactly one place in the HTML (and is also the PDF's creation date).
Each written report is an audit event (``report.rendered``) carrying its sha256.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlmodel import select

from vetting.domain.bundled import templates_dir
from vetting.domain.models import Case, ProcedureVersion
from vetting.errors import DamagedEvidence
from vetting.reports.data import (
    AuditReport,
    FindingsReport,
    ProcessReport,
    audit_report,
    findings_report,
    process_report,
)
from vetting.reports.receipts import ReceiptCheck, read_receipts, verify_receipts
from vetting.screening.safetext import visible
from vetting.store.files import write_atomic
from vetting.store.workspace import Workspace

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
FORMATS = ("html", "pdf")
KINDS = ("findings", "process", "audit")
PAPERS = ("A4", "Letter")
Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


# -- HTML -----------------------------------------------------------------------------------
def _utc(value: datetime | str | None) -> str:
    """One way of writing a time everywhere: ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)  # 3.11 reads the "Z" suffix
    if value.tzinfo is None:  # SQLite hands back naive datetimes; the toolkit stores UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _shown(value: Any) -> Any:
    """Every printed value passes :func:`vetting.screening.safetext.visible`: bidi and control characters
    in collected text, titles and URLs are shown as ``⟨U+202E⟩``, never interpreted, and no raw
    ESC byte reaches a report. Markup stays markup (the tokens hold no HTML-special character)."""
    if isinstance(value, int | float) or value is None:
        return value
    if hasattr(value, "__html__"):
        return Markup(visible(value.__html__()))
    return visible(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The one Jinja environment: autoescape everywhere, undefined names are errors, and every
    printed value made visible (``finalize``)."""
    env = Environment(loader=FileSystemLoader(str(templates_dir())),
                      autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True,
                                                   default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=_shown)
    env.filters["visible"] = visible
    env.filters["utc"] = _utc
    env.filters["humanize"] = lambda s: str(s).replace("_", " ")
    env.globals["CSP"] = CSP
    return env


def render_template(name: str, generated_at: datetime, **context: Any) -> str:
    return environment().get_template(name).render(generated_at=_utc(generated_at), **context)


def findings_html(report: FindingsReport, generated_at: datetime) -> str:
    return render_template("findings.html", generated_at, r=report, d=report.data)


def process_html(report: ProcessReport, generated_at: datetime) -> str:
    return render_template("process.html", generated_at, r=report, p=report.procedure, v=report.version)


def audit_html(report: AuditReport, generated_at: datetime) -> str:
    return render_template("audit.html", generated_at, r=report)


# -- PDF ------------------------------------------------------------------------------------
_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[+-]\d{2}'\d{2}'\)")
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555;">'
          'page <span class="pageNumber"></span> of <span class="totalPages"></span></div>')


def _pin_pdf_dates(pdf: bytes, generated_at: datetime) -> bytes:
    """Chromium stamps the wall clock into the PDF; put the generation time there instead.

    The replacement has the same length, so the cross-reference offsets stay valid.
    """
    stamp = generated_at.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'").encode()
    return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (" + stamp + b")", pdf)


class PdfPrinter:
    """One headless Chromium printing many documents (launching it is the slow part)."""

    def __init__(self, paper: str = "A4") -> None:
        self.paper = paper
        self._pw: Any = None
        self._browser: Any = None

    def __enter__(self) -> Self:
        from playwright.sync_api import sync_playwright

        from spiders.browser import LAUNCH_ARGS, find_chromium

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=find_chromium(), args=list(LAUNCH_ARGS),
                                                     headless=True)
        except Exception:
            self._pw.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._pw.stop()

    def print_pdf(self, html: str, generated_at: datetime, timeout_ms: float = 300_000) -> bytes:
        """Print one HTML document: JavaScript off, every network request aborted."""
        context = self._browser.new_context(java_script_enabled=False, offline=True)
        try:
            context.route("**/*", lambda route: route.abort())
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.set_content(html, wait_until="load")
            pdf = page.pdf(format=self.paper, print_background=True, display_header_footer=True,
                           header_template="<span></span>", footer_template=FOOTER,
                           margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"})
        finally:
            context.close()
        return _pin_pdf_dates(pdf, generated_at)


def print_pdfs(documents: Sequence[tuple[str, datetime]], paper: str = "A4") -> list[bytes]:
    """Print several HTML documents with one browser.

    Playwright's sync API refuses to run on a thread with a running asyncio loop (the
    collection reactor's), so in that case the printing happens on a worker thread.
    """
    def work() -> list[bytes]:
        with PdfPrinter(paper) as printer:
            return [printer.print_pdf(html, at) for html, at in documents]

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


# -- writing and recording ------------------------------------------------------------------
@dataclass(frozen=True)
class Document:
    """One rendered report, ready to be written in any format."""

    kind: str  # findings | process | audit
    stem: str  # file name without extension
    case_id: str | None
    html: str
    generated_at: datetime


def build_document(ws: Workspace, kind: str, subject: str | None, clock: Clock = utc_clock, *,
                   allow_damaged: bool = False) -> Document:
    """Gather the data of one report and render its HTML.

    ``subject`` is a case id (findings), a procedure id or ``id@fingerprint`` (process), or a
    procedure id or None (audit). A findings report with a finding whose evidence no longer
    verifies is refused (:class:`DamagedEvidence`) unless ``allow_damaged``, when it carries a
    notice naming each such finding and its damage.
    """
    at = clock()
    if kind == "findings":
        if not subject:
            raise ValueError("a findings report needs a case id")
        report = findings_report(ws, subject)
        if report.data.damaged and not allow_damaged:
            raise DamagedEvidence(damage_summary(report.data.damaged))
        html = findings_html(report, at)
        # The report is checked against the log before anyone reads it: a table edited behind
        # the log's back (a category added, a concurrer renamed) stops it here.
        check = verify_receipts(ws, html)
        if not check.ok:
            raise LookupError(f"the findings report of {subject} disagrees with the audit log, so it is not "
                              f"written: {(check.problems or [''])[0]} (run 'vet audit verify')")
        return Document(kind, f"findings-{subject}", subject, html, at)
    if kind == "process":
        if not subject:
            raise ValueError("a process report needs a procedure id")
        procedure_id, _, fingerprint = subject.partition("@")
        proc = process_report(ws, procedure_id, fingerprint or None)
        stem = f"process-{proc.version.procedure_id}-v{proc.version.version}"
        return Document(kind, stem, None, process_html(proc, at), at)
    if kind == "audit":
        stem = f"audit-{subject}" if subject else "audit"
        return Document(kind, stem, None, audit_html(audit_report(ws, subject), at), at)
    raise ValueError(f"unknown report kind {kind!r}; one of {', '.join(KINDS)}")


def damage_summary(damaged: Sequence[Any]) -> str:
    """One line naming every damaged finding and what is wrong with its evidence."""
    parts = [f"finding {d.item_id} (decision {d.decision_id}, {d.url}): {'; '.join(d.damage)}" for d in damaged]
    return (f"{len(damaged)} validated finding(s) rest on evidence that no longer verifies: "
            + " | ".join(parts) + ". Run 'vet audit verify'; to render anyway with a notice naming them, "
            "pass --allow-damaged")


def record_rendered(ws: Workspace, doc: Document, fmt: str, path: Path, data: bytes, by: str) -> str:
    """Write one report file and record its sha256 as a ``report.rendered`` audit event."""
    write_atomic(path, data)
    digest = hashlib.sha256(data).hexdigest()
    ws.record("report.rendered", actor=by, case_id=doc.case_id, subject=str(path),
              payload={"kind": doc.kind, "format": fmt, "sha256": digest, "path": str(path)})
    ws.audit.checkpoint()
    return digest


def write_documents(ws: Workspace, docs: Sequence[tuple[Document, str, Path]], by: str,
                    paper: str = "A4") -> list[Path]:
    """Write each (document, format, path); PDFs are printed with one browser for all."""
    for fmt in {fmt for _, fmt, _ in docs}:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if paper not in PAPERS:
        raise ValueError(f"unknown paper size {paper!r}; one of {', '.join(PAPERS)}")
    pdf_jobs = [(doc, path) for doc, fmt, path in docs if fmt == "pdf"]
    pdfs = dict(zip((id(doc) for doc, _ in pdf_jobs),
                    print_pdfs([(doc.html, doc.generated_at) for doc, _ in pdf_jobs], paper)
                    if pdf_jobs else [], strict=True))
    written = []
    for doc, fmt, path in docs:
        data = doc.html.encode("utf-8") if fmt == "html" else pdfs[id(doc)]
        record_rendered(ws, doc, fmt, path, data, by)
        written.append(path)
    return written


def render_report(ws: Workspace, kind: str, subject: str | None, fmt: str, out: Path, by: str,
                  clock: Clock = utc_clock, paper: str = "A4", allow_damaged: bool = False) -> Path:
    """Render one report in one format to ``out`` and record it."""
    doc = build_document(ws, kind, subject, clock, allow_damaged=allow_damaged)
    return write_documents(ws, [(doc, fmt, out)], by, paper)[0]


def render_all(ws: Workspace, out_dir: Path, by: str, formats: Sequence[str] = FORMATS,
               clock: Clock = utc_clock, paper: str = "A4") -> list[Path]:
    """Every report of the workspace, in every format, under ``out_dir``.

    The findings report of every case, the written process of every approved version, then
    the audit and uniformity report last, so its timelines include the reports just made.
    """
    with ws.session() as s:
        case_ids = list(s.exec(select(Case.id).order_by(Case.id)))
        versions = list(s.exec(select(ProcedureVersion.procedure_id, ProcedureVersion.fingerprint)
                               .order_by(ProcedureVersion.procedure_id, ProcedureVersion.version)))
    docs = [build_document(ws, "findings", cid, clock) for cid in case_ids]
    docs += [build_document(ws, "process", f"{pid}@{fp}", clock) for pid, fp in versions]
    written = write_documents(ws, [(d, f, out_dir / f"{d.stem}.{f}") for d in docs for f in formats], by, paper)
    audit_doc = build_document(ws, "audit", None, clock)
    return written + write_documents(ws, [(audit_doc, f, out_dir / f"{audit_doc.stem}.{f}") for f in formats],
                                     by, paper)


# -- receipts -------------------------------------------------------------------------------
# Re-exported: the receipts' reader and verifier live in vetting.reports.receipts.
__all__ = ["ReceiptCheck", "read_receipts", "verify_receipts"]
