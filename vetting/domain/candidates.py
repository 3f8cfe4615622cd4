"""Candidates: their identifiers and the signed authorization without which nothing is searched."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from vetting.domain.authorization import read_authorization
from vetting.domain.models import Candidate, utcnow
from vetting.domain.textfields import Date, Identifier, Label, Name
from vetting.domain.yamlsource import InputError, Problem, clip, load_yaml_file, validate_model
from vetting.errors import UnknownName
from vetting.store.personal import Revealer, commit_identifiers, reveal_identifiers
from vetting.store.workspace import Workspace

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://[^\s/]+", re.I)
_ID = r"^[a-z0-9][a-z0-9._-]{1,63}$"
#: Most values one list identifier (aliases, e-mails, usernames...) may hold.
MAX_LIST = 50


class Authorization(BaseModel):
    """The candidate's signed authorization for the background investigation."""

    model_config = ConfigDict(extra="forbid")
    file: Identifier
    signed_on: Date


class CandidateInput(BaseModel):
    """What an investigator enters for a candidate (YAML file or ``vet candidate add`` flags)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, pattern=_ID)
    full_name: Name
    aliases: list[Name] = Field([], max_length=MAX_LIST)
    date_of_birth: Date | None = None
    city: Label | None = None
    state: Label | None = None
    emails: list[Identifier] = Field([], max_length=MAX_LIST)
    phones: list[Label] = Field([], max_length=MAX_LIST)
    usernames: list[str] = Field([], max_length=MAX_LIST)
    profile_urls: list[Identifier] = Field([], max_length=MAX_LIST)
    authorization: Authorization | None = None

    @field_validator("city", "state", mode="before")
    @classmethod
    def _blank_is_absent(cls, v: object) -> object:
        return None if isinstance(v, str) and v == "" else v

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for e in v:
            if len(e) > 254 or not _EMAIL.match(e):
                raise ValueError(f"{clip(e)!r} is not an e-mail address")
        return v

    @field_validator("phones")
    @classmethod
    def _phones(cls, v: list[str]) -> list[str]:
        from vetting.screening.identity_matchers import e164

        for p in v:
            if e164(p) is None:  # a number identity screening could never compare
                raise ValueError(f"{p!r} is not a complete phone number (area code, and +country code "
                                 f"outside the US)")
        return v

    @field_validator("profile_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if not _URL.match(u) or re.search(r"\s", u):
                raise ValueError(f"{clip(u)!r} is not an http(s) URL")
        return v

    @field_validator("usernames")
    @classmethod
    def _usernames(cls, v: list[str]) -> list[str]:
        for u in v:
            if not re.fullmatch(r"[\w.\-]{1,64}", u):
                raise ValueError(f"{clip(u)!r} is not a plausible username (letters, digits, . _ - only)")
        return v

    @field_validator("date_of_birth")
    @classmethod
    def _dob(cls, v: date | None) -> date | None:
        if v is not None and not (date(1900, 1, 1) <= v <= date.today()):
            raise ValueError("date of birth is not plausible")
        return v

    def identifiers(self) -> dict[str, Any]:
        """The identifiers a procedure may template inputs from."""
        data = self.model_dump(mode="json", exclude={"id", "authorization"})
        return data


class CandidateError(Exception):
    """Adding a candidate is refused, with the reason."""


class UnknownCandidate(UnknownName, CandidateError):
    """No candidate with that id (exit 2, with the command that lists them)."""


def slugify(name: str) -> str:
    """The default candidate id from a name: ASCII letters and digits joined by hyphens ("" if none)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:60].strip("-")


def load_candidate_file(path: Path) -> tuple[CandidateInput, Path | None]:
    """Parse a candidate YAML file; return it and the authorization file's path (resolved)."""
    doc = load_yaml_file(path)
    cand = validate_model(CandidateInput, doc)
    auth_path = (path.parent / cand.authorization.file) if cand.authorization else None
    return cand, auth_path


def add_candidate(ws: Workspace, cand: CandidateInput, auth_path: Path | None, by: str,
                  source: str = "flags") -> Candidate:
    """Store a candidate with the sha256 of their signed authorization; refuse without one."""
    problems: list[Problem] = []
    document = None
    if cand.authorization is None or auth_path is None:
        problems.append(Problem(source, None, "authorization",
                                "no signed authorization: no search without one (give the file and "
                                "its signing date)"))
    else:
        document, refusal = read_authorization(auth_path)
        if refusal:
            problems.append(Problem(source, None, "authorization.file", refusal))
        if cand.authorization.signed_on > date.today():
            problems.append(Problem(source, None, "authorization.signed_on", "is in the future"))
    if not by.strip():
        problems.append(Problem(source, None, "--by", "name the investigator adding the candidate"))
    candidate_id = cand.id or slugify(cand.full_name)
    if not re.match(_ID, candidate_id):
        problems.append(Problem(source, None, "id", f"the name {clip(cand.full_name, 40)!r} gives no usable id "
                                                    "(letters a-z and digits); give one with --id or 'id:'"))
    else:
        with ws.session() as s:
            if s.get(Candidate, candidate_id) is not None:
                problems.append(Problem(source, None, "id", f"candidate {candidate_id!r} already exists"))
    if problems:
        raise InputError(problems)
    assert cand.authorization is not None and auth_path is not None and document is not None
    rel, digest = ws.store_bytes(document.data, suffix=document.suffix)
    identifiers = cand.identifiers()
    try:
        row = _record_candidate(ws, candidate_id, cand, identifiers, rel, digest, by, source)
    except IntegrityError:  # the same id added by another process at the same moment
        raise InputError([Problem(source, None, "id", f"candidate {candidate_id!r} already exists")]) from None
    ws.audit.checkpoint()
    return row


def _record_candidate(ws: Workspace, candidate_id: str, cand: CandidateInput, identifiers: dict[str, Any],
                      rel: str, digest: str, by: str, source: str) -> Candidate:
    """The candidate row, their secret and values, and the ``candidate.added`` event, in one transaction."""
    assert cand.authorization is not None
    with ws.transaction() as tx:
        commit = tx.committer(candidate_id, create=True)
        row = Candidate(
            id=candidate_id, full_name=commit(cand.full_name),
            identifiers_json=commit_identifiers(commit, identifiers),
            authorization_sha256=digest, authorization_path=rel,
            authorization_signed_on=cand.authorization.signed_on, added_by=by.strip(), added_at=utcnow(),
        )
        tx.session.add(row)
        # The event binds every field of the row; personal values only by their commitments.
        tx.record("candidate.added", actor=by.strip(), subject=candidate_id,
                  payload={"full_name": row.full_name, "identifiers": json.loads(row.identifiers_json),
                           "source": source if source in ("flags", "command line") else commit(source),
                           "authorization_signed_on": cand.authorization.signed_on.isoformat(),
                           "identifier_counts": {k: (len(v) if isinstance(v, list) else int(v is not None))
                                                 for k, v in identifiers.items()},
                           "artifacts": [{"path": rel, "sha256": digest}]})
    return row


def candidate_identifiers(ws: Workspace, candidate: Candidate) -> dict[str, Any]:
    """The candidate's identifiers, read back from the personal values ([erased] once erased)."""
    with ws.session() as s:
        return reveal_identifiers(Revealer(s, candidate.id), candidate.identifiers_json)


def candidate_erased(ws: Workspace, candidate_id: str) -> bool:
    """Whether the candidate's personal values and secret were erased."""
    with ws.session() as s:
        return Revealer(s, candidate_id).erased


def candidate_name(ws: Workspace, candidate: Candidate) -> str:
    with ws.session() as s:
        return Revealer(s, candidate.id)(candidate.full_name)


def get_candidate(ws: Workspace, candidate_id: str) -> Candidate:
    with ws.session() as s:
        row = s.get(Candidate, candidate_id)
        if row is None:
            known = [c.id for c in s.exec(select(Candidate))]
            raise UnknownCandidate(f"no candidate {clip(candidate_id, 80)!r}"
                              + (f"; known: {clip(', '.join(known), 200)}" if known else "")
                              + ". List them with 'vet candidate list'.")
        return row


def list_candidates(ws: Workspace) -> list[Candidate]:
    with ws.session() as s:
        return list(s.exec(select(Candidate).order_by(Candidate.id)))
