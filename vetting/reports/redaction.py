"""Redacted pictures for hiring staff, derived from the archived page, never from a screenshot.

The firewall (``vetting.screening.firewall``) masks protected characteristics in the text of the
findings report; a screenshot of the page would show them all again. So what hiring staff see
of a captured page is made here, from the stored evidence:

1. the archived DOM (the rendered HTML stored as evidence, re-hashed first) is loaded into
   Chromium **offline**: it is served to the browser by a route handler with a
   Content-Security-Policy header (``default-src 'none'; style-src 'unsafe-inline'``), with
   JavaScript disabled and every other request aborted, so nothing is fetched, nothing runs
   and no image (not even a ``data:`` one) loads;
2. every mention the firewall finds in the page's text is located in the layout (a DOM
   ``Range`` over the text nodes, ``getClientRects``), including CSS generated content
   (``::before``/``::after`` text is turned into real text first) and form fields;
3. the crop follows the finding's excerpt (the conduct the investigator found), not the whole
   page, so a page of any height gives a legible picture;
4. opaque boxes cover every mention, and every image, picture, video, canvas, SVG, frame and
   embedded object, except the images the deciding investigator marked as the finding's
   evidence (``vetting.review.evidence_images``), whose pixels come from the original screenshot
   when the offline layout matches it (and stay covered otherwise).

Each picture is evidence of its own: it is stored content-addressed and recorded as an
``evidence.redacted`` audit event carrying its sha256, the archived DOM's and the original
screenshot's sha256, the crop and every box (``vet audit verify`` re-hashes it like any
artifact). Investigators keep the original capture; hiring-staff outputs use only these.
Words inside a kept conduct span (bias speech, whose protected words are the conduct) stay
visible, exactly as in the report's text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vetting import __version__
from vetting.reports.redaction_draw import (
    CROP_HEIGHT,
    FORMAT,
    Box,
    PictureJob,
    Redacted,
    Redactor,
    lexicon_sha256,
)
from vetting.store.workspace import Workspace

__all__ = ["CROP_HEIGHT", "Box", "PictureJob", "PictureView", "Redacted", "Redactor", "picture_job",
           "redacted_pictures"]

ACTOR = f"system:redaction/{__version__}"


# -- the workspace side ---------------------------------------------------------------------
@dataclass(frozen=True)
class PictureView:
    """What a hiring-staff report shows of one finding's page."""

    item_id: str
    png: bytes | None
    note: str  # why there is no picture, or what to know about it
    sha256: str | None = None
    source_sha256: str | None = None
    boxes: int = 0
    covered_media: int = 0
    evidence_shown: int = 0


def _html(data: bytes) -> bool:
    """Markup, not an image or a PDF that happened to be the response."""
    return data.removeprefix(b"\xef\xbb\xbf")[:4096].lstrip()[:1] == b"<"


def picture_job(ws: Workspace, item_id: str,
                marks: dict[tuple[str, int], tuple[str, ...]] | None = None) -> PictureJob | str:
    """The job for one validated item, or why no picture can be made of it. ``marks`` are the
    case's evidence-image marks by (item, decision id) when the caller read them already."""
    from vetting.domain.models import Assessment, Case, Item, ProcedureVersion
    from vetting.review.validation import current_decision

    with ws.session() as s:
        item = s.get(Item, item_id)
        assessment = s.get(Assessment, item_id)
        case = s.get(Case, item.case_id) if item else None
        version = s.get(ProcedureVersion, case.fingerprint) if case else None
    decision = current_decision(ws, item_id)
    if item is None or case is None or version is None or decision is None or decision.id is None:
        return "no validated decision"
    artifacts = item.artifacts()
    source = next((a for a in artifacts if a["kind"] == "dom"), None)
    if source is None:
        source = next((a for a in artifacts if a["kind"] == "response"), None)
    if source is None:
        return "no picture: nothing of the page's HTML was archived"
    dom = ws.read_evidence(source["path"], source["sha256"])
    if hashlib.sha256(dom).hexdigest() != source["sha256"]:
        return "no picture: the archived page no longer matches its sha256"
    if not _html(dom):
        return "no picture: the archived content is not an HTML page"
    shot = next((a for a in artifacts if a["kind"] == "screenshot"), None)
    screenshot = ws.read_evidence(shot["path"], shot["sha256"]) if shot else None
    if screenshot is not None and hashlib.sha256(screenshot).hexdigest() != shot["sha256"]:
        screenshot = None
    proc = json.loads(version.canonical_json)
    protected = {c["id"] for c in proc["categories"] if c.get("protected_conduct")}
    found = set(json.loads(decision.findings_json))
    flags = sorted(json.loads(assessment.flags_json) if assessment else [], key=lambda f: (f["start"], f["end"]))
    text = item.text or ""
    focus = tuple(dict.fromkeys(text[f["start"]:f["end"]] or f.get("matched_text", "") for f in flags
                                if f["category_id"] in found))
    keep = tuple(dict.fromkeys(text[f["start"]:f["end"]] or f.get("matched_text", "") for f in flags
                               if f["category_id"] in found and f["category_id"] in protected))
    return PictureJob(item.id, item.case_id, decision.id, item.final_url or item.url, dom, source["sha256"],
                      screenshot, shot["sha256"] if shot and screenshot is not None else None, focus, keep,
                      (marks if marks is not None else _case_events(ws, item.case_id)[0]).get(
                          (item.id, decision.id), ()))


def _case_events(ws: Workspace, case_id: str) -> tuple[dict[tuple[str, int], tuple[str, ...]],
                                                        dict[str, dict[str, Any]]]:
    """One pass over the case's audit events: the evidence images each decision marked (in its
    ``item.validated`` event, as commitments of the candidate's personal values: once the
    candidate is erased a mark names nothing and every picture stays covered), and, by job key,
    the ``evidence.redacted`` events recorded."""
    from vetting.store.personal import Revealer, candidate_of_case

    marks: dict[tuple[str, int], tuple[str, ...]] = {}
    recorded: dict[str, dict[str, Any]] = {}
    with ws.session() as s:
        reveal = Revealer(s, candidate_of_case(s, case_id))
        for e in ws.audit.events(case_id=case_id):
            if e.action == "item.validated" and isinstance(e.payload.get("decision_id"), int) and e.subject:
                marks[(e.subject, e.payload["decision_id"])] = tuple(
                    reveal(str(m)) for m in e.payload.get("evidence_images") or ())
            elif e.action == "evidence.redacted" and isinstance(e.payload.get("job_key"), str):
                recorded[e.payload["job_key"]] = e.payload
    return marks, recorded


def _view(job: PictureJob, png: bytes, payload: dict[str, Any]) -> PictureView:
    boxes = payload.get("boxes") or []
    return PictureView(job.item_id, png, "; ".join(payload.get("notes") or []), payload["redacted"]["sha256"],
                       job.dom_sha256, len(boxes), sum(1 for b in boxes if not b["why"].startswith(("protected",
                                                                                                     "form"))),
                       int(payload.get("evidence_shown", 0)))


def _record(ws: Workspace, job: PictureJob, made: Redacted) -> dict[str, Any]:
    rel, digest = ws.store_bytes(made.png, ".png")
    payload = {
        "format": FORMAT, "job_key": job.key, "decision_id": job.decision_id,
        "source": {"kind": "dom", "sha256": job.dom_sha256},
        "original_screenshot_sha256": job.screenshot_sha256,
        "redacted": {"path": rel, "sha256": digest, "width": made.width, "height": made.height},
        "artifacts": [{"kind": "redacted", "path": rel, "sha256": digest}],
        "crop": made.crop, "boxes": [asdict(b) for b in made.boxes], "evidence_images": len(job.evidence_images),
        "evidence_shown": made.evidence_shown, "notes": made.notes, "lexicon_sha256": lexicon_sha256(),
        "seconds": made.seconds,
    }
    ws.record("evidence.redacted", actor=ACTOR, case_id=job.case_id, subject=job.item_id, payload=payload)
    return payload


def redacted_pictures(ws: Workspace, case_id: str, item_ids: Sequence[str]) -> dict[str, PictureView]:
    """The hiring-staff picture of each item: made once (and recorded), then reused while its
    inputs are unchanged and its stored file still re-hashes to what was recorded."""
    marks, recorded = _case_events(ws, case_id)
    jobs: dict[str, PictureJob | str] = {i: picture_job(ws, i, marks) for i in item_ids}
    views: dict[str, PictureView] = {}
    todo: list[PictureJob] = []
    for item_id, job in jobs.items():
        if isinstance(job, str):
            views[item_id] = PictureView(item_id, None, job)
            continue
        payload = recorded.get(job.key)
        if payload is not None:
            try:
                png = ws.read_evidence(payload["redacted"]["path"], payload["redacted"]["sha256"])
            except OSError:
                png = b""
            if hashlib.sha256(png).hexdigest() == payload["redacted"]["sha256"]:
                views[item_id] = _view(job, png, payload)
                continue
        todo.append(job)
    if todo:
        for job, made in zip(todo, _render_all(todo), strict=True):
            if isinstance(made, str):  # never a fallback to the screenshot: no picture, and why
                views[job.item_id] = PictureView(job.item_id, None, made)
            else:
                views[job.item_id] = _view(job, made.png, _record(ws, job, made))
        ws.audit.checkpoint()
    return views


def _render_all(jobs: Sequence[PictureJob]) -> list[Redacted | str]:
    """Render with one browser; a page that cannot be drawn gives the reason instead. Playwright's
    sync API refuses a thread with a running asyncio loop (the collection reactor's), so then
    the work happens on a worker thread."""
    def work() -> list[Redacted | str]:
        out: list[Redacted | str] = []
        with Redactor() as redactor:
            for job in jobs:
                try:
                    out.append(redactor.render(job))
                except Exception as exc:  # noqa: BLE001 - a hostile page must not stop the report
                    redactor.reset()
                    first = (str(exc).strip().splitlines() or [""])[0][:200]
                    out.append(f"no picture: the archived page could not be drawn offline "
                               f"({type(exc).__name__}: {first})")
        return out

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()
