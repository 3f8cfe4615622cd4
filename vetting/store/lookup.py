"""Finding what a user named on the command line, or saying clearly that it does not exist.

An unknown case, procedure, candidate, item or decision is an :class:`UnknownName` (exit 2)
whose one-line message names it and the command that lists the real ones, instead of an
empty table and exit 0.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from vetting.domain.models import Candidate, Case, Decision, Item, ProcedureVersion
from vetting.domain.yamlsource import clip
from vetting.errors import UnknownName


def _known(values: list[str], limit: int = 5) -> str:
    if not values:
        return ""
    shown = ", ".join(values[:limit]) + (f" (and {len(values) - limit} more)" if len(values) > limit else "")
    return f"; known: {clip(shown, 300)}"


def require_case(ws: Any, case_id: str) -> Case:
    with ws.session() as s:
        case = s.get(Case, case_id)
        if case is not None:
            return case
        known = [c.id for c in s.exec(select(Case).order_by(Case.id))]
    raise UnknownName(f"no case {clip(case_id)!r}{_known(known)}. List them with 'vet case list'.")


def require_candidate(ws: Any, candidate_id: str) -> Candidate:
    with ws.session() as s:
        row = s.get(Candidate, candidate_id)
        if row is not None:
            return row
        known = [c.id for c in s.exec(select(Candidate).order_by(Candidate.id))]
    raise UnknownName(f"no candidate {clip(candidate_id)!r}{_known(known)}. List them with 'vet candidate list'.")


def require_procedure(ws: Any, procedure_id: str, fingerprint: str | None = None) -> None:
    """An approved procedure id (any version, or the one with ``fingerprint``) exists, or UnknownName."""
    with ws.session() as s:
        query = select(ProcedureVersion).where(ProcedureVersion.procedure_id == procedure_id)
        if s.exec(query).first():
            if fingerprint and not s.exec(query.where(ProcedureVersion.fingerprint == fingerprint)).first():
                raise UnknownName(f"procedure {clip(procedure_id)!r} has no approved version with fingerprint "
                                  f"{clip(fingerprint)}. List them with 'vet procedure list'.")
            return
        known = sorted({v.procedure_id for v in s.exec(select(ProcedureVersion))})
    raise UnknownName(f"no approved procedure {clip(procedure_id)!r}{_known(known)}. "
                      "List them with 'vet procedure list'.")


def require_item(ws: Any, item_id: str) -> Item:
    with ws.session() as s:
        item = s.get(Item, item_id)
    if item is None:
        raise UnknownName(f"no item {clip(item_id)!r}. List a case's items with 'vet review CASE --all' "
                          "(cases: 'vet case list').")
    return item


def require_decision(ws: Any, decision_id: int) -> Decision:
    with ws.session() as s:
        row = s.get(Decision, decision_id)
    if row is None:
        raise UnknownName(f"no decision {decision_id}. Decisions are shown by 'vet review CASE --all'.")
    return row
