"""``vet user``, ``vet login``, ``vet logout``, ``vet whoami``, and the assignment and release commands.

Secrets never travel on the command line (where shell history and ``ps`` would keep them):
passwords, TOTP codes and automation keys are read from the terminal without echo, or, when
standard input is not a terminal, one per line from it, in the order the prompts would ask.
Mounted by :mod:`vetting.cli.main` through :func:`mount`.
"""

from __future__ import annotations

import functools
import getpass
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.table import Table

from vetting.cli.support import acting, console, echo_error, handles_errors, open_ws

F = TypeVar("F", bound=Callable[..., Any])

user_app = typer.Typer(help="Manage accounts (an administrator's commands).", no_args_is_help=True)


def people_errors(fn: F) -> F:
    """Refusals of the people package become one line on stderr and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vetting.people.accounts import AccountError
        from vetting.people.oidc import OidcError
        from vetting.people.passwords import PasswordRuleError
        from vetting.people.sessions import LoginRefused, NotAuthenticated
        from vetting.people.tokenfile import TokenFileError
        from vetting.people.totp import TotpKeyError

        try:
            return fn(*args, **kwargs)
        except NotAuthenticated as exc:
            echo_error(f"not logged in: {exc}")
            raise typer.Exit(1) from None
        except (AccountError, LoginRefused, PasswordRuleError, TokenFileError, TotpKeyError, OidcError) as exc:
            # One line, clipped like every refusal: a message may quote what the user typed.
            echo_error(str(exc))
            raise typer.Exit(1) from None

    return handles_errors(wrapper)  # type: ignore[return-value]


def read_secret(prompt: str) -> str:
    """A secret from the terminal (no echo), or the next line of standard input."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt, stream=sys.stderr)
    line = sys.stdin.readline()
    if not line:
        typer.echo(f"error: standard input ended before the {prompt.strip().rstrip(':').lower()}", err=True)
        raise typer.Exit(2)
    return line.rstrip("\r\n")


def _acting_admin(act: str):  # type: ignore[no-untyped-def]
    from vetting.people.accounts import require_admin
    from vetting.people.sessions import current_account

    ws = open_ws(create=False)
    return ws, require_admin(current_account(ws), ws, act)


def _show_credentials(creds: Any) -> None:
    typer.echo(f"login: {creds.login}")
    if creds.password:
        typer.echo(f"temporary password: {creds.password}")
        typer.echo(f"totp secret: {creds.totp_secret}")
        typer.echo(f"totp uri: {creds.totp_uri}")
        typer.echo("Shown once. Give them to the person over a channel you trust; the authenticator app takes the "
                   "secret or the URI, and the first vet login chooses a new password.")
    elif creds.automation_key:
        typer.echo(f"automation key: {creds.automation_key}")
        typer.echo("Shown once. The script logs in with: vet login LOGIN --key (the key on standard input).")
    else:
        typer.echo("This account logs in through the identity provider: vet login --oidc")


# -- vet user ----------------------------------------------------------------------------------
@user_app.command("add")
@people_errors
def user_add(login: str = typer.Argument(..., help="Login name: lowercase letters, digits, . _ -"),
             name: str = typer.Option(..., "--name", help="The person's full name."),
             role: list[str] = typer.Option([], "--role", help="A role (repeatable): investigator, supervisor, "
                                            "commander, hiring, admin, automation."),
             badge: str = typer.Option("", "--badge", help="Employee or badge number."),
             email: str = typer.Option("", "--email"),
             oidc_issuer: str = typer.Option("", "--oidc-issuer", help="Identity provider issuer (OpenID Connect)."),
             oidc_subject: str = typer.Option("", "--oidc-subject", help="The person's subject at that provider."),
             bootstrap_admin: bool = typer.Option(False, "--bootstrap-admin",
                                                  help="Create the first administrator (only while no active admin "
                                                  "exists); no login needed.")) -> None:
    """Add an account; its temporary password and TOTP secret (or automation key) are shown once."""
    from vetting.people.accounts import add_account

    if bootstrap_admin:
        ws = open_ws(create=True)
        actor = None
        roles = role or ["admin"]
    else:
        ws, actor = _acting_admin("account.create")
        roles = role
    row, creds = add_account(ws, login=login, name=name, roles=roles, actor=actor, badge=badge, email=email,
                             oidc_issuer=oidc_issuer, oidc_subject=oidc_subject, bootstrap=bootstrap_admin)
    typer.echo(f"added account {row.login} ({row.name}; roles: {', '.join(row.roles)})")
    _show_credentials(creds)


@user_app.command("list")
@people_errors
def user_list(roles: bool = typer.Option(False, "--roles", help="Instead: the roles and what each may do.")) -> None:
    """Every account: roles, status, lockout, last use (accounts unused for 90 days are disabled first)."""
    from vetting.people.accounts import disable_inactive, list_accounts

    if roles:
        from vetting.people.models import ROLES
        from vetting.people.permissions import PERMISSIONS
        from vetting.people.roles import ROLE_PURPOSE

        role_table = Table("role", "for", "acts (scope)")
        for role in ROLES:
            acts = [f"{name} ({act.scopes[role]})" if act.per_case else name
                    for name, act in PERMISSIONS.items() if role in act.scopes]
            role_table.add_row(role, ROLE_PURPOSE[role], "\n".join(acts) or "accounts only (vet user ...)")
        console.print(role_table)
        return
    ws, _ = _acting_admin("account.list")
    disable_inactive(ws)
    from rich.markup import escape

    table = Table("login", "name", "badge", "email", "roles", "logs in with", "status", "locked", "last used",
                  "created by")
    for a in list_accounts(ws):
        how = ("key" if a.has_role("automation") else "identity provider" if a.oidc_subject
               else "password + TOTP" + (" (temporary)" if a.must_change_password else ""))
        table.add_row(a.login, escape(a.name), escape(a.badge), escape(a.email), ", ".join(a.roles), how,
                      a.status + (f" ({escape(a.disabled_reason)})" if a.disabled_reason else ""),
                      "locked" if a.locked_at else "",
                      a.last_used_at.isoformat(timespec="minutes") if a.last_used_at else "never",
                      a.created_by)
    console.print(table)


@user_app.command("disable")
@people_errors
def user_disable(login: str = typer.Argument(...),
                 reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log).")) -> None:
    """Disable an account; its sessions end at once."""
    from vetting.people.accounts import disable_account

    ws, actor = _acting_admin("account.disable")
    disable_account(ws, login, actor=actor, reason=reason)
    typer.echo(f"disabled {login}")


@user_app.command("enable")
@people_errors
def user_enable(login: str = typer.Argument(...)) -> None:
    """Enable a disabled account."""
    from vetting.people.accounts import enable_account

    ws, actor = _acting_admin("account.enable")
    enable_account(ws, login, actor=actor)
    typer.echo(f"enabled {login}")


@user_app.command("reset")
@people_errors
def user_reset(login: str = typer.Argument(...)) -> None:
    """New temporary password and TOTP secret (or automation key); unlocks and ends the account's sessions."""
    from vetting.people.accounts import reset_account

    ws, actor = _acting_admin("account.reset")
    creds = reset_account(ws, login, actor=actor)
    typer.echo(f"reset {login}")
    _show_credentials(creds)


@user_app.command("unlock")
@people_errors
def user_unlock(login: str = typer.Argument(...)) -> None:
    """Unlock an account locked after failed logins."""
    from vetting.people.accounts import unlock_account

    ws, actor = _acting_admin("account.unlock")
    unlock_account(ws, login, actor=actor)
    typer.echo(f"unlocked {login}")


@user_app.command("roles")
@people_errors
def user_roles(login: str = typer.Argument(...),
               grant: list[str] = typer.Option([], "--grant", help="Role to add (repeatable)."),
               revoke: list[str] = typer.Option([], "--revoke", help="Role to remove (repeatable).")) -> None:
    """Grant or revoke roles (the result must be a role set one account may hold)."""
    from vetting.people.accounts import change_roles

    ws, actor = _acting_admin("account.roles")
    row = change_roles(ws, login, actor=actor, grant=grant, revoke=revoke)
    typer.echo(f"{login}: roles {', '.join(row.roles)}")


@user_app.command("idp")
@people_errors
def user_idp(issuer: str = typer.Option(..., "--issuer", help="The provider's issuer URL (https)."),
             client_id: str = typer.Option(..., "--client-id", help="Our client id at the provider.")) -> None:
    """Configure the agency's OpenID Connect provider (a public client using PKCE)."""
    from vetting.people.oidc import configure_provider

    ws, actor = _acting_admin("idp.configure")
    configure_provider(ws, issuer=issuer, client_id=client_id, actor=actor)
    typer.echo(f"identity provider: {issuer} (client {client_id})")


# -- vet login / logout / whoami ---------------------------------------------------------------
def login(login_name: str = typer.Argument(None, metavar="LOGIN", help="Your login (asked if not given)."),
          key: bool = typer.Option(False, "--key", help="An automation account: read its key instead of "
                                   "password and code."),
          oidc: bool = typer.Option(False, "--oidc", help="Log in through the agency's identity provider."),
          timeout: float = typer.Option(300, "--timeout", help="Seconds to wait for the identity provider.")) -> None:
    """Log in to this workspace: password and TOTP code (never on the command line), or --oidc.

    At a terminal it asks without echo; otherwise it reads one line each from standard input:
    password, code, and at the first login the new password. The token is kept 0600 in
    $XDG_CONFIG_HOME/vetting/sessions/ and lives 12 hours, or 30 minutes unused.
    """
    from vetting.people.sessions import login_automation, login_password, save_cli_token

    if not 0 < timeout <= 3600:
        raise typer.BadParameter("between 0 and 3600 seconds", param_hint="--timeout")
    ws = open_ws(create=False)
    if oidc:
        from vetting.people.oidc import cli_login

        issued = cli_login(ws, timeout=timeout, show=lambda url: typer.echo(
            f"Open this address in your browser to log in:\n{url}", err=True))
    else:
        if not login_name:
            login_name = typer.prompt("Login", err=True) if sys.stdin.isatty() else read_secret("Login: ")
        if key:
            issued = login_automation(ws, login_name, read_secret("Automation key: "))
        else:
            password = read_secret("Password: ")
            code = read_secret("TOTP code: ")
            issued = login_password(ws, login_name, password, code, choose_password=_choose_password)
    path = save_cli_token(ws, issued)
    a = issued.account
    typer.echo(f"logged in as {a.login} ({a.name}; roles: {', '.join(a.roles)}) until "
               f"{issued.session.expires_at.isoformat(timespec='minutes')}, or 30 minutes unused; token in {path}")


def _choose_password() -> str:
    typer.echo("Your password was set by an administrator: choose a new one (at least 12 characters).", err=True)
    first = read_secret("New password: ")
    if sys.stdin.isatty() and read_secret("Repeat the new password: ") != first:
        from vetting.people.passwords import PasswordRuleError

        raise PasswordRuleError("the two new passwords differ")
    return first


def password() -> None:
    """Change your own password: the current one, then the new one (prompt or stdin, never arguments)."""
    from vetting.people.sessions import change_own_password, current_account

    ws = open_ws(create=False)
    account = current_account(ws)
    current = read_secret("Current password: ")
    new = read_secret("New password: ")
    if sys.stdin.isatty() and read_secret("Repeat the new password: ") != new:
        from vetting.people.passwords import PasswordRuleError

        raise PasswordRuleError("the two new passwords differ")
    change_own_password(ws, account, current, new)
    typer.echo(f"password changed for {account.login}")


def logout() -> None:
    """End your session in this workspace (on the server too) and delete the token file."""
    from vetting.people.sessions import logout_cli

    account = logout_cli(open_ws(create=False))
    typer.echo(f"logged out {account.login}" if account else "no session was open; the token file (if any) is gone")


def whoami() -> None:
    """Who you are logged in as in this workspace, and your roles."""
    from vetting.people.sessions import current_account

    a = current_account(open_ws(create=False))
    typer.echo(f"{a.login} ({a.name}) roles: {', '.join(a.roles)}")


# -- assignment and release ---------------------------------------------------------------------
def case_assign(case: str = typer.Argument(..., help="Case id."),
                investigator: str = typer.Argument(..., help="The investigator's login.")) -> None:
    """Assign a case to an investigator (a supervisor's or commander's act)."""
    from vetting.services.cases import assign_case

    assign_case(*acting(), case, investigator)
    typer.echo(f"case {case} assigned to {investigator}")


def case_unassign(case: str = typer.Argument(...), investigator: str = typer.Argument(...)) -> None:
    """End an investigator's assignment to a case."""
    from vetting.services.cases import unassign_case

    unassign_case(*acting(), case, investigator)
    typer.echo(f"case {case} no longer assigned to {investigator}")


def report_release(case: str = typer.Argument(..., help="Case id."),
                   to: str = typer.Argument(..., help="The hiring account's login.")) -> None:
    """Release a case's findings report to a named hiring account (a supervisor's or commander's act)."""
    from vetting.services.reports import release_report

    release_report(*acting(), case, to)
    typer.echo(f"findings report of case {case} released to {to}")


def report_revoke(case: str = typer.Argument(...), to: str = typer.Argument(...)) -> None:
    """Revoke a release of a case's findings report."""
    from vetting.services.reports import revoke_release

    revoke_release(*acting(), case, to)
    typer.echo(f"release of case {case} to {to} revoked")


def mount(app: typer.Typer, case_app: typer.Typer, report_app: typer.Typer) -> None:
    """Add the people commands to the main CLI."""
    app.add_typer(user_app, name="user")
    app.command("login")(people_errors(login))
    app.command("logout")(people_errors(logout))
    app.command("whoami")(people_errors(whoami))
    app.command("password")(people_errors(password))
    case_app.command("assign")(people_errors(case_assign))
    case_app.command("unassign")(people_errors(case_unassign))
    report_app.command("release")(people_errors(report_release))
    report_app.command("revoke")(people_errors(report_revoke))
