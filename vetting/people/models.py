"""The tables of people: accounts, login attempts, sessions, case assignments, report releases.

An account is a person (or, for ``automation``, a script) and is never deleted: a login name,
once used, names the same account forever, so an audit event's actor (``user:<login>``) keeps
meaning the same person after the account is disabled. Secrets are never stored in the clear:
passwords as argon2id hashes, TOTP secrets encrypted with a key kept in the workspace's
``keys/`` folder, session tokens and automation keys as SHA-256 hashes (they are 256-bit
random values, so a slow hash adds nothing).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

#: Every role an account may hold; see docs/accounts.md for what each may do.
ROLES = ("investigator", "supervisor", "commander", "hiring", "admin", "automation")

#: Roles an account can hold only alone (see :func:`vetting.people.roles.check_roles`).
EXCLUSIVE_ROLES = ("admin", "automation")

ACTIVE, DISABLED = "active", "disabled"

#: Every time here is UTC. On PostgreSQL the columns are ``timestamptz`` so a server whose
#: time zone is not UTC still returns the same instant (idle and lockout windows depend on it);
#: SQLite keeps the UTC wall time and :func:`vetting.people.clock.aware` puts the zone back.
UTC_TIME = DateTime(timezone=True)


class Account(SQLModel, table=True):
    """A person (or an automation) who acts in the workspace."""

    login: str = Field(primary_key=True)  # immutable; the audit actor is "user:<login>"
    name: str
    badge: str = ""  # employee or badge number
    email: str = ""
    roles_json: str = "[]"
    status: str = ACTIVE  # active | disabled
    disabled_reason: str = ""
    # set after too many failed logins; only an admin clears it
    locked_at: datetime | None = Field(default=None, sa_type=UTC_TIME)
    # failures before this time no longer count (set by an unlock or a reset)
    failures_since: datetime | None = Field(default=None, sa_type=UTC_TIME)
    password_hash: str = ""  # argon2id, PHC string (parameters inside)
    must_change_password: bool = False  # set by an admin's reset: the next login chooses a new one
    totp_secret_enc: str = ""  # Fernet token of the base32 secret
    totp_last_step: int = -1  # last accepted TOTP time-step: a code is never accepted twice
    automation_key_hash: str = ""  # sha256 hex of an automation account's key
    oidc_issuer: str = ""  # an identity provider's issuer and subject, for OpenID Connect logins
    oidc_subject: str = ""
    created_at: datetime = Field(sa_type=UTC_TIME)
    created_by: str
    # last login or token use: 90 days without either disables the account
    last_used_at: datetime | None = Field(default=None, sa_type=UTC_TIME)

    @property
    def actor(self) -> str:
        """The audit actor of everything this account does."""
        return f"user:{self.login}"

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(json.loads(self.roles_json))

    def has_role(self, role: str) -> bool:
        return role in self.roles


class LoginAttempt(SQLModel, table=True):
    """One login attempt against an existing account: failures in a window lock it."""

    id: int | None = Field(default=None, primary_key=True)
    login: str = Field(foreign_key="account.login", index=True)
    at: datetime = Field(sa_type=UTC_TIME)
    ok: bool
    method: str  # password | automation-key | oidc
    reason: str = ""


class AuthSession(SQLModel, table=True):
    """A logged-in session; only the SHA-256 of its token is kept."""

    token_sha256: str = Field(primary_key=True)
    login: str = Field(foreign_key="account.login", index=True)
    kind: str = "cli"  # cli | web
    method: str  # password+totp | automation-key | oidc
    created_at: datetime = Field(sa_type=UTC_TIME)
    expires_at: datetime = Field(sa_type=UTC_TIME)  # absolute end (12 hours after login)
    last_used_at: datetime = Field(sa_type=UTC_TIME)  # idle end is this + 30 minutes
    first_used_at: datetime | None = Field(default=None, sa_type=UTC_TIME)
    ended_at: datetime | None = Field(default=None, sa_type=UTC_TIME)
    end_reason: str = ""  # logout | account disabled | idle | expired | password reset


class CaseAssignment(SQLModel, table=True):
    """An investigator assigned to a case; ended rather than deleted."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    login: str = Field(foreign_key="account.login", index=True)
    assigned_by: str
    assigned_at: datetime = Field(sa_type=UTC_TIME)
    ended_by: str | None = None
    ended_at: datetime | None = Field(default=None, sa_type=UTC_TIME)


class ReportRelease(SQLModel, table=True):
    """A case's findings report released to a named hiring account; revoked rather than deleted."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="case.id", index=True)
    login: str = Field(foreign_key="account.login", index=True)
    released_by: str
    released_at: datetime = Field(sa_type=UTC_TIME)
    revoked_by: str | None = None
    revoked_at: datetime | None = Field(default=None, sa_type=UTC_TIME)


class IdentityProvider(SQLModel, table=True):
    """The agency's OpenID Connect provider (at most one row, id 1); a public client using PKCE."""

    id: int = Field(default=1, primary_key=True)
    issuer: str
    client_id: str
    configured_by: str
    configured_at: datetime = Field(sa_type=UTC_TIME)


PEOPLE_TABLES = (Account, LoginAttempt, AuthSession, CaseAssignment, ReportRelease, IdentityProvider)
