"""The candidate's side: the notice before findings are used, and the candidate's response.

Before an adverse decision rests on a background report the candidate is told and given a
copy, and may respond (FCRA 15 U.S.C. 1681b(b)(3), the pre-adverse-action notice; the FTC's
staff has called five business days a reasonable wait). Here:

- the investigator records the notice (``records.notice``): the day the candidate was told,
  how (committed: it may name an address), and the response window (``notice.response_days``
  of ``retention.yaml``, 5 days by default);
- the investigator records each response (``records.response``): the candidate's text is a
  small JSON document (with a random nonce, so its hash confirms nothing once the document is
  disposed of) stored in the evidence store, and every attachment too, content-addressed; the
  event carries their sha256 as ``artifacts``, so ``vet audit verify`` re-hashes them;
- the findings report shows the notice, each response beside the finding it answers (or of
  the case as a whole) with its sha256, and marks every finding whose window is still open;
  the report's receipts bind the responses (:func:`vetting.reports.receipts.verify_receipts`).

A response recorded after a report was released appears in the next rendering.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select

from vetting.people.clock import Clock, system_clock
from vetting.records.models import CandidateNotice, CandidateResponse, RecordsRefused
from vetting.store.workspace import Workspace

RESPONSE_FORMAT = "vetting-response/1"
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_RESPONSE_CHARS = 100_000


def _open_case(ws: Workspace, case_id: str) -> str:
    from vetting.domain.candidates import candidate_erased
    from vetting.store.lookup import require_case

    candidate_id = require_case(ws, case_id).candidate_id
    if candidate_erased(ws, candidate_id):
        raise RecordsRefused(f"case {case_id}: its candidate's records were disposed of; nothing more is recorded")
    return candidate_id


def latest_notice(ws: Workspace, case_id: str) -> CandidateNotice | None:
    with ws.session() as s:
        return s.exec(select(CandidateNotice).where(CandidateNotice.case_id == case_id)
                      .order_by(CandidateNotice.id.desc())).first()  # type: ignore[union-attr]


def record_notice(ws: Workspace, case_id: str, notified_on: date, method: str, actor: str, *,
                  now: Clock = system_clock) -> CandidateNotice:
    """The candidate of ``case_id`` was notified on ``notified_on`` by ``method``."""
    from vetting.records.retention import load_settings

    candidate_id = _open_case(ws, case_id)
    method = (method or "").strip()
    if len(method) < 3:
        raise RecordsRefused("--how must say how the candidate was notified (letter, e-mail, in person ...)")
    today = now().date()
    if notified_on > today:
        raise RecordsRefused(f"the notice's date {notified_on} is in the future (today is {today})")
    days = load_settings(ws).response_days
    with ws.transaction() as tx:
        (committed,) = tx.commit_values(candidate_id, [method])
        event = tx.record("records.notice", actor=actor, case_id=case_id, subject=case_id, payload={
            "notified_on": notified_on.isoformat(), "method": committed, "window_days": days,
            "respond_by": (notified_on + timedelta(days=days)).isoformat()})
        row = CandidateNotice(case_id=case_id, notified_on=notified_on, method=committed, window_days=days,
                              recorded_by=actor, recorded_at=now(), event_seq=event.seq)
        tx.session.add(row)
    ws.audit.checkpoint()
    return row


def _suffix(name: str) -> str:
    ext = Path(name).suffix.lower()
    return ext if 1 < len(ext) <= 8 and ext[1:].isalnum() else ""


def record_response(ws: Workspace, case_id: str, text: str, attachments: list[Path], actor: str, *,
                    item_id: str | None = None, received_on: date | None = None,
                    now: Clock = system_clock) -> CandidateResponse:
    """The candidate's response (text and attachments) to the findings of ``case_id`` (or to one)."""
    from vetting.domain.models import Item
    from vetting.domain.yamlsource import read_bytes_file

    candidate_id = _open_case(ws, case_id)
    notice = latest_notice(ws, case_id)
    if notice is None:
        raise RecordsRefused(f"case {case_id}: record the notice first "
                             f"(vet notice record {case_id} --on DATE --how ...)")
    today = now().date()
    received_on = received_on or today
    if received_on > today:
        raise RecordsRefused(f"the response's date {received_on} is in the future (today is {today})")
    if received_on < notice.notified_on:
        raise RecordsRefused(f"the response's date {received_on} is before the notice ({notice.notified_on})")
    text = (text or "").strip()
    if not text and not attachments:
        raise RecordsRefused("a response needs its text (--text or --text-file) or an attachment (--attach)")
    if len(text) > MAX_RESPONSE_CHARS:
        raise RecordsRefused(f"the response's text is {len(text):,} characters; at most {MAX_RESPONSE_CHARS:,}")
    if item_id is not None:
        with ws.session() as s:
            item = s.get(Item, item_id)
        if item is None or item.case_id != case_id:
            raise RecordsRefused(f"no item {item_id!r} in case {case_id} (vet review {case_id} --all lists them)")
    files = [(p.name, read_bytes_file(p, max_bytes=MAX_ATTACHMENT_BYTES)) for p in attachments]
    document = json.dumps({"format": RESPONSE_FORMAT, "nonce": secrets.token_hex(16), "case_id": case_id,
                           "item_id": item_id, "received_on": received_on.isoformat(), "text": text},
                          ensure_ascii=False, sort_keys=True).encode("utf-8")
    doc_path, doc_sha = ws.store_bytes(document, ".json")
    stored = [(name, data, *ws.store_bytes(data, _suffix(name))) for name, data in files]
    with ws.transaction() as tx:
        names = tx.commit_values(candidate_id, [name for name, *_ in stored])
        attached = [{"path": rel, "sha256": sha, "size": len(data), "name": committed}
                    for (_, data, rel, sha), committed in zip(stored, names, strict=True)]
        row = CandidateResponse(case_id=case_id, item_id=item_id, received_on=received_on, document_path=doc_path,
                                document_sha256=doc_sha, attachments_json=json.dumps(attached), recorded_by=actor,
                                recorded_at=now())
        tx.session.add(row)
        tx.session.flush()
        event = tx.record("records.response", actor=actor, case_id=case_id, subject=item_id or case_id, payload={
            "response_id": row.id, "item_id": item_id, "received_on": received_on.isoformat(),
            "notice_event": notice.event_seq, "document": {"path": doc_path, "sha256": doc_sha},
            "attachments": [{k: a[k] for k in ("sha256", "size", "name")} for a in attached],
            "artifacts": [{"kind": "response", "path": doc_path, "sha256": doc_sha}]
            + [{"kind": "attachment", "path": a["path"], "sha256": a["sha256"]} for a in attached]})
        row.event_seq = event.seq
        tx.session.add(row)
    ws.audit.checkpoint()
    return row


# -- in the findings report -----------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentView:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ResponseView:
    seq: int
    item_id: str | None
    received_on: date
    text: str
    sha256: str
    attachments: list[AttachmentView]
    recorded_by: str
    event: Any  # the records.response audit event (its receipt)


@dataclass
class NoticeView:
    notified_on: date | None = None
    method: str = ""
    respond_by: date | None = None
    window_open: bool = False
    recorded_by: str = ""
    responses: list[ResponseView] = field(default_factory=list)

    def of(self, item_id: str | None) -> list[ResponseView]:
        return [r for r in self.responses if r.item_id == item_id]


def response_text(ws: Workspace, path: str, sha256: str) -> str | None:
    """The text of a stored response document, if it is still there and re-hashes to ``sha256``."""
    import hashlib

    try:
        data = ws.read_evidence(path, sha256)
    except (OSError, LookupError, ValueError):
        return None
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    try:
        return str(json.loads(data.decode("utf-8")).get("text", ""))
    except (ValueError, UnicodeDecodeError):
        return None


def report_view(ws: Workspace, case_id: str, tree_size: int, *, now: Clock = system_clock) -> NoticeView:
    """The notice and the responses of ``case_id`` as a findings report at ``tree_size`` shows them."""
    from vetting.screening.firewall import mask_protected
    from vetting.store.lookup import require_case
    from vetting.store.personal import Revealer

    candidate_id = require_case(ws, case_id).candidate_id
    view = NoticeView()
    notices: dict[int, dict[str, Any]] = {}
    events = []
    for e in ws.audit.events(case_id=case_id):
        if e.seq >= tree_size:
            continue  # read to the end: a stream left open would keep a stale read snapshot
        if e.action == "records.notice":
            notices[e.seq] = {"event": e}
        elif e.action == "records.response":
            events.append(e)
    with ws.session() as s:
        reveal = Revealer(s, candidate_id)
        if notices:
            last = notices[max(notices)]["event"]
            p = last.payload
            view.notified_on = date.fromisoformat(p["notified_on"])
            view.respond_by = date.fromisoformat(p["respond_by"])
            view.method = reveal(p.get("method"))
            view.recorded_by = last.actor
            view.window_open = now().date() <= view.respond_by
        for e in events:
            p = e.payload
            doc = p.get("document") or {}
            text = response_text(ws, str(doc.get("path")), str(doc.get("sha256"))) if not reveal.erased else None
            if text is not None:  # hiring staff never see protected characteristics, the candidate's words included
                text = mask_protected(text).text
            attached = [AttachmentView(reveal(a.get("name")), str(a.get("sha256")), int(a.get("size", 0)))
                        for a in p.get("attachments") or []]
            view.responses.append(ResponseView(
                e.seq, p.get("item_id"), date.fromisoformat(p["received_on"]), text if text is not None else "[erased]",
                str(doc.get("sha256")), attached, e.actor, e))
    return view


def timeline_detail(event: Any, reveal: Any) -> str:
    """One line for a ``records.*`` event in the audit report's case timeline."""
    p, a = event.payload, event.action
    if a == "records.notice":
        return (f"candidate notified {p.get('notified_on')} by {reveal(p.get('method'))}; "
                f"respond by {p.get('respond_by')}")
    if a == "records.response":
        doc = p.get("document") or {}
        return (f"candidate's response received {p.get('received_on')}"
                + (f" to {p.get('item_id')}" if p.get("item_id") else "")
                + f": sha256 {doc.get('sha256')}, {len(p.get('attachments') or [])} attachment(s)")
    if a in ("records.hold_placed", "records.hold_released"):
        verb = "placed" if a.endswith("placed") else "released"
        return f"legal hold {p.get('hold_id')} {verb}: {reveal(p.get('reason'))}"
    if a == "records.disposal_refused":
        return f"disposal refused: on legal hold {p.get('holds')}"
    if a == "records.disposed":
        return f"disposed of (certificate): {p.get('rule')}"
    return ""
