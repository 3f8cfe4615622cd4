#!/usr/bin/env python3
"""Verify an exported vetting audit log. Needs only Python 3.9+ and ``cryptography``.

Usage::

    python3 standalone_verify.py EXPORT_DIR [--fingerprint HEX] [--public-key PEM]
                                 [--evidence DIR] [--previous OLD_CHECKPOINTS_LOG]
                                 [--allow-unsigned-tail] [--quiet]

Exit status: 0 every check passed, 1 problems found (listed one per line as
``PROBLEM <where>: <what>``), 2 the export could not be read or the arguments are wrong.

This file deliberately imports nothing from the toolkit that produced the export: it
re-implements the few definitions it needs (canonical JSON, RFC 6962 hashing, the C2SP
signed-note checkpoint) so that it can be read, audited and run by anyone, anywhere.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EMPTY_ROOT = hashlib.sha256(b"").digest()
CHAIN_SEED = bytes(32)
EVENT_KEYS = {"v", "seq", "time", "actor", "action", "case_id", "subject", "payload"}


def canonical(value: Any) -> bytes:
    """Keys sorted, no whitespace, UTF-8 with non-ASCII characters unescaped, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """Roots of the perfect subtrees of the tree so far (RFC 6962 tree, streaming)."""

    def __init__(self) -> None:
        self.size = 0
        self.hashes: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        h, n = leaf, self.size
        while n & 1:
            h = node_hash(self.hashes.pop(), h)
            n >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r


class Note:
    def __init__(self, text: str) -> None:
        body, sep, sigs = text.partition("\n\n")
        if not sep or not sigs.endswith("\n"):
            raise ValueError("not a signed note")
        self.body = body + "\n"
        lines = body.split("\n")
        if len(lines) < 3 or not lines[1].isdigit():
            raise ValueError("not a checkpoint (origin, size, root)")
        self.origin = lines[0]
        self.size = int(lines[1])
        self.root = base64.b64decode(lines[2], validate=True)
        if len(self.root) != 32:
            raise ValueError("root is not 32 bytes")
        self.signatures: list[tuple[str, bytes]] = []
        for line in sigs[:-1].split("\n"):
            if not line.startswith("\u2014 "):
                raise ValueError("malformed signature line")
            name, _, b64 = line[2:].partition(" ")
            self.signatures.append((name, base64.b64decode(b64, validate=True)))

    def signature_problem(self, key: Ed25519PublicKey) -> str | None:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = hashlib.sha256(self.origin.encode() + b"\n\x01" + raw).digest()[:4]
        mine = [b for n, b in self.signatures if n == self.origin and b[:4] == kid]
        if not mine:
            return "no signature by the log's public key"
        for blob in mine:
            try:
                key.verify(blob[4:], self.body.encode("utf-8"))
                return None
            except InvalidSignature:
                pass
        return "signature does not verify with the log's public key"


class Verifier:
    def __init__(self, key: Ed25519PublicKey) -> None:
        self.key = key
        self.problems: list[tuple[str, str]] = []
        self.origin: str | None = None
        self.claims: dict[int, list[tuple[str, bytes]]] = {}   # size -> [(label, root)]
        self.signed_size = -1
        self.checkpoints = 0

    def problem(self, where: str, what: str) -> None:
        self.problems.append((where, what))

    def load_checkpoints(self, path: Path, label: str) -> None:
        prev = -1
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                where = f"{label} {int(entry['checkpoint'])}"
                note = Note(entry["note"])
            except (ValueError, KeyError, TypeError) as exc:
                self.problem(f"{path.name} line {lineno}", f"malformed: {exc}")
                continue
            self.checkpoints += 1
            why = note.signature_problem(self.key)
            if why:
                self.problem(where, why)
                continue
            if self.origin is None:
                self.origin = note.origin
            elif note.origin != self.origin:
                self.problem(where, f"origin {note.origin!r} differs from {self.origin!r}")
            if note.size < prev:
                self.problem(where, f"size {note.size} is smaller than an earlier {prev}")
            prev = max(prev, note.size)
            self.signed_size = max(self.signed_size, note.size)
            self.claims.setdefault(note.size, []).append((where, note.root))

    def check_root(self, size: int, root: bytes) -> None:
        for where, claimed in self.claims.pop(size, []):
            if claimed != root:
                self.problem(where, f"signed root for size {size} does not match the tree "
                                    f"of events 0..{size - 1}")

    def events(self, path: Path, evidence: Path | None) -> int:
        frontier = Frontier()
        prev_chain = CHAIN_SEED
        expected = 0
        self.check_root(0, EMPTY_ROOT)
        for lineno, line in _lines(path):
            where = f"events.jsonl line {lineno}"
            try:
                rec = json.loads(line)
                ev = rec["event"]
                stored_leaf = bytes.fromhex(rec["leaf_hash"])
                stored_chain = bytes.fromhex(rec["chain_hash"])
                if set(ev) != EVENT_KEYS or not isinstance(ev["payload"], dict):
                    raise ValueError("event object does not have exactly the expected fields")
                seq = ev["seq"]
                if not isinstance(seq, int):
                    raise ValueError("seq is not an integer")
            except (ValueError, KeyError, TypeError) as exc:
                self.problem(where, f"malformed: {exc}")
                continue
            where = f"event {seq}"
            if seq != expected:
                self.problem(where, f"out of sequence (expected event {expected})")
            leaf = leaf_hash(canonical(ev))
            if leaf != stored_leaf:
                self.problem(where, "leaf hash does not match its contents")
            if hashlib.sha256(prev_chain + stored_leaf).digest() != stored_chain:
                self.problem(where, "chain hash does not follow from the previous event")
            prev_chain = stored_chain
            frontier.append(leaf)
            expected = seq + 1
            if frontier.size in self.claims:
                self.check_root(frontier.size, frontier.root())
            if evidence is not None and "artifacts" in ev["payload"]:
                self.artifacts(seq, ev["payload"]["artifacts"], evidence)
        for size in sorted(self.claims):
            for where, _ in self.claims[size]:
                self.problem(where, f"covers {size} events, the export has {frontier.size}")
        self.root = frontier.root()
        return frontier.size

    def artifacts(self, seq: int, artifacts: Any, root: Path) -> None:
        for art in artifacts if isinstance(artifacts, list) else [None]:
            if not isinstance(art, dict) or not isinstance(art.get("path"), str) \
                    or not isinstance(art.get("sha256"), str):
                self.problem(f"event {seq}", "malformed artifact entry")
                continue
            rel = art["path"]
            p = PurePosixPath(rel)
            full = root.joinpath(*p.parts)
            if not rel or "\\" in rel or p.is_absolute() or ".." in p.parts or \
                    not str(full.resolve()).startswith(str(root.resolve()) + "/"):
                self.problem(f"event {seq}", f"artifact path {rel!r} escapes the evidence root")
                continue
            if not full.is_file():
                self.problem(f"file {rel}", f"missing (recorded by event {seq})")
                continue
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if h.hexdigest() != art["sha256"].lower():
                self.problem(f"file {rel}", f"contents changed since event {seq} recorded them")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, line


def check_sums(export: Path, problems: list[tuple[str, str]]) -> None:
    sums = export / "SHA256SUMS"
    if not sums.exists():
        return
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        f = export / name
        if not f.is_file():
            problems.append((f"file {name}", "listed in SHA256SUMS but missing"))
        elif hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            problems.append((f"file {name}", "does not match SHA256SUMS"))


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Verify an exported vetting audit log.")
    ap.add_argument("export", type=Path)
    ap.add_argument("--public-key", type=Path, help="PEM public key (default: the export's)")
    ap.add_argument("--fingerprint", help="expected SHA-256 fingerprint of the public key")
    ap.add_argument("--evidence", type=Path, help="evidence root: re-hash the files events name")
    ap.add_argument("--previous", type=Path, action="append", default=[],
                    help="a checkpoints.log received earlier: this log must extend it")
    ap.add_argument("--allow-unsigned-tail", action="store_true",
                    help="do not fail on events after the last checkpoint")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    export: Path = args.export
    try:
        key = serialization.load_pem_public_key(
            (args.public_key or export / "public_key.pem").read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key is not Ed25519")
        for name in ("events.jsonl", "checkpoints.log"):
            if not (export / name).is_file():
                raise FileNotFoundError(f"{export / name} is missing")
    except (OSError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    v = Verifier(key)
    check_sums(export, v.problems)
    fp = fingerprint(key)
    if args.fingerprint and args.fingerprint.lower().replace(":", "") != fp:
        v.problem("key", f"fingerprint {fp} is not the expected {args.fingerprint}")
    v.load_checkpoints(export / "checkpoints.log", "checkpoint")
    for prev in args.previous:
        v.load_checkpoints(prev, f"previous checkpoint ({prev.name})")
    n = v.events(export / "events.jsonl", args.evidence)
    if v.signed_size < 0:
        v.problem("checkpoints.log", "no validly signed checkpoint: no event is covered")
    elif n > v.signed_size and not args.allow_unsigned_tail:
        v.problem(f"event {v.signed_size}..end",
                  f"not covered by any signed checkpoint ({n - v.signed_size} events)")
    for where, what in v.problems:
        print(f"PROBLEM {where}: {what}")
    if not args.quiet:
        state = "OK" if not v.problems else f"FAILED ({len(v.problems)} problems)"
        print(f"{state}: {n} events, {v.checkpoints} checkpoints, origin {v.origin}, "
              f"root {v.root.hex()}, key fingerprint {fp}")
    return 0 if not v.problems else 1


if __name__ == "__main__":
    sys.exit(main())
