"""Re-hashing the evidence records and sealed files that events name (``vet audit verify``).

Evidence is kept in record-at-a-time gzip files (WARC): each record is its own gzip member.
An event that stored records names each one as ``{"file", "offset", "length", "sha256"}``:
the gzip member at ``offset`` of ``length`` bytes, whose decompressed bytes (the whole record,
headers and block) hash to ``sha256``. An event that closed a file names it as
``"sealed_file": {"path", "size", "sha256"}``: the sha256 of the file's first ``size`` bytes.

This module knows nothing of WARC beyond "a gzip member" and nothing of Scrapy or the
toolkit: it reads byte ranges, decompresses and hashes. Every problem names the file, the
offset and the event, so an auditor can go straight to it.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

READ_CHUNK = 1 << 20

AddProblem = Callable[[str, str], None]
ResolvePath = Callable[[Path, str], Path | None]
# A file an event names is absent: (file, event seq, problem). The verifier decides at the end of
# the log whether that is a problem or evidence a later event disposed of by design.
FileMissing = Callable[[str, int, str], None]


class OpenFiles:
    """The evidence files verification reads, each opened once for the whole run (a missing
    or escaping one is remembered as None)."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}

    def close(self) -> None:
        for fh in self.handles.values():
            if fh is not None:
                fh.close()
        self.handles.clear()


def _pread(fd: int, length: int, offset: int) -> bytes:
    """``length`` bytes at ``offset`` in one call (no seek, no buffer copy); fewer at the end of the file."""
    if length < 0 or offset < 0:
        return b""
    data = os.pread(fd, length, offset)
    if len(data) == length or not data:
        return data
    parts = [data]
    got = len(data)
    while got < length and (more := os.pread(fd, length - got, offset + got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def check_records(seq: int, records: Any, root: Path, add: AddProblem, resolve: ResolvePath,
                  files: OpenFiles | None = None, missing: FileMissing | None = None) -> int:
    """Re-hash every record an event names; returns how many were hashed. ``files`` keeps the
    files open across events (the caller closes it); without it they are closed on return.
    An absent file goes to ``missing`` when given, else it is a problem."""
    def absent(rel: str, problem: str) -> None:
        if missing is not None:
            missing(rel, seq, problem)
        else:
            add(f"file {rel}", problem)

    if not isinstance(records, list):
        add(f"event {seq}", "payload 'warc_records' is not a list")
        return 0
    checked = 0
    own = files is None
    files = files if files is not None else OpenFiles()
    handles = files.handles
    reported: set[str] = set()
    try:
        for i, rec in enumerate(records):
            if not (isinstance(rec, dict) and isinstance(rec.get("file"), str) and isinstance(rec.get("sha256"), str)
                    and isinstance(rec.get("offset"), int) and isinstance(rec.get("length"), int)):
                add(f"event {seq}", f"record #{i} is not an object with file, offset, length and sha256")
                continue
            rel = rec["file"]
            where = f"file {rel} offset {rec['offset']}"
            if rel in handles and handles[rel] is None and rel not in reported:
                reported.add(rel)  # missing or escaping: named once per event
                full = resolve(root, rel)
                if full is None:
                    add(f"event {seq}", f"record file {rel!r} escapes the evidence root")
                else:
                    absent(rel, f"missing (its records are named by event {seq})")
            if rel not in handles:
                reported.add(rel)
                full = resolve(root, rel)
                if full is None:
                    add(f"event {seq}", f"record file {rel!r} escapes the evidence root")
                    handles[rel] = None
                elif not full.is_file():
                    absent(rel, f"missing (its records are named by event {seq})")
                    handles[rel] = None
                else:
                    handles[rel] = full.open("rb", buffering=0)
            fh = handles[rel]
            if fh is None:
                continue
            member = _pread(fh.fileno(), rec["length"], rec["offset"])
            checked += 1
            if len(member) != rec["length"]:
                add(where, f"record cut short: {len(member)} of {rec['length']} bytes left (event {seq}); "
                           "the file was truncated")
                continue
            try:
                decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
                data = decomp.decompress(member)
                if not decomp.eof or decomp.unused_data:
                    raise zlib.error("the gzip member does not end where the event says")
            except zlib.error as exc:
                add(where, f"record unreadable ({exc}) (event {seq})")
                continue
            got = hashlib.sha256(data).hexdigest()
            if got != rec["sha256"].lower():
                add(where, f"record changed since event {seq} recorded it (sha256 {got}, recorded {rec['sha256']})")
    finally:
        if own:
            files.close()
    return checked


def check_sealed(seals: dict[str, tuple[int, Any]], root: Path, add: AddProblem, resolve: ResolvePath,
                 missing: FileMissing | None = None) -> int:
    """Re-hash each sealed file against its latest seal (``path -> (event seq, sealed_file)``);
    an absent file goes to ``missing`` when given, else it is a problem."""
    checked = 0
    for rel, (seq, seal) in sorted(seals.items()):
        if not (isinstance(seal, dict) and isinstance(seal.get("size"), int) and isinstance(seal.get("sha256"), str)):
            add(f"event {seq}", "payload 'sealed_file' is not an object with path, size and sha256")
            continue
        full = resolve(root, rel)
        if full is None:
            add(f"event {seq}", f"sealed file {rel!r} escapes the evidence root")
            continue
        if not full.is_file():
            if missing is not None:
                missing(rel, seq, f"missing (sealed by event {seq})")
            else:
                add(f"file {rel}", f"missing (sealed by event {seq})")
            continue
        size = full.stat().st_size
        checked += 1
        if size < seal["size"]:
            add(f"file {rel}", f"truncated: {size} bytes, {seal['size']} when sealed by event {seq}")
            continue
        digest = hashlib.sha256()
        left = seal["size"]
        with full.open("rb") as fh:
            while left:
                chunk = fh.read(min(READ_CHUNK, left))
                digest.update(chunk)
                left -= len(chunk)
        if digest.hexdigest() != seal["sha256"].lower():
            add(f"file {rel}", f"changed since event {seq} sealed it (sha256 of its first {seal['size']} bytes "
                               f"is {digest.hexdigest()}, sealed {seal['sha256']})")
        elif size > seal["size"]:
            add(f"file {rel}", f"{size - seal['size']} bytes after offset {seal['size']} were added after "
                               f"event {seq} sealed it")
    return checked
