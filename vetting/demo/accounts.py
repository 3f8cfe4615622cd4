"""The demo's people: fictional accounts of every role, logged in, and their secrets on file.

``vet demo`` runs the chain as these accounts, each through the real login (password and
TOTP code; the automation account with its key), so every event of the demo names the
account that acted and every rule of the service layer applies: the commander approves, an
investigator adds the candidates, the automation account runs the cases, a supervisor assigns
them, each investigator decides on their own cases, a supervisor concurs, the commander
releases a report to hiring staff. The passwords, TOTP secrets and the automation key are
written to ``OUT/accounts.txt`` (mode 0600) so a person can log in to the demo workspace
afterwards (``vet login sortiz``). They are fictional and the workspace is a demo's: never
reuse them.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vetting.people.models import Account
    from vetting.store.workspace import Workspace

#: login -> (name, badge, role): every one fictional.
DEMO_PEOPLE: dict[str, tuple[str, str, str]] = {
    "demo-admin": ("Pat Quinn (demo account administrator, fictional)", "D-9001", "admin"),
    "dwhitfield": ("Capt. Dana Whitfield (demo commander, fictional)", "D-1001", "commander"),
    "amoreno": ("Sgt. Alex Moreno (demo supervisor, fictional)", "D-2201", "supervisor"),
    "sortiz": ("Det. Sam Ortiz (demo investigator, fictional)", "D-4411", "investigator"),
    "kosei": ("Det. Kim Osei (demo investigator, fictional)", "D-4412", "investigator"),
    "hjones": ("Harper Jones (demo hiring manager, fictional)", "D-7001", "hiring"),
    "demo-bot": ("Demo automation (runs the cases)", "", "automation"),
}


@dataclass
class DemoPerson:
    login: str
    name: str
    role: str
    account: Account
    token: str
    password: str = ""
    totp_secret: str = ""
    totp_uri: str = ""
    automation_key: str = ""


def _demo_password(login: str, name: str) -> str:
    """A random passphrase of four words from the system's own choice of letters (zxcvbn score 4)
    that the password rules accept: a random draw can hold the login or a name ("Dana", "ortiz"),
    which the rules refuse (about one demo in a few hundred failed so), so such a draw is made again."""
    from vetting.people.passwords import PasswordRuleError, check_new_password

    while True:
        password = "-".join(secrets.token_urlsafe(6) for _ in range(4))
        try:
            check_new_password(password, login=login, name=name)
        except PasswordRuleError:
            continue
        return password


def create_demo_people(ws: Workspace) -> dict[str, DemoPerson]:
    """Bootstrap the demo's administrator, who adds the others; log each one in once."""
    import pyotp

    from vetting.people.accounts import add_account
    from vetting.people.sessions import login_automation, login_password

    people: dict[str, DemoPerson] = {}
    admin: Account | None = None
    for login, (name, badge, role) in DEMO_PEOPLE.items():
        _, creds = add_account(ws, login=login, name=name, roles=[role], actor=admin, badge=badge,
                               email=f"{login}@demo.invalid", bootstrap=admin is None)
        if role == "automation":
            issued = login_automation(ws, login, creds.automation_key or "", kind="demo")
            person = DemoPerson(login, name, role, issued.account, issued.token,
                                automation_key=creds.automation_key or "")
        else:
            password = _demo_password(login, name)
            code = pyotp.TOTP(creds.totp_secret or "").now()
            issued = login_password(ws, login, creds.password or "", code, choose_password=lambda p=password: p,
                                    kind="demo")
            person = DemoPerson(login, name, role, issued.account, issued.token, password,
                                creds.totp_secret or "", creds.totp_uri or "")
        people[login] = person
        if admin is None:
            admin = issued.account
    return people


def write_accounts_file(path: Path, people: dict[str, DemoPerson], workspace: Path) -> Path:
    """The demo's credentials, readable by the user alone (0600, written atomically)."""
    lines = ["# DEMO ACCOUNTS (fictional people, demo workspace only; never reuse these secrets)",
             f"# workspace: {workspace}",
             "# log in:  vet --workspace WORKSPACE login LOGIN   (password, then the TOTP code:",
             "#          python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\")",
             "# automation: vet --workspace WORKSPACE login demo-bot --key < file-with-the-key", ""]
    for p in people.values():
        lines.append(f"[{p.login}]")
        lines.append(f"name = {p.name}")
        lines.append(f"role = {p.role}")
        if p.automation_key:
            lines.append(f"automation_key = {p.automation_key}")
        else:
            lines += [f"password = {p.password}", f"totp_secret = {p.totp_secret}", f"totp_uri = {p.totp_uri}"]
        lines.append("")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def session_folders(ws: Workspace, people: dict[str, DemoPerson], root: Path) -> dict[str, dict[str, str]]:
    """Each person's session token in a config folder of their own (``root/config-LOGIN``, 0700/0600),
    as ``vet login`` would keep it; returns the environment of a ``vet`` acting as each one
    (benchmarks and scripts drive the real CLI as the demo's people this way)."""
    from vetting.people.tokenfile import write_token

    envs = {}
    for login, person in people.items():
        home = root / f"config-{login}"
        write_token(ws.id, {"workspace_id": ws.id, "workspace": str(ws.root.resolve()), "login": login,
                            "token": person.token}, home)
        envs[login] = {"XDG_CONFIG_HOME": str(home)}
    return envs


def fresh_account(ws: Workspace, person: DemoPerson) -> Account:
    """The person's account through their session (as every command gets it: token checked)."""
    from vetting.people.sessions import account_for_token

    return account_for_token(ws, person.token)
