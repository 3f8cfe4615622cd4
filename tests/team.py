"""A workspace's people for the casework tests: one account of every role, each logged in.

Every account is created by the real administrator's act and opens its session through the
real login (password and TOTP code; the automation account with its key), and each keeps its
token in a config folder of its own, so ``team.vet("sortiz", ...)`` runs the real ``vet`` in
a subprocess as that person. Only the argon2id cost is lowered while the team is made (the
hashes record their parameters, so later verifications use the same low cost): the casework
tests are not about password hashing, which ``test_people_*`` test with the real parameters.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type

from vetting.people import passwords
from vetting.people.models import Account

#: login -> (name, badge, roles): the cast of the casework tests.
CAST: dict[str, tuple[str, str, list[str]]] = {
    "root-admin": ("Pat Admin", "9001", ["admin"]),
    "sortiz": ("Sam Ortiz", "4411", ["investigator"]),
    "kosei": ("Kim Osei", "4412", ["investigator"]),
    "amoreno": ("Alex Moreno", "2201", ["supervisor"]),
    "dwhitfield": ("Dana Whitfield", "1001", ["commander"]),
    "hjones": ("Harper Jones", "7001", ["hiring"]),
    "bot": ("Demo automation", "", ["automation"]),
}
PASSWORD = "correct horse battery staple"


@contextlib.contextmanager
def cheap_hashing() -> Iterator[None]:
    """argon2id at its lowest cost while accounts are made (see the module docstring)."""
    saved = passwords.HASHER
    passwords.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)
    try:
        yield
    finally:
        passwords.HASHER = saved


@contextlib.contextmanager
def config_home(folder: Path) -> Iterator[None]:
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved


@dataclass
class Team:
    ws: Any
    root: Path
    tokens: dict[str, str] = field(default_factory=dict)
    totp_secrets: dict[str, str] = field(default_factory=dict)  # login -> base32 (a browser login's code)

    def folder(self, login: str) -> Path:
        return self.root / f"config-{login}"

    def env(self, login: str) -> dict[str, str]:
        """The environment of a ``vet`` subprocess acting as ``login``."""
        return {"XDG_CONFIG_HOME": str(self.folder(login))}

    def account(self, login: str) -> Account:
        """``login``'s account through its session token (what a command's ``current_account`` gives)."""
        from vetting.people.sessions import account_for_token

        return account_for_token(self.ws, self.tokens[login])

    def vet(self, login: str, *args: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        """The real ``vet`` in a subprocess, in this workspace, logged in as ``login``."""
        from conftest import vet

        env = dict(kwargs.pop("env", None) or {}, **self.env(login))
        return vet(*args, workspace=self.ws.root, env=env, **kwargs)

    @contextlib.contextmanager
    def acting(self, login: str) -> Iterator[None]:
        """In-process commands (``vetting.cli.main.main``) act as ``login`` inside this block."""
        with config_home(self.folder(login)):
            yield


def make_team(ws: Any, root: Path, logins: tuple[str, ...] | None = None) -> Team:
    """The cast (or some of it) in ``ws``, each logged in; the admin bootstraps the workspace."""
    import pyotp

    from vetting.people.accounts import add_account
    from vetting.people.sessions import login_automation, login_password, save_cli_token

    team = Team(ws, root)
    chosen = [login for login in CAST if logins is None or login in logins or login == "root-admin"]
    with cheap_hashing():
        admin = None
        for login in chosen:
            name, badge, roles = CAST[login]
            _, creds = add_account(ws, login=login, name=name, roles=roles, actor=admin, badge=badge,
                                   bootstrap=admin is None)
            team.totp_secrets[login] = creds.totp_secret or ""
            if roles == ["automation"]:
                issued = login_automation(ws, login, creds.automation_key or "")
            else:
                code = pyotp.TOTP(creds.totp_secret or "").now()
                issued = login_password(ws, login, creds.password or "", code, choose_password=lambda: PASSWORD)
            with config_home(team.folder(login)):
                save_cli_token(ws, issued)
            team.tokens[login] = issued.token
            if admin is None:
                admin = issued.account
    return team
