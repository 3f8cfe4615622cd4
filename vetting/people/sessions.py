"""Logging in and out, lockout, session tokens, and ``current_account``.

The rules (CJIS Security Policy 5.9.5 / AC-7, AC-11, AC-12, IA-2; ASVS 5.0 V6 and V7):

- a local login is a password (argon2id) and a TOTP code; an automation account presents its
  key; an OpenID Connect login is proven by the identity provider (:mod:`vetting.people.oidc`);
- :data:`MAX_FAILURES` failed logins within :data:`FAILURE_WINDOW` (counted since the last
  success) lock the account until an admin unlocks it; the right password is refused while
  it is locked;
- a session token lives :data:`ABSOLUTE_LIFETIME` and dies after :data:`IDLE_LIMIT` without
  use; a disabled account's sessions end at once; only the SHA-256 of a token is stored;
- logins (success and failure), lockouts, logouts, the first use of each session and every
  refused token are audit events whose actor is the account (``user:<login>``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import select

from vetting.people import passwords, totp
from vetting.people.accounts import LOGIN_RE, disable_inactive, key_hash
from vetting.people.clock import Clock, aware, system_clock
from vetting.people.models import ACTIVE, Account, AuthSession, LoginAttempt

if TYPE_CHECKING:
    from vetting.store.workspace import Workspace

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
ABSOLUTE_LIFETIME = timedelta(hours=12)
IDLE_LIMIT = timedelta(minutes=30)
#: A session's idle clock is written at most this often: a browser's every page (and each
#: htmx poll) would otherwise be a database write, the one thing concurrent requests queue on
#: with SQLite. The idle limit can only come this much sooner, never later.
IDLE_REFRESH = timedelta(seconds=15)
UNAUTHENTICATED = "unauthenticated"
WRONG_CREDENTIALS = "login refused: wrong login, password or code"


class LoginRefused(Exception):
    """A login that did not succeed; the message is safe to show (no hint which factor failed)."""


class NotAuthenticated(Exception):
    """No valid session: not logged in, or the token is expired, idle, ended or its account disabled."""


@dataclass(frozen=True)
class Issued:
    """A new session: the token (given to the user once) and the stored row."""

    token: str
    session: AuthSession
    account: Account


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_id(token_sha256: str) -> str:
    """The short name of a session in the audit log (a prefix of its token's hash)."""
    return token_sha256[:16]


def _clip(value: str, limit: int = 64) -> str:
    """A value from outside, made safe for the log: valid UTF-8 and bounded."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= limit else value[:limit] + "…"


# -- logging in ------------------------------------------------------------------------------
def _refuse_unknown(ws: Workspace, login: str, method: str) -> LoginRefused:
    # A password typed into the login prompt must not land in a log that can never be erased:
    # only something shaped like a login name is recorded.
    shown = login if LOGIN_RE.fullmatch(login) else "(not a login name)"
    ws.record("auth.login_failed", actor=UNAUTHENTICATED, subject=None,
              payload={"login": shown, "method": method, "reason": "no such account"})
    ws.audit.checkpoint()
    return LoginRefused(WRONG_CREDENTIALS)


def _refuse_state(ws: Workspace, row: Account, method: str) -> LoginRefused | None:
    """A disabled or locked account is refused before its credentials are looked at."""
    if row.status != ACTIVE:
        reason, message = "account disabled", f"login refused: account {row.login} is disabled ({row.disabled_reason})"
    elif row.locked_at is not None:
        reason = "account locked"
        message = (f"login refused: account {row.login} is locked after {MAX_FAILURES} failed logins; "
                   "an administrator must unlock it (vet user unlock)")
    else:
        return None
    ws.record("auth.login_refused", actor=row.actor, subject=row.login, payload={"method": method, "reason": reason})
    ws.audit.checkpoint()
    return LoginRefused(message)


def _fail(ws: Workspace, row: Account, method: str, reason: str, now: datetime) -> LoginRefused:
    """Record a failed attempt; the one that reaches the limit locks the account."""
    locked = False
    with ws.session() as s:
        s.add(LoginAttempt(login=row.login, at=now, ok=False, method=method, reason=reason))
        s.flush()
        since = now - FAILURE_WINDOW
        last_ok = s.exec(select(LoginAttempt.at).where(LoginAttempt.login == row.login, LoginAttempt.ok == True)  # noqa: E712
                         .order_by(LoginAttempt.at.desc()).limit(1)).first()  # type: ignore[attr-defined]
        current = s.get(Account, row.login)
        assert current is not None
        # consecutive failures: counted since the window opened, the last success, or an unlock
        for start in (last_ok, current.failures_since):
            if start is not None and aware(start) > since:
                since = aware(start)
        failures = [a for a in s.exec(select(LoginAttempt).where(LoginAttempt.login == row.login,
                                                                    LoginAttempt.ok == False))  # noqa: E712
                    if aware(a.at) > since or aware(a.at) == now]
        if len(failures) >= MAX_FAILURES and current.locked_at is None:
            current.locked_at = now
            s.add(current)
            locked = True
        s.commit()
    ws.record("auth.login_failed", actor=row.actor, subject=row.login,
              payload={"method": method, "reason": reason, "failures_in_window": len(failures)})
    if locked:
        ws.record("auth.locked", actor=row.actor, subject=row.login,
                  payload={"failures": len(failures), "window_minutes": int(FAILURE_WINDOW.total_seconds() // 60)})
    ws.audit.checkpoint()
    if locked:
        return LoginRefused(f"login refused: account {row.login} is now locked after {MAX_FAILURES} failed logins; "
                            "an administrator must unlock it (vet user unlock)")
    return LoginRefused(WRONG_CREDENTIALS)


def _open_session(ws: Workspace, row: Account, method: str, now: datetime, kind: str,
                  changes: Callable[[Account], None] | None = None, totp_step: int | None = None) -> Issued:
    """Open the session in one transaction that re-checks the account: a login may race another, or a lock.

    The account must still be active and unlocked (parallel password guesses that locked it
    meanwhile win over a lucky one), and a TOTP step is claimed with a conditional update: of
    two logins presenting the same code at once, exactly one gets a session.
    """
    token = secrets.token_urlsafe(32)
    sess = AuthSession(token_sha256=token_hash(token), login=row.login, kind=kind, method=method,
                       created_at=now, expires_at=now + ABSOLUTE_LIFETIME, last_used_at=now)
    conditions = [Account.login == row.login, Account.status == ACTIVE, Account.locked_at == None]  # noqa: E711
    values: dict[str, object] = {"last_used_at": now}
    if totp_step is not None:
        conditions.append(Account.totp_last_step < totp_step)
        values["totp_last_step"] = totp_step
    with ws.session() as s:
        claimed = s.execute(update(Account).where(*conditions).values(**values))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            s.rollback()
            latest = s.get(Account, row.login, populate_existing=True)
            refused = _refuse_state(ws, latest, method) if latest is not None else None
            raise refused or _fail(ws, row, method, "code already used", now)
        current = s.get(Account, row.login)
        assert current is not None
        if changes is not None:
            changes(current)
            s.add(current)
        s.add(LoginAttempt(login=row.login, at=now, ok=True, method=method))
        s.add(sess)
        s.commit()
        row = current
    ws.record("auth.login", actor=row.actor, subject=row.login,
              payload={"method": method, "kind": kind, "session": session_id(sess.token_sha256),
                       "expires_at": sess.expires_at.isoformat()})
    ws.audit.checkpoint()
    return Issued(token, sess, row)


def _account_for_login(ws: Workspace, login: str, method: str, now: Clock) -> Account:
    disable_inactive(ws, now=now)
    with ws.session() as s:
        row = s.get(Account, login.strip().lower()) if login.strip() else None
    if row is None:
        raise _refuse_unknown(ws, login, method)
    refused = _refuse_state(ws, row, method)
    if refused is not None:
        raise refused
    return row


def login_password(ws: Workspace, login: str, password: str, code: str, *,
                   choose_password: Callable[[], str] | None = None, kind: str = "cli",
                   now: Clock = system_clock) -> Issued:
    """Password and TOTP code; an account whose password was reset must choose a new one.

    ``choose_password`` is asked only after both factors were accepted; if the new password
    breaks the rules, nothing is changed and the TOTP code is not used up.
    """
    method = "password+totp"
    try:
        row = _account_for_login(ws, login, method, now)
    except LoginRefused:
        passwords.burn_time(password)
        raise
    at = now()
    if row.has_role("automation") or not row.password_hash:
        why = "an automation key" if row.has_role("automation") else "the identity provider (vet login --oidc)"
        raise LoginRefused(f"login refused: account {row.login} logs in with {why}")
    checked = passwords.verify_password(row.password_hash, password)
    if not checked.ok:
        raise _fail(ws, row, method, "wrong password", at)
    secret = totp.decrypt_secret(ws.key_dir, row.totp_secret_enc)
    step = totp.accepted_step(secret, code, now=at, last_step=-1)
    if step is None:
        raise _fail(ws, row, method, "wrong code", at)
    if step <= row.totp_last_step:
        raise _fail(ws, row, method, "code already used", at)
    new_hash = checked.new_hash
    if row.must_change_password:
        if choose_password is None:
            raise LoginRefused(f"login refused: account {row.login} must choose a new password first "
                               "(run vet login and give one)")
        new_password = choose_password()
        passwords.check_new_password(new_password, login=row.login, name=row.name, others=(row.badge, row.email))
        if passwords.verify_password(row.password_hash, new_password).ok:
            raise passwords.PasswordRuleError("the new password must differ from the temporary one")
        new_hash = passwords.hash_password(new_password)
    changed = row.must_change_password

    def apply(current: Account) -> None:
        if new_hash is not None:
            current.password_hash = new_hash
        current.must_change_password = False

    issued = _open_session(ws, row, method, at, kind, apply, totp_step=step)
    if changed:
        ws.record("account.password_changed", actor=row.actor, subject=row.login, payload={"at_login": True})
        ws.audit.checkpoint()
    return issued


def change_own_password(ws: Workspace, account: Account, current: str, new: str) -> None:
    """A logged-in person replaces their password; the current one is asked again (ASVS V6.2).

    A wrong current password counts as a failed login: a borrowed session is not a way around
    the lockout. The account's other sessions stay open.
    """
    with ws.session() as s:
        row = s.get(Account, account.login)
    if row is None or not row.password_hash:
        raise LoginRefused(f"account {account.login} has no local password (it logs in another way)")
    if not passwords.verify_password(row.password_hash, current).ok:
        raise _fail(ws, row, "password-change", "wrong current password", system_clock())
    passwords.check_new_password(new, login=row.login, name=row.name, others=(row.badge, row.email))
    if passwords.verify_password(row.password_hash, new).ok:
        raise passwords.PasswordRuleError("the new password must differ from the current one")
    with ws.session() as s:
        current_row = s.get(Account, account.login)
        assert current_row is not None
        current_row.password_hash = passwords.hash_password(new)
        current_row.must_change_password = False
        s.add(current_row)
        s.commit()
    ws.record("account.password_changed", actor=row.actor, subject=row.login, payload={"at_login": False})
    ws.audit.checkpoint()


def confirm_identity(ws: Workspace, account: Account, password: str, code: str, *, act: str,
                     now: Clock = system_clock) -> None:
    """Step-up: a logged-in person proves again who they are before a weighty act (concurring,
    approving a procedure), with the password and a fresh TOTP code (ASVS V6.8, CJIS AC-11).

    A wrong answer counts as a failed login (a borrowed session is not a way around the lockout)
    and raises :class:`LoginRefused`; the code is used up, so one code never confirms twice.
    An account that logs in through an identity provider has no local factors to re-check: it
    is refused with that reason (it re-authenticates by logging in again).
    """
    method = "step-up"
    at = now()
    with ws.session() as s:
        row = s.get(Account, account.login)
    if row is None:
        raise LoginRefused(WRONG_CREDENTIALS)
    refused = _refuse_state(ws, row, method)
    if refused is not None:
        raise refused
    if not row.password_hash or not row.totp_secret_enc:
        raise LoginRefused(f"account {row.login} has no local password and code to confirm with: "
                           "log out and in again through the identity provider, then repeat")
    if not passwords.verify_password(row.password_hash, password).ok:
        raise _fail(ws, row, method, "wrong password", at)
    secret = totp.decrypt_secret(ws.key_dir, row.totp_secret_enc)
    step = totp.accepted_step(secret, code, now=at, last_step=-1)
    if step is None:
        raise _fail(ws, row, method, "wrong code", at)
    with ws.session() as s:
        claimed = s.execute(update(Account).where(Account.login == row.login, Account.totp_last_step < step)
                            .values(totp_last_step=step))
        s.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise _fail(ws, row, method, "code already used", at)
    ws.record("auth.step_up", actor=row.actor, subject=row.login, payload={"act": _clip(act)})
    ws.audit.checkpoint()


def login_automation(ws: Workspace, login: str, key: str, *, kind: str = "cli",
                     now: Clock = system_clock) -> Issued:
    """An automation account's login with the key its admin was shown once."""
    method = "automation-key"
    row = _account_for_login(ws, login, method, now)
    at = now()
    if not row.has_role("automation"):
        raise LoginRefused(f"login refused: account {row.login} is a person's; log in with password and code")
    if not secrets.compare_digest(row.automation_key_hash, key_hash(key.strip())):
        raise _fail(ws, row, method, "wrong key", at)
    return _open_session(ws, row, method, at, kind)


def login_identity(ws: Workspace, issuer: str, subject: str, *, kind: str = "cli",
                   now: Clock = system_clock) -> Issued:
    """Open a session for the account bound to a verified OpenID Connect identity (issuer, subject)."""
    method = "oidc"
    disable_inactive(ws, now=now)
    with ws.session() as s:
        row = s.exec(select(Account).where(Account.oidc_issuer == issuer, Account.oidc_subject == subject)).first()
    if row is None:
        ws.record("auth.login_failed", actor=UNAUTHENTICATED,
                  payload={"method": method, "issuer": _clip(issuer, 200), "subject": _clip(subject),
                           "reason": "no account bound to this identity"})
        ws.audit.checkpoint()
        raise LoginRefused("login refused: no account is bound to this identity; ask an administrator")
    refused = _refuse_state(ws, row, method)
    if refused is not None:
        raise refused
    return _open_session(ws, row, method, now(), kind)


def record_identity_failure(ws: Workspace, issuer: str, reason: str) -> None:
    """A refused OpenID Connect response (bad signature, audience, nonce, expiry) is audited too."""
    ws.record("auth.login_failed", actor=UNAUTHENTICATED,
              payload={"method": "oidc", "issuer": _clip(issuer, 200), "reason": _clip(reason, 300)})
    ws.audit.checkpoint()


# -- using a session -------------------------------------------------------------------------
def _end(ws: Workspace, sess: AuthSession, reason: str, now: datetime) -> None:
    with ws.session() as s:
        current = s.get(AuthSession, sess.token_sha256)
        if current is not None and current.ended_at is None:
            current.ended_at, current.end_reason = now, reason
            s.add(current)
            s.commit()


def _refuse_token(ws: Workspace, sess: AuthSession | None, reason: str, message: str,
                  now: datetime) -> NotAuthenticated:
    if sess is not None:
        _end(ws, sess, reason, now)
    ws.record("auth.session_refused", actor=f"user:{sess.login}" if sess else UNAUTHENTICATED,
              subject=sess.login if sess else None,
              payload={"reason": reason, "session": session_id(sess.token_sha256) if sess else None})
    ws.audit.checkpoint()
    return NotAuthenticated(message)


def account_for_token(ws: Workspace, token: str, *, now: Clock = system_clock, touch: bool = True) -> Account:
    """The account a token speaks for, refreshing its idle timer; raise :class:`NotAuthenticated`.

    ``touch=False`` checks the session without refreshing it: a page polling in the background
    (the web application's progress of a run) is not the person using the session, and must
    not keep an unattended browser logged in past the idle limit.
    """
    at = now()
    digest = token_hash(token)
    with ws.session() as s:
        sess = s.get(AuthSession, digest)
        row = s.get(Account, sess.login) if sess is not None else None
    if sess is None or row is None:
        raise _refuse_token(ws, None, "unknown token", "the session is not known here (logged out, or from "
                            "another workspace): run vet login", at)
    if sess.ended_at is not None:
        raise _refuse_token(ws, sess, sess.end_reason or "ended",
                            f"the session has ended ({sess.end_reason}): run vet login", at)
    if at >= aware(sess.expires_at):
        raise _refuse_token(ws, sess, "expired", "the session expired (12 hours after login): run vet login", at)
    if at - aware(sess.last_used_at) >= IDLE_LIMIT:
        raise _refuse_token(ws, sess, "idle", "the session ended after 30 minutes without use: run vet login", at)
    if row.status != ACTIVE:
        raise _refuse_token(ws, sess, "account disabled", f"account {row.login} is disabled: its sessions have "
                            "ended", at)
    first = sess.first_used_at is None
    if not touch and not first:
        return row
    if not first and at - aware(sess.last_used_at) < IDLE_REFRESH:
        return row  # used moments ago: its idle clock is fresh enough (see IDLE_REFRESH)
    with ws.session() as s:
        current = s.get(AuthSession, digest)
        account = s.get(Account, row.login)
        assert current is not None and account is not None
        current.last_used_at = at
        if first:
            current.first_used_at = at
        account.last_used_at = at
        s.add(current)
        s.add(account)
        s.commit()
    if first:
        ws.record("auth.session_used", actor=account.actor, subject=account.login,
                  payload={"session": session_id(digest), "method": sess.method, "kind": sess.kind})
        ws.audit.checkpoint()
    return account


def logout_token(ws: Workspace, token: str, *, now: Clock = system_clock) -> Account | None:
    """End a session on the server; return its account (None if the token was not known or had ended)."""
    digest = token_hash(token)
    with ws.session() as s:
        sess = s.get(AuthSession, digest)
    if sess is None or sess.ended_at is not None:
        return None
    _end(ws, sess, "logout", now())
    ws.record("auth.logout", actor=f"user:{sess.login}", subject=sess.login, payload={"session": session_id(digest)})
    ws.audit.checkpoint()
    with ws.session() as s:
        return s.get(Account, sess.login)


# -- the CLI's token file ----------------------------------------------------------------------
def save_cli_token(ws: Workspace, issued: Issued):  # type: ignore[no-untyped-def]
    """Keep the new token for this workspace; a session the file held before is ended on the server."""
    from vetting.people.tokenfile import TokenFileError, read_token, write_token

    try:
        previous = read_token(ws.id).get("token")
    except TokenFileError:
        previous = None
    if isinstance(previous, str) and previous != issued.token:
        logout_token(ws, previous)
    return write_token(ws.id, {"workspace_id": ws.id, "workspace": str(ws.root.resolve()),
                               "login": issued.account.login, "token": issued.token,
                               "expires_at": issued.session.expires_at.isoformat()})


def current_account(ws: Workspace, *, now: Clock = system_clock) -> Account:
    """The account acting through the CLI in this workspace; raise :class:`NotAuthenticated` (one line).

    Later commands call this to learn who acts: it reads the user's token file for this
    workspace and refuses an expired, idle, ended or revoked token, and a disabled account.
    """
    from vetting.people.tokenfile import TokenFileError, read_token

    try:
        data = read_token(ws.id)
    except TokenFileError as exc:
        raise NotAuthenticated(str(exc)) from None
    if data.get("workspace_id") != ws.id:
        raise NotAuthenticated("the token file names another workspace: run vet login")
    return account_for_token(ws, data["token"], now=now)


def logout_cli(ws: Workspace, *, now: Clock = system_clock) -> Account | None:
    """End this user's CLI session in the workspace and delete the token file."""
    from vetting.people.tokenfile import TokenFileError, read_token, remove_token

    try:
        data = read_token(ws.id)
    except TokenFileError:
        remove_token(ws.id)
        return None
    account = logout_token(ws, data["token"], now=now)
    remove_token(ws.id)
    return account
