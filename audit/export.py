"""Export the audit log as a self-contained directory a third party can verify.

The export holds everything needed and nothing of this repository:

* ``events.jsonl``: one line per event, ``{"chain_hash": hex, "event": {...}, "leaf_hash": hex}``
  where ``event`` is the canonical event object (the leaf hash is over its canonical JSON);
* ``checkpoints.log``: every signed checkpoint, same format as the key directory's file;
* ``public_key.pem``: the log's Ed25519 public key (compare its fingerprint with the one the
  agency publishes out of band);
* ``standalone_verify.py``: a single-file verifier needing only Python and ``cryptography``;
* ``VERIFY.md``: the procedure, for a person;
* ``SHA256SUMS``: digests of the files above, so damage in transit is obvious.

Before writing, the log is checkpointed if events were appended since the last checkpoint,
so every exported event is covered by a signature.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select

from audit import checkpoints as cps
from audit.events import canonical_json
from audit.log import AuditLog, iter_events
from audit.store import audit_checkpoint

STANDALONE = Path(__file__).with_name("standalone_verify.py")
EXPORT_FILES = ("events.jsonl", "checkpoints.log", "public_key.pem", "standalone_verify.py",
                "VERIFY.md")


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    events: int
    checkpoints: int
    tree_size: int
    root: bytes
    key_fingerprint: str


def export_log(engine: Engine, key_dir: Path, out_dir: Path, *, origin: str | None = None,
               checkpoint: bool = True) -> ExportResult:
    """Write the export into ``out_dir`` (created; must be empty if it exists).

    ``origin`` is only needed to sign a first checkpoint of a log that has none; otherwise the
    origin of the last checkpoint is used.
    """
    key_dir, out_dir = Path(key_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    out_dir.mkdir(parents=True, exist_ok=True)

    if checkpoint:
        last = _last_checkpoint_origin(engine)
        log_origin = origin or last
        if log_origin is None:
            raise ValueError("the log has no checkpoint yet: pass origin= to sign one")
        AuditLog(engine, key_dir, log_origin).checkpoint()

    n = 0
    with open(out_dir / "events.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for ev in iter_events(engine):
            f.write(canonical_json({"event": ev.document(), "leaf_hash": ev.leaf_hash.hex(),
                                    "chain_hash": ev.chain_hash.hex()}) + "\n")
            n += 1

    with engine.connect() as conn:
        rows = conn.execute(select(audit_checkpoint).order_by(audit_checkpoint.c.idx)).all()
    with open(out_dir / "checkpoints.log", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps({"checkpoint": r.idx, "time": r.time, "note": r.note},
                               sort_keys=True, ensure_ascii=False) + "\n" for r in rows)

    key = cps.load_public_key(key_dir)
    (out_dir / "public_key.pem").write_bytes(cps.public_key_pem(key))
    shutil.copyfile(STANDALONE, out_dir / "standalone_verify.py")
    fingerprint = cps.public_key_fingerprint(key)
    last_row = rows[-1] if rows else None
    (out_dir / "VERIFY.md").write_text(verify_md(
        fingerprint, n, len(rows), last_row.tree_size if last_row else 0,
        bytes(last_row.root).hex() if last_row else ""), encoding="utf-8")
    with open(out_dir / "SHA256SUMS", "w", encoding="utf-8") as f:
        f.writelines(f"{_sha256(out_dir / name)}  {name}\n" for name in EXPORT_FILES)
    return ExportResult(out_dir, n, len(rows), last_row.tree_size if last_row else 0,
                        bytes(last_row.root) if last_row else b"", fingerprint)


def _last_checkpoint_origin(engine: Engine) -> str | None:
    with engine.connect() as conn:
        note = conn.execute(select(audit_checkpoint.c.note)
                            .order_by(audit_checkpoint.c.idx.desc()).limit(1)).scalar()
    return None if note is None else cps.parse_note(note).origin


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_md(fingerprint: str, events: int, checkpoints: int, size: int, root_hex: str) -> str:
    """The human procedure shipped with every export."""
    return f"""# Verifying this audit log export

This directory is an export of a vetting toolkit audit log: {events} events and
{checkpoints} signed checkpoints. The latest checkpoint covers {size} events with
Merkle root `{root_hex or '(none)'}`.

## What you need

* Python 3.9 or later and the `cryptography` package (`pip install cryptography`).
  Nothing else: `standalone_verify.py` is a single file using only those.

## Procedure

1. Check the files arrived intact: `sha256sum -c SHA256SUMS` (or compare by hand).
2. Check the key. The log's Ed25519 public key fingerprint (SHA-256 of the raw 32-byte key) is

       {fingerprint}

   Compare it with the fingerprint the agency published or gave you through another channel
   (letter, website, phone). A matching fingerprint in this file alone proves nothing: whoever
   could alter the log could alter this file too.
3. Run the verifier, pinning the fingerprint you obtained independently:

       python3 standalone_verify.py . --fingerprint <published fingerprint>

   Add `--evidence <dir>` to also re-hash the evidence files the events name.
   Exit status 0 means every check passed; 1 means problems were found (each is listed with
   the event, checkpoint or file concerned); 2 means the export could not be read.

## What the verifier checks

* Every event's leaf hash is SHA-256(0x00 || canonical JSON of the event), where canonical
  JSON has keys sorted, no whitespace, UTF-8 (non-ASCII characters unescaped).
* Sequence numbers run 0, 1, 2, ... without gaps; each chain hash is
  SHA-256(previous chain hash || leaf hash), starting from 32 zero bytes.
* The RFC 6962 Merkle tree over the leaves has, at each checkpoint's size, the root that
  checkpoint states.
* Every checkpoint (C2SP signed note: origin, size, base64 root) carries a valid Ed25519
  signature by the public key, all from the same origin, with sizes never decreasing.
* No event lies beyond the last checkpoint (an unsigned tail could have been added by anyone).

## What it cannot tell you

Whoever holds the signing key can produce a different, internally consistent history. Keep
earlier exports or checkpoints you received: a later checkpoint must extend them (same root at
the old size), which this verifier also checks with `--previous <old checkpoints.log>`.
"""
