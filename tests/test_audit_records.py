"""Evidence sealed in the log (issue 9.2), tried the way an attacker with write access would.

A real captured case (``captured``: `vet run` over demo-web pages) is copied, one WARC is
damaged in one way, and `vet audit verify` must fail naming the file, the offset and the event:
a byte flipped inside a record's WARC headers, in a payload, at a gzip member boundary and in a
gzip header (decompresses the same: only the file seal catches it); a header rewritten and
re-gzipped (valid gzip, valid WARC, different bytes); a WARC file deleted; a WARC file truncated.
The untouched copy verifies clean with every record re-hashed.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from capture_fixtures import Captured
from conftest import vet

from vetting.store.workspace import Workspace


@dataclass
class Target:
    ws: Path
    warc: Path
    rel: str  # the WARC's path under the evidence root, as events name it
    offset: int  # of the damaged record's gzip member
    length: int
    event: int  # the item.captured event naming that record
    next_offset: int  # the record after it


def response_record(captured: Captured, tmp_path: Path) -> Target:
    """A copy of the workspace and the first page's response record in it."""
    copy = captured.copy(tmp_path / "copy")
    ws = Workspace.open(copy.ws)
    ev = next(e for e in ws.audit.events() if e.action == "item.captured" and e.payload.get("warc_records"))
    recs = ev.payload["warc_records"]
    rec = next(r for r in recs if r["type"] == "response")
    nxt = next(r for r in recs if r["offset"] == rec["offset"] + rec["length"])
    return Target(copy.ws, copy.ws / "evidence" / rec["file"], rec["file"], rec["offset"], rec["length"], ev.seq,
                  nxt["offset"])


def flip(path: Path, at: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= mask
    path.write_bytes(bytes(data))


def verify(ws: Path) -> tuple[int, str]:
    result = vet("audit", "verify", workspace=ws)
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, result.stdout


def test_the_untouched_evidence_verifies_record_by_record(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    code, out = verify(t.ws)
    assert code == 0, out
    ws = Workspace.open(t.ws)
    named = sum(len(e.payload.get("warc_records", [])) for e in ws.audit.events())
    seals = [e for e in ws.audit.events() if e.action == "evidence.warc_sealed"]
    assert named > 10 and seals  # the page, its request record, subresources, screenshot, text, DOM
    assert f"{named} records re-hashed" in out


def test_a_byte_flipped_in_a_record_header(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    flip(t.warc, t.offset + 30)  # inside the deflate stream, among the WARC headers
    code, out = verify(t.ws)
    assert code == 1
    assert f"PROBLEM file {t.rel} offset {t.offset}: record unreadable" in out and f"(event {t.event})" in out, out
    assert f"PROBLEM file {t.rel}: changed since event" in out  # and the file's seal


def test_a_byte_flipped_in_a_payload(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    flip(t.warc, t.offset + t.length - 40)  # late in the member: the page body
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel} offset {t.offset}: record" in out and f"event {t.event}" in out, out


def test_a_byte_flipped_at_a_gzip_member_boundary(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    flip(t.warc, t.next_offset, 0xFF)  # the next member's first magic byte
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel} offset {t.next_offset}: record unreadable" in out, out
    flip(t.warc, t.next_offset, 0xFF)  # restore it, then break the member's trailer (CRC) instead
    flip(t.warc, t.next_offset - 5)
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel} offset {t.offset}: record unreadable" in out, out


def test_a_byte_flipped_in_a_gzip_header_is_caught_by_the_file_seal(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    flip(t.warc, t.offset + 4)  # the gzip header's MTIME: decompresses to the same record
    assert gzip.decompress(t.warc.read_bytes()[t.offset:t.offset + t.length])
    code, out = verify(t.ws)
    assert code == 1 and f"offset {t.offset}" not in out  # the record itself is intact...
    assert f"PROBLEM file {t.rel}: changed since event" in out, out  # ...the sealed file is not


def test_a_header_rewritten_and_regzipped(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    data = t.warc.read_bytes()
    record = gzip.decompress(data[t.offset:t.offset + t.length])
    head, sep, rest = record.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    i = next(n for n, line in enumerate(lines) if line.startswith(b"WARC-Date:"))
    year_digit = len(b"WARC-Date: ") + 3  # backdate the capture by a year, same length
    lines[i] = lines[i][:year_digit] + str((int(chr(lines[i][year_digit])) - 1) % 10).encode() \
        + lines[i][year_digit + 1:]
    forged = b"\r\n".join(lines) + sep + rest
    assert forged != record and len(forged) == len(record)
    member = zlib.compressobj(9, zlib.DEFLATED, 31)
    regz = member.compress(forged) + member.flush()
    t.warc.write_bytes(data[:t.offset] + regz + data[t.offset + t.length:])
    code, out = verify(t.ws)
    assert code == 1
    assert f"PROBLEM file {t.rel} offset {t.offset}: record" in out and f"event {t.event}" in out, out


def test_validation_rehashes_the_whole_record(captured: Captured, tmp_path: Path) -> None:
    """The payload is untouched, only the WARC-Target-URI is rewritten: validation refuses."""
    from sqlmodel import select

    from vetting.domain.models import Item
    from vetting.review.validation import verify_item_evidence

    t = response_record(captured, tmp_path)
    ws = Workspace.open(t.ws)
    with ws.session() as s:
        item = next(i for i in s.exec(select(Item)) if any(a.get("offset") == t.offset and a.get("kind") == "response"
                                                           for a in i.artifacts()))
    assert verify_item_evidence(ws, item) == []
    data = t.warc.read_bytes()
    record = gzip.decompress(data[t.offset:t.offset + t.length])
    forged = record.replace(b"WARC-Target-URI: http://", b"WARC-Target-URI: https:/", 1)
    assert forged != record
    regz = gzip.compress(forged)
    t.warc.write_bytes(data[:t.offset] + regz + data[t.offset + t.length:])
    problems = verify_item_evidence(ws, item)
    assert any("headers changed since capture" in p for p in problems), problems


def test_a_deleted_warc_file(captured: Captured, tmp_path: Path) -> None:
    t = response_record(captured, tmp_path)
    t.warc.unlink()
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel}: missing (its records are named by event" in out, out
    assert f"PROBLEM file {t.rel}: missing (sealed by event" in out


@pytest.mark.parametrize("keep", ["half", "member"])
def test_a_truncated_warc_file(captured: Captured, tmp_path: Path, keep: str) -> None:
    t = response_record(captured, tmp_path)
    data = t.warc.read_bytes()
    cut = t.offset + t.length // 2 if keep == "half" else t.next_offset
    t.warc.write_bytes(data[:cut])
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel}: truncated: {cut} bytes" in out, out
    first_lost = t.offset if keep == "half" else t.next_offset
    assert f"PROBLEM file {t.rel} offset {first_lost}: record cut short" in out, out


def test_a_record_appended_after_the_seal(captured: Captured, tmp_path: Path) -> None:
    """A well-formed record slipped in at the end (a copy of a real one) is not in any event:
    the seal names the bytes added after it."""
    t = response_record(captured, tmp_path)
    data = t.warc.read_bytes()
    t.warc.write_bytes(data + data[t.offset:t.offset + t.length])
    code, out = verify(t.ws)
    assert code == 1 and f"PROBLEM file {t.rel}: {t.length} bytes after offset {len(data)} were added after event" \
        in out, out
