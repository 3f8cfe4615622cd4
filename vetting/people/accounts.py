"""The account administrator's acts: add, list, disable, enable, reset, unlock, change roles.

Every act is checked here (the acting account must hold ``admin``; the bootstrap is the one
act with no actor) and recorded as an audit event whose actor is the acting account. An
account is never deleted: its login keeps naming one person in the audit log forever.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import select

from vetting.domain.yamlsource import clip
from vetting.people import passwords, totp
from vetting.people.clock import Clock, aware, system_clock
from vetting.people.models import ACTIVE, DISABLED, Account, AuthSession
from vetting.people.roles import check_roles

if TYPE_CHECKING:
    from vetting.store.workspace import Workspace

LOGIN_RE = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INACTIVE_DAYS = 90  # CJIS AC-2(3): accounts unused this long are disabled
SYSTEM_ACTOR = "system:people"
BOOTSTRAP_ACTOR = "system:bootstrap"


class AccountError(Exception):
    """An account act refused: unknown account, bad field, not permitted. The message says which."""


@dataclass(frozen=True)
class Credentials:
    """Secrets shown once to the admin who created or reset an account, then never again."""

    login: str
    password: str | None = None  # temporary: the first login must replace it
    totp_secret: str | None = None
    totp_uri: str | None = None
    automation_key: str | None = None


def require_admin(actor: Account | None, ws: Workspace | None = None, act: str = "",
                  subject: str | None = None) -> Account:
    """The acting account if it is an active admin; else refuse (audited when ``ws`` is given)."""
    if actor is None or actor.status != ACTIVE or not actor.has_role("admin"):
        reason = "only an account administrator (role admin) may manage accounts"
        if ws is not None:
            record_refusal(ws, actor, act, reason, subject=subject)
        raise AccountError(reason)
    return actor


def record_refusal(ws: Workspace, actor: Account | None, act: str, reason: str, *, subject: str | None = None,
                   case_id: str | None = None) -> None:
    """A refused act is an audit event too: who tried what, and why it was refused."""
    def safe(value: str | None) -> str | None:  # what the caller typed, made fit for the log
        return None if value is None else value.encode("utf-8", "replace").decode("utf-8")[:200]

    ws.record("access.refused", actor=actor.actor if actor is not None else "unauthenticated",
              case_id=safe(case_id), subject=safe(subject), payload={"act": act, "reason": safe(reason) or ""})
    ws.audit.checkpoint()


def _get(s, login: str) -> Account:  # type: ignore[no-untyped-def]
    row = s.get(Account, login)
    if row is None:
        raise AccountError(f"no account {clip(login, 64)!r}")  # a login typed by anyone: never echoed whole
    return row


def get_account(ws: Workspace, login: str) -> Account:
    with ws.session() as s:
        return _get(s, login)


def list_accounts(ws: Workspace) -> list[Account]:
    with ws.session() as s:
        return list(s.exec(select(Account).order_by(Account.login)))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_credentials(ws: Workspace, row: Account) -> Credentials:
    """Fresh local credentials for ``row`` (stored hashed or encrypted), returned once in the clear."""
    if row.has_role("automation"):
        key = "vak_" + secrets.token_urlsafe(32)
        row.automation_key_hash = key_hash(key)
        row.password_hash, row.totp_secret_enc, row.totp_last_step = "", "", -1
        return Credentials(row.login, automation_key=key)
    if row.oidc_subject:
        return Credentials(row.login)  # the identity provider authenticates this person
    password = secrets.token_urlsafe(15)
    secret = totp.new_secret()
    row.password_hash = passwords.hash_password(password)
    row.must_change_password = True
    row.totp_secret_enc = totp.encrypt_secret(ws.key_dir, secret)
    row.totp_last_step = -1
    return Credentials(row.login, password=password, totp_secret=secret,
                       totp_uri=totp.provisioning_uri(secret, row.login))


def _is_text(value: str) -> bool:
    """Valid Unicode (bytes that were not UTF-8 reach argv as lone surrogates, which no log can hold)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_fields(login: str, name: str, email: str, oidc_issuer: str, oidc_subject: str,
                  badge: str = "") -> None:
    for field, value in (("login", login), ("name", name), ("email", email), ("badge", badge),
                         ("oidc issuer", oidc_issuer), ("oidc subject", oidc_subject)):
        if not _is_text(value):
            raise AccountError(f"{field}: not valid UTF-8 text")
        if len(value) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise AccountError(f"{field}: one line of at most 200 characters, no control characters")
    if not LOGIN_RE.fullmatch(login):
        raise AccountError(f"login {clip(login, 64)!r}: 2 to 32 characters, lowercase letters, digits, '.', '_' "
                           "or '-', starting with a letter")
    if not name.strip() or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise AccountError("name: give the person's full name (at most 200 characters, one line)")
    if email and not EMAIL_RE.match(email):
        raise AccountError(f"email {email!r} is not an e-mail address")
    if bool(oidc_issuer) != bool(oidc_subject):
        raise AccountError("an OpenID Connect login needs both the issuer and the subject")


def add_account(ws: Workspace, *, login: str, name: str, roles: list[str], actor: Account | None,
                badge: str = "", email: str = "", oidc_issuer: str = "", oidc_subject: str = "",
                bootstrap: bool = False, now: Clock = system_clock) -> tuple[Account, Credentials]:
    """Create an account with fresh credentials; the bootstrap creates the first admin, with no actor.

    The bootstrap is allowed only while no active, unlocked admin exists (a new workspace, or
    the recovery of one whose admins are all disabled or locked); it is audited as such.
    """
    login = login.strip().lower()
    _check_fields(login, name, email, oidc_issuer, oidc_subject, badge)
    try:
        chosen = check_roles(roles)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if bootstrap:
        if chosen != ("admin",):
            raise AccountError("the bootstrap creates an account administrator: role admin only")
        with ws.session() as s:
            admins = [a for a in s.exec(select(Account)) if a.has_role("admin") and a.status == ACTIVE
                      and a.locked_at is None]
        if admins:
            raise AccountError("an administrator already exists: log in as one (vet login) to add accounts")
        actor_id = BOOTSTRAP_ACTOR
    else:
        actor_id = require_admin(actor, ws, "account.create", login).actor
    if "automation" in chosen and oidc_subject:
        raise AccountError("an automation account logs in with its key, not through an identity provider")
    row = Account(login=login, name=name.strip(), badge=badge.strip(), email=email.strip(),
                  roles_json=_roles_json(chosen), created_at=now(), created_by=actor_id,
                  oidc_issuer=oidc_issuer.strip(), oidc_subject=oidc_subject.strip())
    creds = _new_credentials(ws, row)
    with ws.session() as s:
        if s.get(Account, login) is not None:
            raise AccountError(f"account {login!r} already exists (logins are never reused)")
        s.add(row)
        s.commit()
    ws.record("account.bootstrapped" if bootstrap else "account.created", actor=actor_id, subject=login,
              payload={"name": row.name, "badge": row.badge, "email": row.email, "roles": list(chosen),
                       "oidc_issuer": row.oidc_issuer, "oidc_subject": row.oidc_subject})
    ws.audit.checkpoint()
    return row, creds


def _roles_json(roles: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(roles))


def _end_sessions(s, login: str, reason: str, when) -> int:  # type: ignore[no-untyped-def]
    ended = 0
    for sess in s.exec(select(AuthSession).where(AuthSession.login == login, AuthSession.ended_at == None)):  # noqa: E711
        sess.ended_at, sess.end_reason = when, reason
        s.add(sess)
        ended += 1
    return ended


def _active_admins(s) -> list[Account]:  # type: ignore[no-untyped-def]
    return [a for a in s.exec(select(Account)) if a.has_role("admin") and a.status == ACTIVE]


def disable_account(ws: Workspace, login: str, *, actor: Account, reason: str = "",
                    now: Clock = system_clock) -> Account:
    """Disable an account; every session of it ends at once."""
    require_admin(actor, ws, "account.disable", login)
    if not _is_text(reason) or len(reason) > 500:
        raise AccountError("reason: not valid UTF-8 text, or over 500 characters")
    with ws.session() as s:
        row = _get(s, login)
        if row.status == DISABLED:
            raise AccountError(f"account {login!r} is already disabled")
        if row.has_role("admin") and len(_active_admins(s)) <= 1:
            raise AccountError("the last active administrator cannot be disabled; add another first")
        row.status, row.disabled_reason = DISABLED, reason.strip() or f"disabled by {actor.login}"
        s.add(row)
        ended = _end_sessions(s, login, "account disabled", now())
        s.commit()
    ws.record("account.disabled", actor=actor.actor, subject=login,
              payload={"reason": row.disabled_reason, "sessions_ended": ended})
    ws.audit.checkpoint()
    return row


def enable_account(ws: Workspace, login: str, *, actor: Account, now: Clock = system_clock) -> Account:
    """Enable a disabled account; its 90-day clock starts again now."""
    require_admin(actor, ws, "account.enable", login)
    with ws.session() as s:
        row = _get(s, login)
        if row.status == ACTIVE:
            raise AccountError(f"account {login!r} is already enabled")
        previous = row.disabled_reason
        row.status, row.disabled_reason, row.last_used_at = ACTIVE, "", now()
        s.add(row)
        s.commit()
    ws.record("account.enabled", actor=actor.actor, subject=login, payload={"was_disabled_for": previous})
    ws.audit.checkpoint()
    return row


def unlock_account(ws: Workspace, login: str, *, actor: Account, now: Clock = system_clock) -> Account:
    """Clear a lockout; the failures stay on record but count no more (the count starts again)."""
    require_admin(actor, ws, "account.unlock", login)
    with ws.session() as s:
        row = _get(s, login)
        if row.locked_at is None:
            raise AccountError(f"account {login!r} is not locked")
        locked_at = aware(row.locked_at)
        row.locked_at, row.failures_since = None, now()
        s.add(row)
        s.commit()
    ws.record("account.unlocked", actor=actor.actor, subject=login,
              payload={"locked_at": locked_at.isoformat()})
    ws.audit.checkpoint()
    return row


def reset_account(ws: Workspace, login: str, *, actor: Account, now: Clock = system_clock) -> Credentials:
    """New password and TOTP secret (or automation key), shown once; unlocks and ends every session."""
    require_admin(actor, ws, "account.reset", login)
    if actor.login == login:
        raise AccountError("an administrator cannot reset their own credentials; another admin must")
    with ws.session() as s:
        row = _get(s, login)
        if row.oidc_subject:
            raise AccountError(f"account {login!r} logs in through the identity provider; reset it there")
        creds = _new_credentials(ws, row)
        row.locked_at, row.failures_since = None, now()
        s.add(row)
        ended = _end_sessions(s, login, "credentials reset", now())
        s.commit()
    ws.record("account.reset", actor=actor.actor, subject=login, payload={"sessions_ended": ended})
    ws.audit.checkpoint()
    return creds


def change_roles(ws: Workspace, login: str, *, actor: Account, grant: list[str] = (),  # type: ignore[assignment]
                 revoke: list[str] = ()) -> Account:  # type: ignore[assignment]
    """Grant and revoke roles at once; the result must be a role set one account may hold."""
    require_admin(actor, ws, "account.roles", login)
    with ws.session() as s:
        row = _get(s, login)
        before = row.roles
        wanted = (set(before) | {r.strip().lower() for r in grant}) - {r.strip().lower() for r in revoke}
        try:
            after = check_roles(sorted(wanted))
        except ValueError as exc:
            raise AccountError(f"{login}: {exc}") from None
        if after == before:
            raise AccountError(f"account {login!r} already has exactly the roles {', '.join(before)}")
        if ("automation" in before) != ("automation" in after):
            raise AccountError("an automation account cannot become a person's account, nor the reverse; "
                               "add a new account")
        if "admin" in before and "admin" not in after and row.status == ACTIVE and len(_active_admins(s)) <= 1:
            raise AccountError("the last active administrator keeps the admin role; add another first")
        row.roles_json = _roles_json(after)
        s.add(row)
        s.commit()
    ws.record("account.roles_changed", actor=actor.actor, subject=login,
              payload={"before": list(before), "after": list(after)})
    ws.audit.checkpoint()
    return row


def disable_inactive(ws: Workspace, *, now: Clock = system_clock) -> list[str]:
    """Disable every active account unused for :data:`INACTIVE_DAYS`; return their logins.

    Run before every login and every account listing, so no unused account survives its
    limit by more than the time to the next use of the toolkit.
    """
    cutoff = now() - timedelta(days=INACTIVE_DAYS)
    disabled: list[tuple[str, str]] = []
    with ws.session() as s:
        for row in s.exec(select(Account).where(Account.status == ACTIVE)):
            last = aware(row.last_used_at or row.created_at)
            if last < cutoff:
                row.status = DISABLED
                row.disabled_reason = f"unused for {INACTIVE_DAYS} days (last used {last.date().isoformat()})"
                s.add(row)
                _end_sessions(s, row.login, "account disabled", now())
                disabled.append((row.login, last.isoformat()))
        s.commit()
    for login, last in disabled:
        ws.record("account.disabled", actor=SYSTEM_ACTOR, subject=login,
                  payload={"reason": f"unused for {INACTIVE_DAYS} days", "last_used_at": last})
    if disabled:
        ws.audit.checkpoint()
    return [login for login, _ in disabled]
