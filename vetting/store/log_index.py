"""The decision tables are the log's index: check every row against the event that recorded it.

Candidates, approvals, decisions and concurrences are written in the same transaction as
their audit event, and the event binds every field of the row (personal values through their
commitments). The tables are append-only by trigger, but whoever can drop the triggers can
edit a row; :func:`check_index` (run by ``vet audit verify``) finds any row that no longer says
what its event says, any row without an event, and any event whose row is gone. The events
themselves are checked by ``audit.verify_log``; together they make the log the authority.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import select as sm_select

from audit.store import audit_event
from vetting.domain.models import Candidate, Concurrence, Decision, ProcedureVersion
from vetting.store.workspace import Workspace

INDEXED_ACTIONS = ("candidate.added", "procedure.approved", "item.validated", "item.rejected",
                   "item.unverifiable", "item.concurred")


@dataclass(frozen=True)
class IndexProblem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class _Ev:
    seq: int
    actor: str
    action: str
    case_id: str | None
    subject: str | None
    payload: dict[str, Any]


def _events(ws: Workspace) -> Iterator[_Ev]:
    with ws.engine.connect() as conn:
        rows = conn.execute(select(audit_event.c.seq, audit_event.c.actor, audit_event.c.action,
                                   audit_event.c.case_id, audit_event.c.subject, audit_event.c.payload)
                            .where(audit_event.c.action.in_(INDEXED_ACTIONS)).order_by(audit_event.c.seq))
        for r in rows:
            try:
                payload = json.loads(r.payload)
            except ValueError:
                payload = {}
            yield _Ev(r.seq, r.actor, r.action, r.case_id, r.subject, payload if isinstance(payload, dict) else {})


def _same_time(a: Any, b: Any) -> bool:
    def norm(v: Any) -> datetime | None:
        try:
            t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
        except ValueError:
            return None
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return norm(a) is not None and norm(a) == norm(b)


class _Compare:
    def __init__(self, out: list[IndexProblem], where: str, ev: _Ev) -> None:
        self.out, self.where, self.ev = out, where, ev

    def field(self, name: str, table_value: Any, event_value: Any) -> None:
        if table_value != event_value:
            self.out.append(IndexProblem(self.where, f"field {name}: the table says {table_value!r}, "
                                                     f"event {self.ev.seq} says {event_value!r}"))

    def payload(self, name: str, table_value: Any, key: str | None = None) -> None:
        """Compare with a payload key when the event has it (events written before it was bound lack it)."""
        key = key or name
        if key in self.ev.payload:
            self.field(name, table_value, self.ev.payload[key])


def check_index(ws: Workspace) -> list[IndexProblem]:
    """Every candidate, approval, decision and concurrence row against its audit event."""
    by_key: dict[tuple[str, Any], list[_Ev]] = {}
    for ev in _events(ws):
        if ev.action == "candidate.added":
            key: tuple[str, Any] = ("candidate", ev.subject)
        elif ev.action == "procedure.approved":
            key = ("procedure", ev.subject)
        elif ev.action == "item.concurred":
            key = ("concurrence", ev.payload.get("decision_id"))
        else:
            key = ("decision", ev.payload.get("decision_id"))
        by_key.setdefault(key, []).append(ev)
    out: list[IndexProblem] = []
    with ws.session() as s:
        candidates = list(s.exec(sm_select(Candidate)))
        versions = list(s.exec(sm_select(ProcedureVersion)))
        decisions = list(s.exec(sm_select(Decision)))
        concurrences = list(s.exec(sm_select(Concurrence)))
    seen: set[tuple[str, Any]] = set()

    def event_of(kind: str, ident: Any, where: str, what: str) -> _Ev | None:
        key = (kind, ident)
        seen.add(key)
        found = by_key.get(key) or []
        if not found:
            out.append(IndexProblem(where, f"no {what} event records this row (inserted behind the log's back?)"))
            return None
        if len(found) > 1:
            out.append(IndexProblem(where, f"recorded by {len(found)} events ({', '.join(str(e.seq) for e in found)})"))
        return found[0]

    for c in candidates:
        where = f"candidate {c.id}"
        ev = event_of("candidate", c.id, where, "candidate.added")
        if ev is None:
            continue
        cmp = _Compare(out, where, ev)
        cmp.field("added_by", c.added_by, ev.actor)
        cmp.payload("full_name", c.full_name)
        cmp.payload("identifiers", json.loads(c.identifiers_json))
        cmp.payload("authorization_signed_on", c.authorization_signed_on.isoformat())
        arts = ev.payload.get("artifacts") or [{}]
        cmp.field("authorization_sha256", c.authorization_sha256, arts[0].get("sha256"))
        cmp.field("authorization_path", c.authorization_path, arts[0].get("path"))
    for v in versions:
        where = f"procedure {v.procedure_id} v{v.version} ({v.fingerprint})"
        ev = event_of("procedure", v.fingerprint, where, "procedure.approved")
        if ev is None:
            continue
        cmp = _Compare(out, where, ev)
        cmp.field("approved_by", v.approved_by, ev.actor)
        cmp.payload("procedure_id", v.procedure_id)
        cmp.payload("version", v.version)
        cmp.payload("title", v.title)
        cmp.payload("author", v.author)
        cmp.payload("source_name", v.source_name)
        cmp.payload("canonical_sha256", hashlib.sha256(v.canonical_json.encode("utf-8")).hexdigest())
        cmp.payload("manifests", json.loads(v.manifests_json))
        arts = ev.payload.get("artifacts") or [{}]
        cmp.field("source_text sha256", hashlib.sha256(v.source_text.encode("utf-8")).hexdigest(),
                  arts[0].get("sha256"))
        if "approved_at" in ev.payload and not _same_time(v.approved_at, ev.payload["approved_at"]):
            cmp.field("approved_at", str(v.approved_at), ev.payload["approved_at"])
    for d in decisions:
        where = f"decision {d.id} (item {d.item_id})"
        ev = event_of("decision", d.id, where, f"item.{d.decision}")
        if ev is None:
            continue
        cmp = _Compare(out, where, ev)
        cmp.field("decision", f"item.{d.decision}", ev.action)
        cmp.field("item_id", d.item_id, ev.subject)
        cmp.field("case_id", d.case_id, ev.case_id)
        cmp.field("decided_by", d.decided_by, ev.actor)
        cmp.payload("findings", json.loads(d.findings_json))
        cmp.payload("reason", d.reason)
        cmp.payload("discredit_justification", d.discredit_justification)
        cmp.payload("mitigating", d.mitigating)
        cmp.payload("supersedes", d.supersedes)
        if "decided_at" in ev.payload and not _same_time(d.decided_at, ev.payload["decided_at"]):
            cmp.field("decided_at", str(d.decided_at), ev.payload["decided_at"])
    for c in concurrences:
        where = f"concurrence {c.id} (decision {c.decision_id})"
        ev = event_of("concurrence", c.decision_id, where, "item.concurred")
        if ev is None:
            continue
        cmp = _Compare(out, where, ev)
        cmp.field("concurred_by", c.concurred_by, ev.actor)
        cmp.payload("reason", c.reason)
        cmp.payload("concurrence_id", c.id)
        if "concurred_at" in ev.payload and not _same_time(c.concurred_at, ev.payload["concurred_at"]):
            cmp.field("concurred_at", str(c.concurred_at), ev.payload["concurred_at"])
    names = {"candidate": "candidate", "procedure": "procedure version", "decision": "decision",
             "concurrence": "concurrence of decision"}
    for key, evs in by_key.items():
        if key not in seen:
            for ev in evs:
                out.append(IndexProblem(f"event {ev.seq}", f"records {names[key[0]]} {key[1]}, which is missing "
                                                           f"from its table (deleted behind the log's back?)"))
    return out
