"""WARC evidence: valid under ``warcio check``, sha256 digests, kill-safe append and repair."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from spiders.warc import (
    RecordRef,
    WarcDamaged,
    WarcEvidenceWriter,
    WarcFileLocked,
    read_record,
    scan_warc,
)

WARCIO = str(Path(sys.executable).with_name("warcio"))
FIXTURES = Path(__file__).parent / "fixtures" / "warc"
INFO = {"software": "vetting/0.1.0", "procedure-fingerprint": "ab" * 32, "operator": "Det. Jane Doe",
        "case": "case-0001"}
PAGE = b"<html><head><title>Alex</title></head><body><p>Range day with friends.</p></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def warcio_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)


def write_sample(path: Path) -> tuple[RecordRef, RecordRef, RecordRef]:
    with WarcEvidenceWriter(path, INFO) as writer:
        resp = writer.write_exchange(
            "http://127.0.0.1:8000/u/alex", {"User-Agent": "Agency-Vetting/1.0 (+https://agency.example)",
                                             "Accept": "text/html"},
            200, [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked"),
                  ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], PAGE)
        shot = writer.write_resource("http://127.0.0.1:8000/u/alex", "image/png", PNG, refers_to=resp.record_id,
                                     kind="screenshot")
        text = writer.write_resource("http://127.0.0.1:8000/u/alex", "text/plain; charset=utf-8",
                                     b"Range day with friends.", refers_to=resp.record_id, kind="text")
    return resp, shot, text


def records(path: Path) -> list[dict[str, str]]:
    with path.open("rb") as fh:
        return [dict(r.rec_headers.headers) for r in ArchiveIterator(fh)]


def test_written_file_passes_warcio_check_with_sha256(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    write_sample(path)
    result = warcio_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    # -v prints one verdict per record; every record's digests were checked and passed
    assert result.stdout.count("digest pass") == 5 and "fail" not in result.stdout
    heads = records(path)
    assert [h["WARC-Type"] for h in heads] == ["warcinfo", "response", "request", "resource", "conversion"]
    for h in heads[1:]:
        assert h["WARC-Block-Digest"].startswith("sha256:")
        assert h["WARC-Warcinfo-ID"] == heads[0]["WARC-Record-ID"]
    assert heads[1]["WARC-Payload-Digest"].startswith("sha256:")
    assert all(h.get("WARC-Type") != "warcinfo" or "WARC/1.1" for h in heads)


def test_warcio_check_detects_a_changed_byte(tmp_path: Path) -> None:
    """The check above can fail: a single flipped byte inside a record is a digest failure."""
    path = tmp_path / "case.warc.gz"
    resp, _, _ = write_sample(path)
    raw = path.read_bytes()
    member = gzip.decompress(raw[resp.offset:resp.offset + resp.length])
    tampered = member.replace(b"Range day", b"Rage day!")
    assert tampered != member
    path.write_bytes(raw[:resp.offset] + gzip.compress(tampered) + raw[resp.offset + resp.length:])
    result = warcio_check(path)
    assert result.returncode != 0 or "digest fail" in result.stdout


def test_record_refs_hash_the_captured_bytes_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    resp, shot, text = write_sample(path)
    assert resp.payload_sha256 == hashlib.sha256(PAGE).hexdigest()
    assert shot.payload_sha256 == hashlib.sha256(PNG).hexdigest()
    for ref, expected in ((resp, PAGE), (shot, PNG), (text, b"Range day with friends.")):
        headers, payload = read_record(ref.warc_path, ref.offset)
        assert payload == expected
        assert hashlib.sha256(payload).hexdigest() == ref.payload_sha256
        assert headers["WARC-Record-ID"] == ref.record_id
        # the WARC's own payload/block digest is the same sha256, base32 as warcio writes it
        digest = "sha256:" + base64.b32encode(hashlib.sha256(payload).digest()).decode()
        assert digest in (headers.get("WARC-Payload-Digest"), headers.get("WARC-Block-Digest"))
    # the member at offset/length is exactly one record
    raw = path.read_bytes()
    assert gzip.decompress(raw[shot.offset:shot.offset + shot.length]).startswith(b"WARC/1.1\r\n")


def test_exchange_and_derived_records_are_linked(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    resp, shot, text = write_sample(path)
    heads = {h["WARC-Record-ID"]: h for h in records(path)}
    request = next(h for h in heads.values() if h["WARC-Type"] == "request")
    assert request["WARC-Concurrent-To"] == resp.record_id
    assert request["WARC-Date"] == heads[resp.record_id]["WARC-Date"]
    assert heads[text.record_id]["WARC-Refers-To"] == resp.record_id
    assert heads[text.record_id]["Vetting-Artifact-Kind"] == "text"
    assert heads[shot.record_id]["WARC-Concurrent-To"] == resp.record_id
    assert heads[shot.record_id]["Content-Type"] == "image/png"
    info = next(h for h in heads.values() if h["WARC-Type"] == "warcinfo")
    with path.open("rb") as fh:
        body = next(iter(ArchiveIterator(fh))).content_stream().read().decode()
    assert "operator: Det. Jane Doe" in body and "case: case-0001" in body
    assert f"procedure-fingerprint: {'ab' * 32}" in body
    assert info["WARC-Filename"] == "case.warc.gz"


def test_response_headers_describe_the_stored_body(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    write_sample(path)
    with path.open("rb") as fh:
        record = next(r for r in ArchiveIterator(fh) if r.rec_type == "response")
        http_headers = record.http_headers
        assert http_headers.get_header("Content-Length") == str(len(PAGE))
        assert http_headers.get_header("Transfer-Encoding") is None
        assert http_headers.get_header("X-Vetting-Orig-Transfer-Encoding") == "chunked"
        assert [v for k, v in http_headers.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
        assert http_headers.statusline == "200 OK"


def test_append_on_resume_keeps_earlier_records(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    first, _, _ = write_sample(path)
    with WarcEvidenceWriter(path, INFO) as writer:
        second = writer.write_exchange("http://127.0.0.1:8000/b", {}, 404, {}, b"gone")
    heads = records(path)
    assert [h["WARC-Type"] for h in heads].count("warcinfo") == 2
    assert read_record(path, first.offset)[1] == PAGE
    assert read_record(path, second.offset)[1] == b"gone"
    assert warcio_check(path).returncode == 0


@pytest.mark.parametrize("cut", [1, 7, 40, "half", "all-but-header"])
def test_truncated_trailing_record_is_repaired_on_resume(tmp_path: Path, cut: int | str) -> None:
    path = tmp_path / "case.warc.gz"
    resp, shot, text = write_sample(path)
    size = path.stat().st_size
    assert text.offset + text.length == size
    keep = {"half": text.offset + text.length // 2, "all-but-header": text.offset + 10}.get(
        str(cut), size - cut if isinstance(cut, int) else size)
    with path.open("r+b") as fh:  # what a kill in the middle of the last write leaves
        fh.truncate(keep)
    scan = scan_warc(path)
    assert scan.truncated and scan.good_end == text.offset and scan.problem
    # (warcio check passes such a file silently: it reads the partial last record as short, so
    # the writer's own scan is what finds the damage)
    with WarcEvidenceWriter(path, INFO) as writer:
        assert writer.repaired_bytes == keep - text.offset
        again = writer.write_resource(text.warc_path, "text/plain", b"Range day with friends.",
                                      refers_to=resp.record_id, kind="text")
    # the partial record is gone; the resumed session's warcinfo starts where it started
    assert read_record(path, text.offset)[0]["WARC-Type"] == "warcinfo"
    assert again.offset > text.offset
    result = warcio_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert read_record(path, resp.offset)[1] == PAGE
    assert read_record(path, shot.offset)[1] == PNG
    infos = [h for h in records(path) if h["WARC-Type"] == "warcinfo"]
    assert len(infos) == 2
    assert not scan_warc(path).truncated


def test_the_cut_bytes_are_kept_beside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    _, _, text = write_sample(path)
    raw = path.read_bytes()
    with path.open("r+b") as fh:
        fh.truncate(text.offset + 25)
    with WarcEvidenceWriter(path, INFO) as writer:
        kept = Path(writer.repair_kept)
    assert kept.name == f"case.warc.gz.partial-{text.offset}"
    assert kept.read_bytes() == raw[text.offset:text.offset + 25]


@pytest.mark.parametrize("damage", ["middle", "not-a-warc", "plain-warc"])
def test_damage_that_is_not_a_partial_last_write_changes_nothing(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "case.warc.gz"
    if damage == "not-a-warc":
        path.write_bytes(b"this is not a WARC file at all\n" * 10)
    elif damage == "plain-warc":
        resp, _, _ = write_sample(path)
        path.write_bytes(gzip.decompress(path.read_bytes()))  # an uncompressed .warc under a .gz name
    else:
        resp, _, _ = write_sample(path)
        raw = bytearray(path.read_bytes())
        middle = resp.offset + resp.length // 2  # inside the response record's compressed data
        raw[middle:middle + 8] = b"\x00" * 8
        path.write_bytes(bytes(raw))
    before = path.read_bytes()
    with pytest.raises(WarcDamaged):
        WarcEvidenceWriter(path, INFO)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.partial-*"))
    with WarcEvidenceWriter(tmp_path / "fresh.warc.gz", INFO):  # the lock was released, nothing leaked
        pass


def test_repair_of_the_shipped_truncated_fixture(tmp_path: Path) -> None:
    """A real file cut by a killed writer (tests/fixtures/warc/truncated.warc.gz) is repaired."""
    src = FIXTURES / "truncated.warc.gz"
    path = tmp_path / "resumed.warc.gz"
    shutil.copy(src, path)
    before = scan_warc(path)
    assert before.truncated and len(before.records) >= 2
    with WarcEvidenceWriter(path, INFO) as writer:
        assert writer.repaired_bytes == before.file_size - before.good_end
        ref = writer.write_exchange("http://127.0.0.1:8000/c", {"User-Agent": "x"}, 200,
                                    {"Content-Type": "text/plain"}, b"after the kill")
    assert warcio_check(path).returncode == 0
    assert read_record(path, ref.offset)[1] == b"after the kill"
    with path.open("rb") as fh:
        info_text = [r.content_stream().read() for r in ArchiveIterator(fh) if r.rec_type == "warcinfo"][-1]
    assert b"vetting-repair: cut" in info_text


def test_a_killed_writer_loses_nothing_it_returned(tmp_path: Path) -> None:
    """A real kill -9 of a writing process: every ref it printed is still readable afterwards."""
    path = tmp_path / "killed.warc.gz"
    script = f"""
import sys, os
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from spiders.warc import WarcEvidenceWriter
w = WarcEvidenceWriter({str(path)!r}, {{"software": "t"}})
i = 0
while True:
    ref = w.write_exchange(f"http://127.0.0.1/{{i}}", {{}}, 200, {{}}, os.urandom(50_000))
    print(ref.offset, ref.payload_sha256, flush=True)
    i += 1
"""
    _kill_after_30_records_then_check(script, path)


def _kill_after_30_records_then_check(script: str, path: Path) -> None:
    """Run a writer ``script`` that prints each record's offset and sha256, kill it (SIGKILL) after
    30 lines, then check every record it printed is whole and readable, and the file is valid."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(30)]
    proc.kill()
    proc.wait(timeout=10)
    refs = [line.split() for line in lines if line.strip()]
    assert len(refs) == 30
    with WarcEvidenceWriter(path, {"software": "t"}):
        pass
    for offset, digest in refs:
        assert hashlib.sha256(read_record(path, int(offset))[1]).hexdigest() == digest
    assert warcio_check(path).returncode == 0


def test_one_writer_per_file(tmp_path: Path) -> None:
    path = tmp_path / "case.warc.gz"
    with WarcEvidenceWriter(path, INFO):
        script = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r});"
                  f"from spiders.warc import WarcEvidenceWriter, WarcFileLocked\n"
                  f"try:\n    WarcEvidenceWriter({str(path)!r}, {{}})\nexcept WarcFileLocked:\n    print('locked')")
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                             check=False)
        assert out.stdout.strip() == "locked", out.stderr
    with WarcEvidenceWriter(path, INFO):  # released on close
        pass


def test_bad_kind_and_closed_writer(tmp_path: Path) -> None:
    writer = WarcEvidenceWriter(tmp_path / "x.warc.gz", INFO)
    with pytest.raises(ValueError):
        writer.write_resource("http://127.0.0.1/", "text/plain", b"x", kind="video")
    writer.close()
    with pytest.raises(ValueError):
        writer.write_resource("http://127.0.0.1/", "text/plain", b"x", kind="text")
    assert WarcFileLocked.__doc__


def test_read_record_at_a_wrong_offset_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.warc.gz"
    resp, _, _ = write_sample(path)
    with pytest.raises(ValueError, match="no WARC record at offset"):
        read_record(path, resp.offset + 3)


def test_fixture_is_really_truncated() -> None:
    data = (FIXTURES / "truncated.warc.gz").read_bytes()
    assert data[:2] == b"\x1f\x8b"
    with pytest.raises((EOFError, OSError)):
        gzip.decompress(data)
    assert os.path.getsize(FIXTURES / "truncated.warc.gz") < 20_000


def test_a_batch_is_written_with_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync=False`` defers the fsync to :meth:`sync`: one for the whole batch, the records
    already readable (they reached the operating system), the file valid."""
    import spiders.warc as warc_module

    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    path = tmp_path / "batch.warc.gz"
    with WarcEvidenceWriter(path, INFO) as writer:
        monkeypatch.setattr(warc_module.os, "fsync", counting_fsync)
        refs = [writer.write_exchange(f"http://127.0.0.1/{i}", {}, 200, {}, PAGE + bytes([i]), sync=False)
                for i in range(10)]
        refs.append(writer.write_resource("urn:text:http://127.0.0.1/0", "text/plain", b"text", kind="text",
                                          refers_to=refs[0].record_id, sync=False))
        assert calls == []
        for ref in refs[:10]:
            assert hashlib.sha256(read_record(path, ref.offset)[1]).hexdigest() == ref.payload_sha256
        writer.sync()
        assert len(calls) == 1
        writer.sync()  # nothing new: no second fsync
        assert len(calls) == 1
        writer.write_exchange("http://127.0.0.1/last", {}, 200, {}, PAGE)  # the default stays durable per call
        assert len(calls) == 2
    assert warcio_check(path).returncode == 0


def test_close_makes_deferred_records_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import spiders.warc as warc_module

    calls: list[int] = []
    real_fsync = os.fsync
    path = tmp_path / "closed.warc.gz"
    writer = WarcEvidenceWriter(path, INFO)
    monkeypatch.setattr(warc_module.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    writer.write_exchange("http://127.0.0.1/", {}, 200, {}, PAGE, sync=False)
    writer.close()
    assert len(calls) == 1


def test_a_killed_batch_writer_loses_nothing_it_synced(tmp_path: Path) -> None:
    """A real kill -9 while writing batches with one fsync each: every ref printed after its
    batch's sync is readable afterwards, and a reopened file is valid (a cut record repaired)."""
    path = tmp_path / "killed-batches.warc.gz"
    script = f"""
import sys, os
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from spiders.warc import WarcEvidenceWriter
w = WarcEvidenceWriter({str(path)!r}, {{"software": "t"}})
i = 0
while True:
    refs = []
    for _ in range(5):
        refs.append(w.write_exchange(f"http://127.0.0.1/{{i}}", {{}}, 200, {{}}, os.urandom(50_000), sync=False))
        i += 1
    w.sync()
    for ref in refs:
        print(ref.offset, ref.payload_sha256, flush=True)
"""
    _kill_after_30_records_then_check(script, path)
