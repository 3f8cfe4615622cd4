"""Personal values live apart from the log: events and append-only rows carry commitments.

A candidate's personal values (their name and identifiers, the queries and URLs built from
them, excerpts of what was collected, reviewers' free text about them) are never written
into the audit log or into an append-only table. What is written there is a *commitment*::

    hmac-sha256:<hex of HMAC-SHA256(candidate secret, UTF-8 value)>

keyed with a random 32-byte secret per candidate. The value itself goes into
``personal_value`` (commitment -> candidate, value) and the secret into ``candidate_secret``.
Anyone holding the value and the secret recomputes the commitment, so a report shows a value
only after checking it against the event that recorded it. Without the secret the commitment
reveals nothing (the secret is the salt: a dictionary of likely names does not help).

Erasing a candidate (:func:`vetting.store.erasure.erase_candidate`) deletes their values and their
secret: the events keep verifying (their bytes never change), and what they committed to can
no longer be recovered or confirmed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from sqlmodel import Field, Session, SQLModel, select

PREFIX = "hmac-sha256:"
ERASED = "[erased]"


class CandidateSecret(SQLModel, table=True):
    """The key of a candidate's commitments; deleted when the candidate is erased."""

    __tablename__ = "candidate_secret"
    candidate_id: str = Field(primary_key=True)
    secret: str  # hex
    created_at: datetime


class PersonalValue(SQLModel, table=True):
    """A personal value, addressed by its commitment; deleted when its candidate is erased."""

    __tablename__ = "personal_value"
    commitment: str = Field(primary_key=True)
    candidate_id: str = Field(index=True)
    value: str


def is_commitment(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and len(value) == len(PREFIX) + 64


def commitment(secret: bytes, value: str) -> str:
    return PREFIX + hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def secret_of(s: Session, candidate_id: str, *, create: bool = False) -> bytes | None:
    """The candidate's secret (created on first use if ``create``); None once erased."""
    row = s.get(CandidateSecret, candidate_id)
    if row is None:
        if not create:
            return None
        from vetting.domain.models import utcnow

        row = CandidateSecret(candidate_id=candidate_id, secret=secrets.token_hex(32), created_at=utcnow())
        s.add(row)
        s.flush()
    return bytes.fromhex(row.secret)


class PersonalDataErased(LookupError):
    """The candidate's secret is gone (erased): nothing more is recorded about them."""


class Committer:
    """Turns one candidate's values into commitments, storing each value once, in session ``s``.

    The secret is created with the candidate (``create``); afterwards a missing secret means
    the candidate was erased, and committing a new value is refused.
    """

    def __init__(self, s: Session, candidate_id: str, *, create: bool = False) -> None:
        secret = secret_of(s, candidate_id, create=create)
        if secret is None:
            raise PersonalDataErased(f"candidate {candidate_id}'s personal data was erased: nothing more is "
                                     "recorded about them")
        self.s = s
        self.candidate_id = candidate_id
        self.secret = secret
        self._seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        """The commitment of ``value`` ("" and None stay as they are: there is nothing to hide)."""
        if not value:
            return value or ""
        c = commitment(self.secret, value)
        if c not in self._seen:
            self._seen.add(c)
            if self.s.get(PersonalValue, c) is None:
                self.s.add(PersonalValue(commitment=c, candidate_id=self.candidate_id, value=value))
        return c

    def many(self, values: list[str]) -> list[str]:
        return [self(v) for v in values]


class Revealer:
    """Reads committed values back, checking each against its commitment."""

    def __init__(self, s: Session, candidate_id: str) -> None:
        self.s = s
        self.candidate_id = candidate_id
        self.secret = secret_of(s, candidate_id)

    @property
    def erased(self) -> bool:
        return self.secret is None

    def __call__(self, value: str | None) -> str:
        """The value behind a commitment ([erased] once gone); a plain value is returned as is."""
        if not is_commitment(value):
            return value or ""
        assert value is not None
        got = self.value_or_none(value)
        return ERASED if got is None else got

    def value_or_none(self, c: str) -> str | None:
        if self.secret is None:
            return None
        row = self.s.get(PersonalValue, c)
        if row is None or not hmac.compare_digest(commitment(self.secret, row.value), c):
            return None
        return row.value

    def matches(self, c: str, shown: str) -> bool | None:
        """Whether ``shown`` is the value committed to by ``c`` (None: cannot tell, erased)."""
        if not is_commitment(c):
            return c == shown
        if self.secret is None:
            return None
        return hmac.compare_digest(commitment(self.secret, shown), c)


# -- the candidate's identifiers ----------------------------------------------------------
def commit_identifiers(commit: Committer, identifiers: dict[str, Any]) -> str:
    """JSON of the identifiers with every value replaced by its commitment (the row's form)."""
    out: dict[str, Any] = {}
    for key, value in identifiers.items():
        if isinstance(value, list):
            out[key] = [commit(str(v)) for v in value]
        elif value is None:
            out[key] = None
        else:
            out[key] = commit(str(value))
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def reveal_identifiers(reveal: Revealer, identifiers_json: str) -> dict[str, Any]:
    """The identifiers behind a candidate row's commitments ([erased] values once erased)."""
    data = json.loads(identifiers_json)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, list):
            out[key] = [reveal(v) for v in value]
        elif value is None:
            out[key] = None
        else:
            out[key] = reveal(value)
    return out


def store_values(s: Session, candidate_id: str, values: list[str | None]) -> list[str]:
    """Commitments of ``values`` ("" for empty ones), storing the values not stored yet, in ``s``.

    One query for all the values, whatever their number (a batch of request URLs).
    """
    if not any(values):
        return [v or "" for v in values]
    secret = secret_of(s, candidate_id)
    if secret is None:
        raise PersonalDataErased(f"candidate {candidate_id}'s personal data was erased: nothing more is "
                                 "recorded about them")
    out: list[str] = []
    rows: dict[str, str] = {}
    for v in values:
        if not v:
            out.append(v or "")
            continue
        c = commitment(secret, v)
        rows[c] = v
        out.append(c)
    present = set(s.exec(select(PersonalValue.commitment).where(
        PersonalValue.commitment.in_(list(rows)))))  # type: ignore[attr-defined]
    for c, v in rows.items():
        if c not in present:
            s.add(PersonalValue(commitment=c, candidate_id=candidate_id, value=v))
    return out


def candidate_of_case(s: Session, case_id: str) -> str:
    from vetting.domain.models import Case

    case = s.get(Case, case_id)
    if case is None:
        raise LookupError(f"no case {case_id!r}")
    return case.candidate_id


def values_of(s: Session, candidate_id: str) -> list[str]:
    """Every personal value stored for a candidate (what erasure removes)."""
    return list(s.exec(select(PersonalValue.value).where(PersonalValue.candidate_id == candidate_id)))
