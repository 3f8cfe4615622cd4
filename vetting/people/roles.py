"""The roles and which of them one account may hold together.

Separation of duties (CJIS Security Policy AC-5, ASVS V8): the account administrator manages
accounts and nothing else, so an admin can never decide, concur or approve; an automation
account runs cases for scripts and the demo and holds no human role; hiring staff read only
the findings reports released to them, so the same account cannot also see the raw collected
content as an investigator, supervisor or commander.
"""

from __future__ import annotations

from collections.abc import Iterable

from vetting.people.models import EXCLUSIVE_ROLES, ROLES

#: What each role is for (``vet user list --roles``; a test holds it to the role set).
ROLE_PURPOSE = {
    "investigator": "adds candidates, runs cases assigned to them, reviews and decides items",
    "supervisor": "concurs on adverse findings decided by another account; assigns cases",
    "commander": "approves procedures, reviews the audit trail, assigns cases, releases reports",
    "hiring": "reads the findings reports released to them, nothing else",
    "admin": "manages accounts only: cannot decide, concur, approve or read reports",
    "automation": "runs cases for scripts and the demo; holds no human role",
}

#: Pairs refused on one account, with the reason given to the admin.
INCOMPATIBLE = {
    frozenset({"hiring", "investigator"}): "hiring staff must not see unvalidated, raw content",
    frozenset({"hiring", "supervisor"}): "hiring staff must not see unvalidated, raw content",
    frozenset({"hiring", "commander"}): "hiring staff must not see unvalidated, raw content",
}


class RoleError(ValueError):
    """A role set that no account may hold."""


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles, validated and in the canonical order; raise :class:`RoleError` naming the problem."""
    given = [r.strip().lower() for r in roles]
    if not given:
        raise RoleError("an account needs at least one role (" + ", ".join(ROLES) + ")")
    unknown = sorted({r for r in given if r not in ROLES})
    if unknown:
        raise RoleError(f"unknown role {', '.join(unknown)}; roles are: {', '.join(ROLES)}")
    chosen = set(given)
    for role in EXCLUSIVE_ROLES:
        if role in chosen and len(chosen) > 1:
            others = ", ".join(sorted(chosen - {role}))
            raise RoleError(f"the {role} role is held alone (separation of duties), not with {others}")
    for pair, why in INCOMPATIBLE.items():
        if pair <= chosen:
            a, b = sorted(pair)
            raise RoleError(f"{a} and {b} cannot be held by one account: {why}")
    return tuple(r for r in ROLES if r in chosen)
