"""The tables of records over time (issue 17): hiring outcomes, legal holds, notices, responses.

Free text a person writes about a candidate (a hold's reason, how a notice was sent) is stored
as a commitment of the candidate's personal values (:mod:`vetting.store.personal`), never in the
clear, so erasing the candidate erases it; the response itself lives in the evidence store
(content-addressed), and its rows keep only paths and hashes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel

from vetting.errors import AccessRefused

HIRED = "hired"
NOT_HIRED = "not-hired"
OUTCOMES = (HIRED, NOT_HIRED)


class RecordsRefused(AccessRefused):
    """A records rule said no (a held case, a notice in the future, no notice before a response):
    one line, exit 1, nothing changed."""


class HiringOutcome(SQLModel, table=True):
    """The hiring decision about a candidate (the personnel action retention counts from).
    Append-only: a later row revises an earlier one; the last is in force."""

    __tablename__ = "hiring_outcome"

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(foreign_key="candidate.id", index=True)
    outcome: str  # hired | not-hired
    decided_on: date
    recorded_by: str
    recorded_at: datetime
    event_seq: int = 0


class LegalHold(SQLModel, table=True):
    """A legal hold on one case: while it is in force the case is never disposed of."""

    __tablename__ = "legal_hold"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    reason: str  # a commitment (vetting.store.personal) of the reason given
    placed_by: str
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str = ""  # a commitment too


class CandidateNotice(SQLModel, table=True):
    """The candidate was told of the findings before they are used (pre-adverse-action notice)."""

    __tablename__ = "candidate_notice"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    notified_on: date
    method: str  # a commitment of how (letter, e-mail, in person ...)
    window_days: int
    recorded_by: str
    recorded_at: datetime
    event_seq: int = 0


class CandidateResponse(SQLModel, table=True):
    """The candidate's response: a document in the evidence store (text) and its attachments."""

    __tablename__ = "candidate_response"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    item_id: str | None = None  # the finding it answers; None: the case as a whole
    received_on: date
    document_path: str
    document_sha256: str
    attachments_json: str = "[]"  # [{"path","sha256","size","name"(commitment)}]
    recorded_by: str
    recorded_at: datetime
    event_seq: int = 0

    def attachments(self) -> list[dict[str, Any]]:
        return list(json.loads(self.attachments_json or "[]"))


RECORDS_TABLES = (HiringOutcome, LegalHold, CandidateNotice, CandidateResponse)
