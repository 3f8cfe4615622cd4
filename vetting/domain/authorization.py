"""The signed authorization: a document (PDF or picture) read safely from the investigator's disk.

Without a signed authorization nothing is searched, so the file stored as one must be one:
a regular file (not a symbolic link to something else, not a folder, not a device such as
``/dev/null``), not empty, not huge, and a PDF or an image judged by its first bytes, never
by its name (``/etc/passwd`` renamed ``.pdf`` is refused).

The file is opened once with ``O_NOFOLLOW`` and checked on the open descriptor, so it cannot
be swapped for a link between the check and the read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vetting.domain.yamlsource import clip

#: Largest authorization accepted (a scanned multi-page PDF fits easily).
MAX_AUTHORIZATION_BYTES = 50 * 1024 * 1024

#: Document types by magic bytes: (prefix, suffix stored, name shown).
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", ".pdf", "PDF"),
    (b"\x89PNG\r\n\x1a\n", ".png", "PNG"),
    (b"\xff\xd8\xff", ".jpg", "JPEG"),
    (b"II*\x00", ".tif", "TIFF"),
    (b"MM\x00*", ".tif", "TIFF"),
    (b"GIF87a", ".gif", "GIF"),
    (b"GIF89a", ".gif", "GIF"),
)
ACCEPTED = "PDF, PNG, JPEG, TIFF, GIF or WebP"


@dataclass(frozen=True)
class AuthorizationDocument:
    data: bytes
    suffix: str
    kind: str


def document_kind(head: bytes) -> tuple[str, str] | None:
    """(suffix, name) of a PDF or image from its first bytes, or None."""
    for prefix, suffix, name in _MAGIC:
        if head.startswith(prefix):
            return suffix, name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp", "WebP"
    return None


def read_authorization(path: Path) -> tuple[AuthorizationDocument | None, str | None]:
    """The document at ``path``, or None and the reason it is refused (one sentence)."""
    shown = clip(path, 120)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None, f"{shown} does not exist"
    except (OSError, ValueError) as exc:
        return None, f"{shown} cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISLNK(info.st_mode):
        return None, (f"{shown} is a symbolic link; give the signed document itself, not a link "
                      "(a link can point anywhere)")
    if stat.S_ISDIR(info.st_mode):
        return None, f"{shown} is a folder, not the signed document"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{shown} is not a regular file (a device, pipe or socket), not the signed document"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return None, f"{shown} cannot be read ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None, f"{shown} is not a regular file"
        if info.st_size == 0:
            return None, f"{shown} is empty"
        if info.st_size > MAX_AUTHORIZATION_BYTES:
            return None, (f"{shown} is too large ({info.st_size:,} bytes; at most "
                          f"{MAX_AUTHORIZATION_BYTES:,})")
        data = fh.read(MAX_AUTHORIZATION_BYTES + 1)
    kind = document_kind(data[:16])
    if kind is None:
        return None, (f"{shown} is not a signed document: its content is not a {ACCEPTED} "
                      "(judged by its first bytes, not its name)")
    return AuthorizationDocument(data, kind[0], kind[1]), None
