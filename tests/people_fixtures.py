"""Shared helpers for the people tests: a clock tests move by hand, and ready-made accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp

from vetting.people.accounts import Credentials, add_account, get_account
from vetting.people.models import Account

STRONG = "correct horse battery staple"


def _step_start() -> datetime:
    """Now, rounded down to the start of a 30-second TOTP step (tests that move the clock stay in step).

    Real time, not a fixed date: tests that mix this clock with the real one (a CLI login after
    accounts made here) would otherwise meet the 90-day rule once the fixed date is old enough.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(seconds=now.second % 30)


@dataclass
class FakeClock:
    """A clock that moves only when told; pass it as ``now=``."""

    at: datetime = field(default_factory=_step_start)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


def code(creds: Credentials, clock: FakeClock, steps: int = 0) -> str:
    """The TOTP code an authenticator app shows at the clock's time (plus ``steps`` x 30 s)."""
    assert creds.totp_secret
    return pyotp.TOTP(creds.totp_secret).at(clock() + timedelta(seconds=30 * steps))


def bootstrap_admin(ws, clock: FakeClock, login: str = "root-admin") -> tuple[Account, Credentials]:
    return add_account(ws, login=login, name="Pat Admin", roles=["admin"], actor=None, bootstrap=True, now=clock)


def person(ws, admin: Account, clock: FakeClock, login: str, roles: list[str], name: str = "Sam Ortiz"):
    return add_account(ws, login=login, name=name, roles=roles, actor=admin, badge="B-1", now=clock)


def first_login(ws, creds: Credentials, clock: FakeClock, new_password: str = STRONG):
    """Log in with the temporary password and choose a real one; returns the Issued session."""
    from vetting.people.sessions import login_password

    return login_password(ws, creds.login, creds.password or "", code(creds, clock),
                          choose_password=lambda: new_password, now=clock)


def fresh(ws, login: str) -> Account:
    return get_account(ws, login)
