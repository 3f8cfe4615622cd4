"""The database tables of a workspace (SQLModel).

Lists and mappings are stored as JSON text so the same schema works on SQLite and
PostgreSQL. The audit log has its own tables, owned by the ``audit`` package.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


class Meta(SQLModel, table=True):
    """Workspace facts: its id, the schema version (for in-place upgrades)."""

    key: str = Field(primary_key=True)
    value: str


class ProcedureVersion(SQLModel, table=True):
    """One approved version of a written process, frozen as approved."""

    __table_args__ = (UniqueConstraint("procedure_id", "version"),)

    fingerprint: str = Field(primary_key=True)
    procedure_id: str = Field(index=True)
    version: int
    title: str
    author: str
    approved_by: str
    approved_at: datetime
    source_name: str
    source_text: str
    canonical_json: str  # the canonical form with defaults spelled out (the fingerprint omits them)
    manifests_json: str = "{}"  # step id -> manifest file name in the frozen folder


class Candidate(SQLModel, table=True):
    """A job candidate and the signed authorization on file. Append-only.

    ``full_name`` and the values in ``identifiers_json`` are commitments (see
    ``vetting.store.personal``); ``vetting.domain.candidates.candidate_identifiers`` reads the values back.
    """

    id: str = Field(primary_key=True)
    full_name: str
    identifiers_json: str
    authorization_sha256: str
    authorization_path: str  # relative to the evidence root
    authorization_signed_on: date
    added_by: str
    added_at: datetime


class Case(SQLModel, table=True):
    """A candidate searched under one approved procedure fingerprint."""

    __table_args__ = (UniqueConstraint("candidate_id", "fingerprint"),)

    id: str = Field(primary_key=True)
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    fingerprint: str = Field(foreign_key="procedureversion.fingerprint", index=True)
    procedure_id: str = Field(index=True)
    opened_by: str
    opened_at: datetime
    status: str = "open"  # open | complete | cancelled
    completed_at: datetime | None = None


STEP_TERMINAL = ("completed", "no_input", "failed", "cancelled")  # cancelled: vetting/engine/cancellation.py
STEP_STATES = ("pending", "running") + STEP_TERMINAL


class StepRun(SQLModel, table=True):
    """The execution record of one step of one case (the uniform record, negatives included)."""

    __table_args__ = (UniqueConstraint("case_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    position: int
    step_id: str
    collector: str
    status: str = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    inputs_json: str = "[]"
    requests_allowed: int = 0
    requests_refused: int = 0
    items: int = 0
    error: str | None = None


class Item(SQLModel, table=True):
    """One captured thing: a page, an account check's verdict, or a search result."""

    __table_args__ = (UniqueConstraint("case_id", "key"),)

    id: str = Field(primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    step_id: str
    key: str  # stable per case: re-running a step never duplicates an item
    kind: str  # page | account | search_result
    url: str
    final_url: str | None = None
    status: int | None = None
    outcome: str  # captured | exists | missing | indeterminate | not_public | blocked | refused | error ...
    reason: str = ""
    title: str = ""
    author: str = ""
    published: str | None = None
    text: str = ""
    found_by: str = ""  # which input led here (e.g. "profile_urls", "usernames:arivera96")
    links_json: str = "[]"
    reached_json: str = "{}"  # how it was reached (vetting.engine.reached): disclosed, link, search, site check
    artifacts_json: str = "[]"  # [{"kind","path","sha256","warc","record_id","offset"}]
    meta_json: str = "{}"
    captured_at: datetime
    collector: str = ""

    def artifacts(self) -> list[dict[str, Any]]:
        return json.loads(self.artifacts_json)

    def links(self) -> list[str]:
        return json.loads(self.links_json)

    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json)


REVIEWABLE_KINDS = ("page", "account", "search_result")
REVIEWABLE_OUTCOMES = ("captured", "exists")


class Assessment(SQLModel, table=True):
    """Screening of one item: identity evidence and policy-category leads (never verdicts)."""

    item_id: str = Field(primary_key=True, foreign_key="item.id")
    case_id: str = Field(index=True)
    identity_level: str
    matches_json: str = "[]"
    contradictions_json: str = "[]"
    identity_reasons_json: str = "[]"
    flags_json: str = "[]"
    outside_lookback: bool = False
    undated: bool = False  # the item states no date: the lookback could not be applied to it
    truncated: bool = False  # only the first part of a very long item was screened
    screened_at: datetime


DECISIONS = ("validated", "rejected", "unverifiable")


class Decision(SQLModel, table=True):
    """A named person's decision on one item. Never updated: a revision is a new row citing it."""

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="item.id", index=True)
    case_id: str = Field(index=True)
    decision: str
    reason: str
    decided_by: str
    decided_at: datetime
    findings_json: str = "[]"  # category ids the decider found the item to show (validated only)
    discredit_justification: str = ""
    mitigating: str = ""
    supersedes: int | None = Field(default=None, foreign_key="decision.id")
    evidence_verified: bool = False

    @property
    def adverse(self) -> bool:
        return self.decision == "validated" and bool(json.loads(self.findings_json))


class Concurrence(SQLModel, table=True):
    """A second person's concurrence with an adverse finding."""

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decision.id", index=True, unique=True)
    concurred_by: str
    concurred_at: datetime
    reason: str = ""
