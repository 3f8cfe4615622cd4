"""TOTP second factor (RFC 6238 through pyotp): secrets encrypted at rest, codes never reused.

A code is accepted for the current 30-second step or one step either side (clock drift), and
only if its step is later than the last accepted one, so a code seen over a shoulder or in a
log cannot be replayed, even within its window (ASVS 5.0 V6.5: a one-time code is used once). The secret is encrypted
with a Fernet key in the workspace's ``keys/totp.key`` (0600), kept apart from the database
so a copy of the database alone does not hold the second factor.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pyotp
from cryptography.fernet import Fernet, InvalidToken

ISSUER = "vetting"
STEP_SECONDS = 30
DRIFT_STEPS = 1
KEY_FILE = "totp.key"


class TotpKeyError(RuntimeError):
    """The key that decrypts TOTP secrets is missing or wrong."""


def _key(key_dir: Path, *, create: bool) -> Fernet:
    path = key_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise TotpKeyError(f"{path} is missing: TOTP secrets cannot be read; an admin must reset "
                               "each account's second factor (vet user reset)")
        key_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
    return Fernet(path.read_bytes().strip())


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226's recommended length


def encrypt_secret(key_dir: Path, secret: str) -> str:
    return _key(key_dir, create=True).encrypt(secret.encode()).decode()


def decrypt_secret(key_dir: Path, token: str) -> str:
    try:
        return _key(key_dir, create=False).decrypt(token.encode()).decode()
    except InvalidToken:
        raise TotpKeyError(f"{key_dir / KEY_FILE} does not decrypt this account's TOTP secret") from None


def provisioning_uri(secret: str, login: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or typed in)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=login, issuer_name=ISSUER)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(when)


def accepted_step(secret: str, code: str, *, now: datetime, last_step: int) -> int | None:
    """The time-step ``code`` belongs to, if it is valid now and newer than ``last_step``; else None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = totp.timecode(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            found = step
    if found is None or found <= last_step:
        return None
    return found
