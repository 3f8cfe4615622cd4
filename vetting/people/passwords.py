"""Password hashing (argon2id) and the rules a new password must meet.

Parameters are RFC 9106's second recommended option (t=3, m=64 MiB, p=4), above the OWASP
floor for argon2id (m=19 MiB, t=2, p=1); every hash is a PHC string that records its own
parameters, so raising them later re-hashes each password at its owner's next login.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TIME_COST = 3
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 4
HASH_LEN = 32
SALT_LEN = 16

#: OWASP Password Storage Cheat Sheet minimum for argon2id; a test holds the parameters above it.
OWASP_FLOOR = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}

MIN_LENGTH = 12  # CJIS IA-5(1) and ASVS 5.0 V6.2 ask for at least 8; every login adds TOTP as well
MAX_LENGTH = 128  # ASVS 5.0 V6.2 asks that at least 64 be allowed; a cap keeps hashing bounded

HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB, parallelism=PARALLELISM,
                        hash_len=HASH_LEN, salt_len=SALT_LEN, type=Type.ID)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the login names no account, so a wrong login costs the same time."""
    return HASHER.hash("not a password of anyone")


class PasswordRuleError(ValueError):
    """A new password that the rules refuse."""


#: zxcvbn's score (0 to 4) a new password must reach: 3 is "safely unguessable" for an online
#: attack and resists an offline one on a slow hash; common passwords and their variants score 0-2.
MIN_GUESS_SCORE = 3


def check_new_password(password: str, *, login: str, name: str = "", others: tuple[str, ...] = ()) -> None:
    """Refuse a password that is too short, too long, built from the account's own name, or common.

    "Common" is zxcvbn's judgement: its bundled frequency lists (common passwords, names,
    English words, keyboard patterns) stand in for the list of commonly used or compromised
    passwords that CJIS IA-5(1) and ASVS V6.2 ask new passwords to be checked against.
    """
    if len(password) < MIN_LENGTH:
        raise PasswordRuleError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRuleError(f"a password has at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordRuleError("a password cannot be only spaces")
    lowered = password.lower()
    for part in [login, *name.split()]:
        if len(part) >= 3 and part.lower() in lowered:
            raise PasswordRuleError("a password must not contain the account's login or name")
    from zxcvbn import zxcvbn

    verdict = zxcvbn(password[:MAX_LENGTH], user_inputs=[login, *name.split(), *others])
    if verdict["score"] < MIN_GUESS_SCORE:
        hint = verdict["feedback"].get("warning") or "it follows a common pattern"
        raise PasswordRuleError(f"a password too easy to guess ({hint.rstrip('.')}); a few unrelated words "
                                "make a strong one")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


@dataclass(frozen=True)
class Checked:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used older parameters


def verify_password(stored_hash: str, password: str) -> Checked:
    """Check ``password``; an empty or foreign stored hash never matches (and costs the same time)."""
    if len(password) > MAX_LENGTH:
        return Checked(False)
    if not stored_hash:
        burn_time(password)
        return Checked(False)
    try:
        HASHER.verify(stored_hash, password)
    except VerifyMismatchError:
        return Checked(False)
    except (VerificationError, InvalidHashError):
        return Checked(False)
    return Checked(True, HASHER.hash(password) if HASHER.check_needs_rehash(stored_hash) else None)


def burn_time(password: str) -> None:
    """Spend one verification's time, for logins that name no account."""
    with contextlib.suppress(VerificationError):
        HASHER.verify(_dummy_hash(), password[:MAX_LENGTH])


def parameters(stored_hash: str) -> dict[str, int | str]:
    """The algorithm and cost parameters recorded inside a stored hash."""
    from argon2 import extract_parameters

    params = extract_parameters(stored_hash)
    return {"type": params.type.name.lower(), "version": params.version, "time_cost": params.time_cost,
            "memory_cost": params.memory_cost, "parallelism": params.parallelism}
