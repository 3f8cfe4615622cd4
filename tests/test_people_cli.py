"""The people commands through the real `vet`: bootstrap, login, admin acts, refusals.

Secrets go through standard input only; every refusal is one line on stderr, never a traceback.
The first test runs `vet` in subprocesses (the installed entry point, a real terminal-less
stdin); the others run the same Typer application in-process (Click's runner), which is
many times faster on a loaded machine and exercises the same code.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

REPO = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "a long passphrase nobody guesses"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Shell:
    """Runs `vet` as one user (one config folder) against one workspace, in-process or as a subprocess."""

    def __init__(self, ws: Path, config: Path, subprocess_: bool = False):
        self.ws, self.config, self.subprocess = ws, config, subprocess_

    def __call__(self, *args: str, stdin: str = "") -> Result:
        env = {"XDG_CONFIG_HOME": str(self.config), "NO_COLOR": "1", "COLUMNS": "220"}
        argv = ["--workspace", str(self.ws), *args]
        if self.subprocess:
            proc = subprocess.run([sys.executable, "-m", "vetting.cli.main", *argv], input=stdin, capture_output=True,
                                  text=True, timeout=300, env=dict(os.environ, **env), cwd=REPO)
            result = Result(proc.returncode, proc.stdout, proc.stderr)
        else:
            from typer.testing import CliRunner

            from vetting.cli.main import app

            run = CliRunner().invoke(app, argv, input=stdin, env=env, catch_exceptions=True)
            if run.exception is not None and not isinstance(run.exception, SystemExit):
                raise run.exception
            result = Result(run.exit_code, run.stdout, run.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result


def creds(out: str) -> dict[str, str]:
    found = dict(re.findall(r"^(temporary password|totp secret|automation key): (\S+)$", out, re.M))
    return found


def now_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def refused(proc: Result, text: str, code: int = 1) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], proc.stderr


def admin_session(tmp_path: Path, subprocess_: bool = False):
    """A workspace whose bootstrap admin has logged in (and chosen a password)."""
    sh = Shell(tmp_path / "ws", tmp_path / "admin-config", subprocess_)
    made = sh("user", "add", "root", "--name", "Pat Admin", "--bootstrap-admin")
    assert made.returncode == 0, made.stderr
    c = creds(made.stdout)
    logged = sh("login", "root", stdin=f"{c['temporary password']}\n{now_code(c['totp secret'])}\n{NEW_PASSWORD}\n")
    assert logged.returncode == 0, logged.stderr
    assert "logged in as root" in logged.stdout
    return sh, tmp_path


@pytest.fixture
def admin_shell(tmp_path: Path):
    return admin_session(tmp_path)


def test_bootstrap_login_and_token_file_in_subprocesses(tmp_path: Path) -> None:
    sh, tmp = admin_session(tmp_path, subprocess_=True)
    files = list((tmp / "admin-config" / "vetting" / "sessions").iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert sh("whoami").stdout.startswith("root (Pat Admin) roles: admin")
    refused(sh("user", "add", "root2", "--name", "Other Admin", "--bootstrap-admin"), "administrator already exists")
    out = sh("logout")
    assert out.returncode == 0 and "logged out root" in out.stdout and not files[0].exists()
    refused(sh("whoami"), "not logged in")
    refused(sh("user", "list"), "not logged in")


def test_admin_manages_an_investigator(admin_shell) -> None:
    sh, tmp = admin_shell
    made = sh("user", "add", "sortiz", "--name", "Sam Ortiz", "--role", "investigator", "--badge", "1234",
              "--email", "sortiz@agency.example")
    assert made.returncode == 0, made.stderr
    c = creds(made.stdout)
    assert set(c) == {"temporary password", "totp secret"}
    listing = sh("user", "list")
    assert listing.returncode == 0 and "sortiz" in listing.stdout and "Sam Ortiz" in listing.stdout
    assert sh("user", "roles", "sortiz", "--grant", "supervisor").stdout.strip() == \
        "sortiz: roles investigator, supervisor"
    refused(sh("user", "roles", "sortiz", "--grant", "admin"), "held alone")
    refused(sh("user", "add", "mixed", "--name", "Mix Ed", "--role", "admin", "--role", "commander"), "held alone")
    refused(sh("user", "add", "Bad Login", "--name", "X Y", "--role", "investigator"), "login")
    refused(sh("user", "add", "nobody", "--name", "No Role"), "at least one role")
    refused(sh("user", "unlock", "sortiz"), "is not locked")
    refused(sh("user", "idp", "--issuer", "http://idp.agency.example", "--client-id", "vetting-cli"), "https")
    assert sh("user", "idp", "--issuer", "https://idp.agency.example/realm", "--client-id", "vetting-cli").returncode == 0
    refused(sh("user", "disable", "ghost"), "no account 'ghost'")
    assert sh("user", "disable", "sortiz", "--reason", "on leave").returncode == 0
    assert "disabled (on leave)" in sh("user", "list").stdout
    assert sh("user", "enable", "sortiz").returncode == 0
    reset = sh("user", "reset", "sortiz")
    assert reset.returncode == 0 and creds(reset.stdout)["totp secret"] != c["totp secret"]

    # the investigator's own shell: first login chooses a password; admin commands are refused
    inv = Shell(sh.ws, tmp / "inv-config")
    c = creds(reset.stdout)
    ok = inv("login", "sortiz", stdin=f"{c['temporary password']}\n{now_code(c['totp secret'])}\n{NEW_PASSWORD}\n")
    assert ok.returncode == 0, ok.stderr
    refused(inv("user", "list"), "only an account administrator")
    refused(inv("password", stdin=f"{NEW_PASSWORD}\npassword12345\n"), "too easy to guess")
    changed = inv("password", stdin=f"{NEW_PASSWORD}\nseven purple lanterns drift east\n")
    assert changed.returncode == 0 and "password changed for sortiz" in changed.stdout
    refused(inv("user", "add", "x2", "--name", "X Two", "--role", "commander"), "only an account administrator")
    # disabling ends the investigator's session at once
    assert sh("user", "disable", "sortiz").returncode == 0
    refused(inv("whoami"), "ended")


def test_lockout_through_the_cli(admin_shell) -> None:
    sh, tmp = admin_shell
    c = creds(sh("user", "add", "amoreno", "--name", "Alex Moreno", "--role", "supervisor").stdout)
    inv = Shell(sh.ws, tmp / "sup-config")
    for i in range(5):
        out = inv("login", "amoreno", stdin=f"wrong {i}\n000000\n")
        assert out.returncode == 1
    assert "now locked" in out.stderr
    right = f"{c['temporary password']}\n{now_code(c['totp secret'])}\n{NEW_PASSWORD}\n"
    refused(inv("login", "amoreno", stdin=right), "is locked")
    assert "locked" in sh("user", "list").stdout
    assert sh("user", "unlock", "amoreno").returncode == 0
    ok = inv("login", "amoreno", stdin=right)
    assert ok.returncode == 0, ok.stderr


def test_secrets_never_on_the_command_line(admin_shell) -> None:
    sh, _ = admin_shell
    out = sh("login", "root", "my-password", "123456")
    assert out.returncode == 2 and "unexpected extra argument" in out.stderr
    refused(sh("login", "root", stdin=""), "standard input ended before the password", code=2)
    refused(sh("login", "root", stdin="only-a-password\n"), "standard input ended before the totp code", code=2)


def test_automation_account_logs_in_with_its_key(admin_shell) -> None:
    sh, tmp = admin_shell
    made = sh("user", "add", "demo-bot", "--name", "Demo runner", "--role", "automation")
    key = creds(made.stdout)["automation key"]
    bot = Shell(sh.ws, tmp / "bot-config")
    refused(bot("login", "demo-bot", "--key", stdin="vak_wrong\n"), "wrong login")
    ok = bot("login", "demo-bot", "--key", stdin=key + "\n")
    assert ok.returncode == 0 and "roles: automation" in ok.stdout


def test_roles_are_listed_with_what_each_may_do(tmp_path: Path) -> None:
    from vetting.people.models import ROLES

    out = Shell(tmp_path / "ws", tmp_path / "cfg")("user", "list", "--roles")
    assert out.returncode == 0
    from vetting.people.roles import ROLE_PURPOSE

    assert tuple(ROLE_PURPOSE) == ROLES
    lines = out.stdout.splitlines()
    for role, purpose in ROLE_PURPOSE.items():
        assert any(role in line and purpose[:40] in line for line in lines), (role, out.stdout)


def test_missing_workspace_is_one_line(tmp_path: Path) -> None:
    sh = Shell(tmp_path / "nowhere", tmp_path / "cfg")
    refused(sh("login", "root", stdin="x\n000000\n"), "no workspace")
    refused(sh("user", "list"), "no workspace")


def test_assign_and_release_through_the_cli(tmp_path: Path) -> None:
    from case_fixtures import build_case
    from people_fixtures import FakeClock, bootstrap_admin, person

    built = build_case(tmp_path)
    case = built.plan.case.id
    clock = FakeClock()
    admin, _ = bootstrap_admin(built.ws, clock)
    _, sgt = person(built.ws, admin, clock, "sgt", ["supervisor"])
    for login, roles in (("inv1", ["investigator"]), ("hr1", ["hiring"])):
        person(built.ws, admin, clock, login, roles)
    sh = Shell(built.ws.root, tmp_path / "sgt-config")
    ok = sh("login", "sgt", stdin=f"{sgt.password}\n{now_code(sgt.totp_secret)}\n{NEW_PASSWORD}\n")
    assert ok.returncode == 0, ok.stderr
    assert sh("case", "assign", case, "inv1").stdout.strip() == f"case {case} assigned to inv1"
    refused(sh("case", "assign", case, "inv1"), "already assigned")
    refused(sh("case", "assign", "case-nope", "inv1"), "no case 'case-nope'")
    refused(sh("case", "assign", case, "hr1"), "does not hold the investigator role")
    # A long case id of characters that escape six-fold (U+202E, "\\u202e") is clipped, not
    # echoed whole (the property test found 20,000 characters of refusal).
    long = sh("case", "assign", "\u202e" * 3327, "inv1")
    refused(long, "no case")
    assert len(long.stderr) < 1100, len(long.stderr)
    assert sh("report", "release", case, "hr1").returncode == 0
    refused(sh("report", "release", case, "inv1"), "does not hold the hiring role")
    assert sh("report", "revoke", case, "hr1").returncode == 0
    assert sh("case", "unassign", case, "inv1").returncode == 0
    trail = [(e.action, e.actor) for e in built.ws.audit.events() if e.case_id == case and e.actor.startswith("user:")]
    assert trail == [("case.assigned", "user:sgt"), ("report.released", "user:sgt"),
                     ("report.release_revoked", "user:sgt"), ("case.unassigned", "user:sgt")]


def test_login_at_a_terminal_does_not_echo_secrets(tmp_path: Path) -> None:
    """At a real terminal (a pseudo-terminal here), the password and the code are asked without echo."""
    import pty
    import select
    import time

    from people_fixtures import STRONG, FakeClock, bootstrap_admin, first_login

    from vetting.store.workspace import Workspace

    ws = Workspace.open(tmp_path / "ws")
    clock = FakeClock()
    clock.advance(hours=-1)                                # its TOTP step is long past when `vet` runs
    _, creds = bootstrap_admin(ws, clock)
    first_login(ws, creds, clock)                          # the password is now STRONG
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), NO_COLOR="1", COLUMNS="200")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real `vet` on the terminal
        os.chdir(REPO)
        os.execvpe(sys.executable, [sys.executable, "-m", "vetting.cli.main", "--workspace", str(ws.root),
                                    "login", "root-admin"], env)
    seen = b""

    def read_until(marker: bytes, timeout: float = 120) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 1024)
                except OSError:
                    return
                if not chunk:
                    return
                seen += chunk
        assert marker in seen, seen

    read_until(b"Password:")
    os.write(fd, (STRONG + "\n").encode())
    read_until(b"TOTP code:")
    the_code = pyotp.TOTP(creds.totp_secret).now()
    os.write(fd, (the_code + "\n").encode())
    read_until(b"logged in as root-admin")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert STRONG.encode() not in seen and the_code.encode() not in seen
