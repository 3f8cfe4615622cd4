"""The evidence package of one case: a signed WACZ 1.1.1 that another tool can check and replay.

``vet evidence export CASE -o FILE.wacz`` writes:

* ``archive/*.warc.gz``: the case's WARC files exactly as stored (every response as the server
  sent it, with its request record, redirect hops, the rendered pages' subresources,
  screenshots and extracted text), so the pages replay offline in ReplayWeb.page or pywb;
* ``indexes/index.cdx.gz`` + ``indexes/index.idx`` (CDXJ, written by py-wacz's indexer) and
  ``pages/pages.jsonl`` (each captured page: URL, WARC date, title, item id);
* ``audit/events.jsonl``: every audit event of the case, plus the event that binds the package
  signing key to the log, each with its RFC 6962 inclusion proof in the tree of
  ``audit/checkpoint.txt`` (the log's signed checkpoint, a C2SP signed note, Ed25519) whose
  public key is ``audit/log-key.pem``;
* ``datapackage.json`` (every file with its sha256) and ``datapackage-digest.json`` with
  ``signedData`` per the WACZ Signing and Verification recommendation (anonymous signing:
  ECDSA P-256 / SHA-256 over the ``hash`` string, ``publicKey`` as base64 SPKI DER).

Why a second key: the recommendation's anonymous signatures are ECDSA P-256, which ReplayWeb.page
and the Webrecorder tools verify; the audit log signs with Ed25519. The workspace therefore keeps
one P-256 key for packages (``keys/wacz-signing-key.pem``), and binds it to the log: its
fingerprint is an audit event (``evidence.signing_key``), covered by the Ed25519-signed
checkpoint inside the package. So the package signature is checkable by WACZ tools, and that
the key is the workspace's is checkable from the log.

Before anything is written, every WARC record the case's events name is re-hashed
(:mod:`audit.records`): damaged evidence is never packaged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from vetting.store.workspace import Workspace

SIGNING_KEY_FILE = "wacz-signing-key.pem"
SOFTWARE = "vetting-toolkit evidence export"


class ExportError(ValueError):
    """The package cannot be written (unknown case, no evidence, damaged evidence)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    warcs: int
    pages: int
    events: int
    tree_size: int


# -- the package signing key ---------------------------------------------------------------------

def signing_key(ws: Workspace, actor: str) -> ec.EllipticCurvePrivateKey:
    """The workspace's P-256 package key, created (0600) and bound to the log on first use."""
    path = Path(ws.key_dir) / SIGNING_KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ExportError(f"{path} is not an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    ws.record("evidence.signing_key", actor=actor, subject=SIGNING_KEY_FILE,
              payload={"algorithm": "ECDSA P-256 SHA-256 (WACZ anonymous signing)",
                       "public_key": public_key_b64(key), "fingerprint": key_fingerprint(key)})
    return key


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def key_fingerprint(key: ec.EllipticCurvePrivateKey) -> str:
    return "sha256:" + hashlib.sha256(base64.b64decode(public_key_b64(key))).hexdigest()


def sign_hash(key: ec.EllipticCurvePrivateKey, hash_text: str) -> str:
    """The recommendation's anonymous signature: ECDSA P-256 over the UTF-8 ``hash`` string,
    raw ``r || s`` (IEEE P1363, as WebCrypto verifies it), base64."""
    r, s = decode_dss_signature(key.sign(hash_text.encode(), ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


def verify_signed_data(signed: dict[str, Any]) -> bool:
    """Check an anonymous ``signedData`` block (what counsel's tools do)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
        raw = base64.b64decode(signed["signature"])
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(der, str(signed["hash"]).encode(), ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, KeyError, ValueError, AssertionError):
        return False


# -- the package ---------------------------------------------------------------------------------

def export_case(ws: Workspace, case_id: str, out: Path, actor: str) -> ExportResult:
    """Write the case's signed WACZ to ``out`` (atomically) and record ``evidence.exported``."""
    from sqlmodel import select

    from audit.records import check_records
    from audit.verify import safe_evidence_path
    from vetting.domain.models import Case, Item

    with ws.session() as s:
        case = s.get(Case, case_id)
        items = list(s.exec(select(Item).where(Item.case_id == case_id).order_by(Item.captured_at)))
    if case is None:
        raise ExportError(f"no case {case_id!r} (see `vet case list`)")
    events = list(ws.audit.events(case_id=case_id))
    files = _warc_files(ws, case_id, events)  # evidence-relative path -> the file to read
    warcs = list(files.values())
    if not warcs:
        raise ExportError(f"case {case_id} has no WARC evidence to package (was it run?)")

    def resolve(root: Path, rel: str) -> Path | None:
        return files.get(rel) or safe_evidence_path(root, rel)

    problems: list[str] = []
    for ev in events:
        if "warc_records" in ev.payload:
            check_records(ev.seq, ev.payload["warc_records"], ws.evidence_root,
                          lambda where, msg: problems.append(f"{where}: {msg}"), resolve)
    if problems:
        raise ExportError(f"evidence of case {case_id} is damaged, not packaged: {problems[0]}"
                          + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))

    key = signing_key(ws, actor)
    checkpoint = ws.audit.checkpoint()
    key_events = [e for e in ws.audit.events() if e.action == "evidence.signing_key"
                  and e.payload.get("fingerprint") == key_fingerprint(key)]
    audit_lines = []
    for ev in [*key_events, *events]:
        if ev.seq >= checkpoint.tree_size:
            continue
        proof = ws.audit.inclusion_proof(ev.seq, checkpoint.tree_size)
        audit_lines.append(json.dumps({"event": ev.document(), "leaf_hash": ev.leaf_hash.hex(),
                                       "tree_size": checkpoint.tree_size,
                                       "inclusion_proof": [h.hex() for h in proof]}, sort_keys=True))
    pages = _pages(ws, items, files)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vetting-wacz-") as tmp:
        tmpdir = Path(tmp)
        pages_file = tmpdir / "pages.jsonl"
        header = {"format": "json-pages-1.0", "id": "pages", "title": f"Captured pages of {case_id}"}
        pages_file.write_text("\n".join(json.dumps(p) for p in [header, *pages]) + "\n", encoding="utf-8")
        staged = [tmpdir / f"{PurePosixPath(rel).parent.name}-{PurePosixPath(rel).name}"  # unique in archive/
                  for rel in files]
        for src, dst in zip(warcs, staged, strict=True):
            shutil.copyfile(src, dst)
        base = tmpdir / "base.wacz"
        _py_wacz_create(base, staged, pages_file, case_id)
        extra = {
            "audit/events.jsonl": ("\n".join(audit_lines) + "\n").encode(),
            "audit/checkpoint.txt": checkpoint.note.encode(),
            "audit/log-key.pem": _log_public_pem(ws),
            "audit/README.txt": _audit_readme(case_id, checkpoint.tree_size).encode(),
        }
        final = tmpdir / "final.wacz"
        _finish(base, final, extra, key)
        tmp_out = out.with_name(f".{out.name}.partial")
        shutil.copyfile(final, tmp_out)
        os.chmod(tmp_out, 0o600)
        os.replace(tmp_out, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    ws.record("evidence.exported", actor=actor, case_id=case_id, subject=out.name,
              payload={"format": "WACZ 1.1.1", "sha256": digest, "warcs": len(warcs), "pages": len(pages),
                       "checkpoint_tree_size": checkpoint.tree_size, "signing_key": key_fingerprint(key)})
    return ExportResult(out, digest, len(warcs), len(pages), len(audit_lines), checkpoint.tree_size)


def _log_public_pem(ws: Workspace) -> bytes:
    from audit import checkpoints as cps

    return cps.public_key_pem(cps.load_public_key(Path(ws.key_dir)))


def _warc_files(ws: Workspace, case_id: str, events: list[Any]) -> dict[str, Path]:
    """The case's WARC files: from the evidence folder, or, when evidence is kept in a bucket, each
    file's latest sealed object (downloaded and re-hashed against its seal)."""
    if ws.evidence_store.remote:
        rels = sorted({str(e.subject) for e in events if e.action == "evidence.warc_sealed"})
        return {rel: ws.warc_file(rel) for rel in rels}
    warc_dir = ws.evidence_root / "warc" / case_id
    found = sorted(warc_dir.glob("*.warc.gz")) if warc_dir.is_dir() else []
    return {p.relative_to(ws.evidence_root).as_posix(): p for p in found}


def _pages(ws: Workspace, items: list[Any], files: dict[str, Path]) -> list[dict[str, Any]]:
    """One entry per captured page with a response record: its URL and WARC date, as replay
    tools look them up."""
    from spiders.warc import read_record

    pages = []
    for item in items:
        if item.outcome not in ("captured", "exists"):
            continue
        response = next((a for a in item.artifacts() if a.get("kind") == "response" and a.get("warc")), None)
        if response is None or not any(a.get("kind") == "screenshot" for a in item.artifacts()):
            continue
        headers, _ = read_record(files.get(response["warc"]) or ws.evidence_path(response["warc"]),
                                 int(response["offset"]))
        # an account rendered at its public profile URL (not the check URL) replays from there
        url = item.meta().get("rendered_url") or headers.get("WARC-Target-URI", item.final_url or item.url)
        pages.append({"id": item.id, "url": url,
                      "ts": headers.get("WARC-Date", ""), "title": (item.title or item.url)[:300]})
    return pages


def _py_wacz_create(target: Path, warcs: list[Path], pages: Path, case_id: str) -> None:
    """py-wacz's own writer for the archive, indexes and pages (its output is what it validates)."""
    from wacz.main import main as wacz_main

    with contextlib.redirect_stdout(io.StringIO()) as said:
        code = wacz_main(["create", "-o", str(target), "--hash-type", "sha256", "-p", str(pages), "-c",
                          "--title", f"Evidence of {case_id}", *[str(w) for w in warcs]])
    if code not in (0, None):
        raise ExportError(f"py-wacz could not write the package: {said.getvalue().strip()[-300:]}")


def _finish(base: Path, final: Path, extra: dict[str, bytes], key: ec.EllipticCurvePrivateKey) -> None:
    """Copy py-wacz's package, add the audit files, list them with their digests in
    datapackage.json, and sign datapackage-digest.json."""
    with zipfile.ZipFile(base) as src:
        package = json.loads(src.read("datapackage.json"))
        with zipfile.ZipFile(final, "w") as dst:
            for info in src.infolist():
                if info.filename in ("datapackage.json", "datapackage-digest.json"):
                    continue
                with src.open(info) as fh_in, dst.open(info, "w") as fh_out:
                    shutil.copyfileobj(fh_in, fh_out)
            for name, data in extra.items():
                info = zipfile.ZipInfo(name, date_time=_zip_time(package.get("created", "")))
                info.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(info, data)
                package["resources"].append({"name": Path(name).name.replace(".", "-").lower(), "path": name,
                                             "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                                             "bytes": len(data)})
            package["software"] = f"{SOFTWARE}; {package.get('software', 'py-wacz')}"
            package_bytes = json.dumps(package, indent=2).encode()
            dst.writestr(zipfile.ZipInfo("datapackage.json", date_time=_zip_time(package.get("created", ""))),
                         package_bytes)
            hash_text = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            digest = {"path": "datapackage.json", "hash": hash_text,
                      "signedData": {"hash": hash_text, "created": package["created"], "software": SOFTWARE,
                                     "publicKey": public_key_b64(key), "signature": sign_hash(key, hash_text)}}
            dst.writestr(zipfile.ZipInfo("datapackage-digest.json",
                                         date_time=_zip_time(package.get("created", ""))),
                         json.dumps(digest, indent=2).encode())


def _zip_time(created: str) -> tuple[int, int, int, int, int, int]:
    import datetime

    try:
        t = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        t = datetime.datetime.now(datetime.UTC)
    return (t.year, t.month, t.day, t.hour, t.minute, t.second)


def _audit_readme(case_id: str, tree_size: int) -> str:
    return f"""Audit events of case {case_id}, bound to the workspace's signed audit log.

events.jsonl   one JSON object per line: "event" (the event as logged), "leaf_hash" (hex),
               "tree_size" ({tree_size}) and "inclusion_proof" (RFC 6962 audit path, hex).
checkpoint.txt the log's signed checkpoint (C2SP signed note, Ed25519) for that tree size.
log-key.pem    the log's Ed25519 public key.

The event "evidence.signing_key" binds the ECDSA P-256 key of datapackage-digest.json to the log.
Each "item.captured" event names its WARC records (file, offset, length, sha256 of the record).
See docs/evidence.md of the toolkit for the checks, step by step.
"""
