"""Signed checkpoints (C2SP signed-note / tlog-checkpoint format) and the signing key.

A checkpoint commits to the whole log at one size. Its body is the C2SP
``tlog-checkpoint`` text::

    <origin>\\n<tree size>\\n<base64 root hash>\\n

signed with Ed25519 as a C2SP signed note: the body, a blank line, then one
signature line ``— <key name> <base64(key id || signature)>`` where the key name is
the origin and the key id is the first 4 bytes of
SHA-256(key name || "\\n" || 0x01 || raw public key).

Every checkpoint is stored in ``audit_checkpoint`` and also appended to
``checkpoints.log`` in the key directory (one JSON object a line), which lives
outside the database: whoever deletes the tail of the log *and* its checkpoints
from the database still leaves the file behind to contradict them.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PRIVATE_KEY_FILE = "audit-ed25519.key"
PUBLIC_KEY_FILE = "audit-ed25519.pub"
CHECKPOINTS_FILE = "checkpoints.log"
LOCK_FILE = "checkpoints.lock"
ED25519_ALG = b"\x01"
SIG_PREFIX = "\u2014 "  # em dash + space, per the signed-note spec


def check_origin(origin: str) -> str:
    """An origin doubles as the note key name: no whitespace, no '+', not empty."""
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise ValueError(f"origin must be non-empty without whitespace or '+', got {origin!r}")
    return origin


# --------------------------------------------------------------------------- keys


def load_or_create_private_key(key_dir: Path) -> Ed25519PrivateKey:
    """The log's signing key, created (mode 0600, directory 0700) on first use."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv_path = key_dir / PRIVATE_KEY_FILE
    if priv_path.exists():
        key = serialization.load_pem_private_key(priv_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{priv_path} is not an Ed25519 private key")
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: never overwrite a key another process just created.
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    pub_path = key_dir / PUBLIC_KEY_FILE
    pub_pem = public_key_pem(key.public_key())
    if not pub_path.exists() or pub_path.read_bytes() != pub_pem:
        pub_path.write_bytes(pub_pem)
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(key_dir: Path) -> Ed25519PublicKey:
    """The verification key: the public key file, or derived from the private key."""
    pub_path = key_dir / PUBLIC_KEY_FILE
    if pub_path.exists():
        key = serialization.load_pem_public_key(pub_path.read_bytes())
    elif (key_dir / PRIVATE_KEY_FILE).exists():
        priv = serialization.load_pem_private_key((key_dir / PRIVATE_KEY_FILE).read_bytes(), None)
        key = priv.public_key()
    else:
        raise FileNotFoundError(f"no audit public key in {key_dir}")
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"the audit key in {key_dir} is not Ed25519")
    return key


def key_id(name: str, key: Ed25519PublicKey) -> bytes:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_ALG + raw).digest()[:4]


def public_key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex: what an agency publishes for third parties."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- notes


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def sign_checkpoint(key: Ed25519PrivateKey, origin: str, size: int, root: bytes) -> str:
    """The full signed note for (origin, size, root)."""
    body = checkpoint_body(origin, size, root)
    sig = key.sign(body.encode("utf-8"))
    kid = key_id(origin, key.public_key())
    return f"{body}\n{SIG_PREFIX}{origin} {base64.b64encode(kid + sig).decode('ascii')}\n"


@dataclass(frozen=True)
class ParsedNote:
    origin: str
    size: int
    root: bytes
    body: str
    signatures: list[tuple[str, bytes]]  # (key name, key id || signature)


def parse_note(note: str) -> ParsedNote:
    """Parse a signed checkpoint note; raises ValueError naming what is malformed."""
    body, sep, sigs = note.partition("\n\n")
    if not sep:
        raise ValueError("not a signed note (no blank line before the signatures)")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise ValueError("checkpoint body has fewer than 3 lines")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise ValueError(f"checkpoint size {size_s!r} is not a decimal number")
    try:
        root = base64.b64decode(root_s, validate=True)
    except ValueError as exc:
        raise ValueError(f"checkpoint root is not base64: {exc}") from None
    if len(root) != 32:
        raise ValueError("checkpoint root is not 32 bytes")
    signatures: list[tuple[str, bytes]] = []
    if not sigs.endswith("\n"):
        raise ValueError("signature block does not end with a newline")
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise ValueError(f"malformed signature line {line!r}")
        name, _, b64 = line[len(SIG_PREFIX):].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except ValueError:
            raise ValueError(f"signature of {name!r} is not base64") from None
        if len(blob) < 5:
            raise ValueError(f"signature of {name!r} is too short")
        signatures.append((name, blob))
    return ParsedNote(origin, int(size_s), root, body, signatures)


def signature_problem(note: ParsedNote, key: Ed25519PublicKey) -> str | None:
    """None when the note carries a valid signature by ``key`` under its origin; else why not."""
    kid = key_id(note.origin, key)
    mine = [blob for name, blob in note.signatures if name == note.origin and blob[:4] == kid]
    if not mine:
        return "no signature by the log's public key"
    for blob in mine:
        try:
            key.verify(blob[4:], note.body.encode("utf-8"))
            return None
        except InvalidSignature:
            continue
    return "signature does not verify with the log's public key"


# --------------------------------------------------------------------------- checkpoints.log


@dataclass(frozen=True)
class FileCheckpoint:
    idx: int
    time: str
    note: str


@contextmanager
def file_lock(key_dir: Path) -> Iterator[None]:
    """An exclusive lock (``flock``) on ``checkpoints.lock`` in ``key_dir``, across processes."""
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_checkpoint_file(key_dir: Path, idx: int, time: str, note: str) -> None:
    """Append one checkpoint to ``checkpoints.log`` and fsync it."""
    line = json.dumps({"checkpoint": idx, "time": time, "note": note}, sort_keys=True,
                      ensure_ascii=False) + "\n"
    with open(key_dir / CHECKPOINTS_FILE, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def last_filed_index(path: Path, tail: int = 65536) -> int:
    """Highest checkpoint number in ``checkpoints.log`` (-1 if none), reading only its tail.

    Called at every checkpoint, so it must not get slower as the file grows. A torn last
    line (a crash mid-write) is terminated with a newline so the next entry starts cleanly;
    the verifier will still report the torn line as malformed.
    """
    if not path.exists():
        return -1
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - tail))
        chunk = f.read()
    if chunk and not chunk.endswith(b"\n"):
        with open(path, "ab") as f:
            f.write(b"\n")
    lines = chunk.split(b"\n")
    if size > tail:
        lines = lines[1:]          # the first line of the chunk may be cut
    for line in reversed(lines):
        try:
            return int(json.loads(line)["checkpoint"])
        except (ValueError, KeyError, TypeError):
            continue
    if size > tail:                # nothing readable in the tail: fall back to a full scan
        found = [e.idx for e in read_checkpoint_file(path) if isinstance(e, FileCheckpoint)]
        return max(found, default=-1)
    return -1


def read_checkpoint_file(path: Path) -> Iterator[FileCheckpoint | str]:
    """Entries of a ``checkpoints.log``; a malformed line yields an error string instead."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                yield FileCheckpoint(int(obj["checkpoint"]), str(obj["time"]), str(obj["note"]))
            except (ValueError, KeyError, TypeError) as exc:
                yield f"line {lineno} of {path.name} is malformed: {exc}"
