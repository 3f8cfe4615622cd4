"""Review: the queue of items awaiting a decision, decisions, and the second person's concurrence.

The two-person rule is checked here on accounts: the concurring account must not be the one
whose decision it is, and must not carry the same employee or badge number (one person with
two accounts is still one person). A decisions file decides as the logged-in account and can
never concur: concurrence is its own act, by a second account that logs in itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vetting.people.permissions import authorize, authorize_role, refuse
from vetting.services.registry import service

if TYPE_CHECKING:
    from vetting.domain.models import Assessment, Concurrence, Decision, Item
    from vetting.people.models import Account
    from vetting.review.validation import DecisionRequest
    from vetting.store.workspace import Workspace


@dataclass(frozen=True)
class ReviewEntry:
    """One item of the review queue, with what the reviewer needs beside it."""

    item: Item
    assessment: Assessment | None
    decision: Decision | None  # the decision in force; None while it awaits one
    damage: list[str]  # the evidence's re-hash problems (empty when it verifies)


@service("case.review")
def review_queue(ws: Workspace, account: Account, case_id: str, *, pending_only: bool = True
                 ) -> tuple[list[ReviewEntry], int]:
    """The items of a case awaiting a decision (or all of them), and how many were collected."""
    from vetting.domain.models import Assessment
    from vetting.review.validation import items_and_decisions, verify_item_evidence
    from vetting.store.lookup import require_case

    authorize(ws, account, "case.review", case_id)
    require_case(ws, case_id)
    pairs = items_and_decisions(ws, case_id)
    chosen = [(item, d) for item, d in pairs if d is None or not pending_only]
    with ws.session() as s:
        assessments = {item.id: s.get(Assessment, item.id) for item, _ in chosen}
    return [ReviewEntry(item, assessments[item.id], d, verify_item_evidence(ws, item)) for item, d in chosen], \
        len(pairs)


def _decision_cases(ws: Workspace, item_ids: list[str]) -> list[str]:
    from vetting.domain.models import Item

    with ws.session() as s:
        return sorted({row.case_id for i in item_ids if (row := s.get(Item, i)) is not None})


@service("case.decide")
def decide(ws: Workspace, account: Account, request: DecisionRequest, *, wait: bool | float = False) -> Decision:
    """Record the account's decision on one item of a case assigned to it."""
    from vetting.review.validation import decide as record
    from vetting.store.caselock import DECISION_WAIT_SECONDS, case_locks
    from vetting.store.lookup import require_item

    authorize_role(ws, account, "case.decide", subject=request.item_id)  # before saying which items exist
    target = require_item(ws, request.item_id)
    authorize(ws, account, "case.decide", target.case_id, subject=request.item_id)
    request.by = account.actor
    with case_locks(ws, [target.case_id], "validate", wait=wait or DECISION_WAIT_SECONDS):
        row = record(ws, request)
    assert row is not None
    return row


def decisions_file_cases(ws: Workspace, path: Path) -> list[str]:
    """The cases a decisions file writes (its items' cases, or its candidates' cases)."""
    from sqlmodel import select

    from vetting.domain.models import Case, Item
    from vetting.review.validation import load_decisions_file

    _, entries = load_decisions_file(path)
    out: set[str] = set()
    with ws.session() as s:
        for e in entries:
            if e.request.item_id:
                item = s.get(Item, e.request.item_id)
                if item is not None:
                    out.add(item.case_id)
            elif e.candidate:
                out.update(c.id for c in s.exec(select(Case).where(Case.candidate_id == e.candidate)))
    return sorted(out)


@service("case.decide")
def apply_decisions_file(ws: Workspace, account: Account, path: Path, *, wait: bool | float = False
                         ) -> list[Decision]:
    """A batch of the account's decisions, all or nothing; every case it touches must be assigned to it."""
    from vetting.review.validation import apply_decisions_file as apply
    from vetting.store.caselock import DECISION_WAIT_SECONDS, case_locks

    cases = decisions_file_cases(ws, path)  # parses the file first: a malformed file is exit 2
    if not cases:  # it names no existing item: the role is checked, then the file is refused as it is
        authorize_role(ws, account, "case.decide", subject=str(path))
    for case_id in cases:
        authorize(ws, account, "case.decide", case_id, subject=str(path))
    with case_locks(ws, cases, "validate", wait=wait or DECISION_WAIT_SECONDS):
        return apply(ws, path, account.actor)


@service("case.concur")
def concur(ws: Workspace, account: Account, decision_id: int, reason: str = "", *,
           wait: bool | float = False) -> Concurrence:
    """A second account concurs with an adverse finding; never the account (or person) that decided."""
    from vetting.review.validation import concur as record
    from vetting.store.caselock import DECISION_WAIT_SECONDS, case_locks
    from vetting.store.lookup import require_decision

    authorize_role(ws, account, "case.concur", subject=f"decision-{decision_id}")
    target = require_decision(ws, decision_id)
    authorize(ws, account, "case.concur", target.case_id, subject=f"decision-{decision_id}")
    same = _same_person(ws, target.decided_by, account)
    if same:
        raise refuse(ws, account, "case.concur", f"{account.login} cannot concur with decision {decision_id}: "
                     f"{same}; a second person must concur (two-person rule)", case_id=target.case_id,
                     subject=f"decision-{decision_id}")
    with case_locks(ws, [target.case_id], "concur", wait=wait or DECISION_WAIT_SECONDS):
        return record(ws, decision_id, account.actor, reason)


def _same_person(ws: Workspace, decided_by: str, account: Account) -> str:
    """Why the decider and ``account`` are one person ("" if they are not): the same account, or
    two accounts with the same employee or badge number. Names are never compared."""
    from vetting.people.models import Account as AccountRow

    if decided_by == account.actor:
        return "it made that decision"
    if not decided_by.startswith("user:") or not account.badge.strip():
        return ""
    with ws.session() as s:
        decider = s.get(AccountRow, decided_by.removeprefix("user:"))
    if decider is not None and decider.badge.strip().casefold() == account.badge.strip().casefold():
        return f"the decision was made by {decider.login}, an account of the same employee number {account.badge}"
    return ""


@dataclass(frozen=True)
class ItemReview:
    """One item as its review page shows it: the entry (evidence re-hashed), every decision on
    it (oldest first) with its concurrence, and how the page was reached."""

    entry: ReviewEntry
    history: list[tuple[Decision, Concurrence | None, str]]  # with each decision's reason, revealed
    chain: str  # how the page was reached, in words (vetting.engine.reached.describe_chain)


@service("case.review")
def item_review(ws: Workspace, account: Account, item_id: str) -> ItemReview:
    """What the review page of one item shows; its evidence is re-hashed on every view."""
    from sqlmodel import select

    from vetting.domain.models import Assessment, Concurrence, Decision, Item
    from vetting.engine.reached import describe_chain
    from vetting.review.validation import decision_reason, decisions_in_force, verify_item_evidence
    from vetting.store.lookup import require_item

    authorize_role(ws, account, "case.review", subject=item_id)
    item = require_item(ws, item_id)
    authorize(ws, account, "case.review", item.case_id, subject=item_id)
    with ws.session() as s:
        assessment = s.get(Assessment, item.id)
        decisions = list(s.exec(select(Decision).where(Decision.item_id == item.id).order_by(Decision.id)))
        concurrences = {c.decision_id: c for c in s.exec(
            select(Concurrence).where(Concurrence.decision_id.in_([d.id for d in decisions])))}  # type: ignore[union-attr]
        in_force = decisions_in_force(decisions).get(item.id)

        def get_item(other: str) -> Item | None:
            return s.get(Item, other)

        chain = describe_chain(item, get_item)
    entry = ReviewEntry(item, assessment, in_force, verify_item_evidence(ws, item))
    return ItemReview(entry, [(d, concurrences.get(d.id), decision_reason(ws, d)) for d in decisions], chain)


@dataclass(frozen=True)
class AwaitingConcurrence:
    """One adverse finding in force without a second person's concurrence (the queue's row)."""

    decision: Decision
    item: Item
    reason: str  # the decider's words, read back from the personal values ([erased] once erased)
    discredit: str
    mitigating: str
    findings: list[str]  # the category ids found
    not_you: str  # why this account cannot concur ("" when it can): the two-person rule


@service("case.concur")
def concurrence_queue(ws: Workspace, account: Account) -> list[AwaitingConcurrence]:
    """Every adverse finding awaiting a concurrence, in the cases the account may concur on.

    The rule is the findings report's: a decision in force that is ``validated`` with at least
    one finding (``Decision.adverse``) reaches the report only once a second person concurs.
    A superseded decision needs none (its successor is the one in force). The rows the account
    cannot concur with itself (its own decision, or one of an account with its badge) stay
    listed, with the reason, so a supervisor sees what waits for someone else.
    """
    import json

    from sqlmodel import select

    from vetting.domain.models import Concurrence, Decision, Item
    from vetting.people.permissions import refusal
    from vetting.review.validation import decisions_in_force
    from vetting.store.personal import Revealer, candidate_of_case

    authorize_role(ws, account, "case.concur")
    with ws.session() as s:
        concurred = set(s.exec(select(Concurrence.decision_id)))
        live = decisions_in_force(s.exec(select(Decision))).values()
        waiting = sorted((d for d in live if d.adverse and d.id not in concurred), key=lambda d: d.id or 0)
        items = {d.item_id: s.get(Item, d.item_id) for d in waiting}
    out: list[AwaitingConcurrence] = []
    allowed: dict[str, bool] = {}
    for d in waiting:
        if d.case_id not in allowed:
            allowed[d.case_id] = refusal(ws, account, "case.concur", d.case_id) is None
        item = items[d.item_id]
        if not allowed[d.case_id] or item is None:
            continue
        with ws.session() as s:
            reveal = Revealer(s, candidate_of_case(s, d.case_id))
            words = reveal(d.reason), reveal(d.discredit_justification), reveal(d.mitigating)
        out.append(AwaitingConcurrence(d, item, *words, json.loads(d.findings_json),
                                       _same_person(ws, d.decided_by, account)))
    return out
