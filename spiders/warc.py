"""WARC/1.1 evidence files: exactly what was collected, hashed with sha256, safe across kills.

Evidence must be re-hashable by anyone at validation time (DESIGN.md invariant 3) and nothing
already captured may be lost by a crash or a kill (invariant 7). So:

* every record is its own gzip member (``.warc.gz``), written with one ``write`` call and then
  flushed and ``fsync``-ed before :meth:`WarcEvidenceWriter.write_exchange` returns: a caller
  that got a :class:`RecordRef` back can rely on the bytes being on disk. A caller saving many
  records at once may pass ``sync=False`` and call :meth:`WarcEvidenceWriter.sync` once
  afterwards (one fsync per batch, not per record): those refs are durable only once ``sync``
  has returned, so nothing may record them before (the engine fsyncs before it commits the
  items and events naming them);
* block and payload digests are sha256 (warcio computes sha1 by default and ignores digest
  headers handed to it; :class:`Sha256WARCWriter` swaps the digester), which
  ``warcio check -v`` verifies;
* each :class:`RecordRef` carries the sha256 (hex) of the bytes captured, computed from the
  very bytes that were written, never from a re-render;
* reopening a file appends to it (a resumed run) after checking every gzip member and record;
  a trailing partial record left by a kill is cut off (truncating the file to the end of the
  last complete record, the cut bytes kept beside it as ``<name>.partial-<offset>``) and the
  repair is recorded in the new session's warcinfo record. Damage anywhere else is not what a
  kill leaves: :class:`WarcDamaged` names it and the file is not touched;
* one writer per file at a time (an exclusive ``flock``), so two runs of the same case cannot
  interleave records.
"""

from __future__ import annotations

import fcntl
import hashlib
import http
import io
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Self

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

WARC_VERSION = "WARC/1.1"
_CHUNK = 1024 * 1024
#: Response headers that describe a transfer the stored body no longer has (Scrapy hands us
#: the de-chunked body); they are kept under a prefixed name so nothing is hidden.
_TRANSFER_HEADERS = ("transfer-encoding",)
RESOURCE_KINDS = ("screenshot", "text", "dom")


class Sha256WARCWriter(WARCWriter):
    """warcio's writer with sha256 block and payload digests (base32, as warcio writes sha1)."""

    @staticmethod
    def _create_digester() -> Digester:  # type: ignore[override]
        return Digester("sha256")


class WarcFileLocked(RuntimeError):
    """Another writer holds the WARC file (a second run of the same case step)."""


class WarcDamaged(ValueError):
    """The file is damaged somewhere other than a partial last record: nothing is changed."""


@dataclass(frozen=True)
class RecordSpan:
    """One record as written: where its gzip member is, and the sha256 (hex) of the whole
    record (WARC headers and block, decompressed), which the capture's audit event carries."""

    offset: int
    length: int  # compressed length of the gzip member
    sha256: str
    record_type: str
    record_id: str


@dataclass(frozen=True)
class RecordRef:
    """Where one record is, and the sha256 (hex) of the bytes it preserves."""

    warc_path: str
    record_id: str
    offset: int  # of the record's gzip member in the file
    length: int  # compressed length of that member
    payload_sha256: str
    records: tuple[RecordSpan, ...] = ()  # every record this call wrote (a response and its request)


@dataclass(frozen=True)
class ScanResult:
    """What :func:`scan_warc` found: complete records and where the good part of the file ends."""

    records: list[tuple[int, int]]  # (offset, compressed length) of each complete record
    good_end: int
    file_size: int
    problem: str = ""

    @property
    def truncated(self) -> bool:
        return self.good_end < self.file_size


def _gzip_members(fh: BinaryIO) -> Iterator[tuple[int, int, bytes]]:
    """(offset, compressed length, decompressed bytes) of each gzip member; raises ValueError
    naming the offset of a member that is cut short or corrupt."""
    offset = 0
    buf = fh.read(_CHUNK)
    while buf:
        decomp = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out = bytearray()
        consumed = 0
        while True:
            try:
                out += decomp.decompress(buf)
            except zlib.error as exc:
                raise ValueError(f"corrupt gzip member at offset {offset}: {exc}") from exc
            if decomp.eof:
                used = len(buf) - len(decomp.unused_data)
                consumed += used
                buf = decomp.unused_data or fh.read(_CHUNK)
                yield offset, consumed, bytes(out)
                offset += consumed
                break
            consumed += len(buf)
            buf = fh.read(_CHUNK)
            if not buf:
                raise ValueError(f"gzip member at offset {offset} is cut short")


def _complete_record_after(tail: bytes) -> int | None:
    """Offset in ``tail`` (after its first byte) of a gzip member holding a complete record."""
    start = 1
    while True:
        pos = tail.find(b"\x1f\x8b\x08", start)
        if pos < 0:
            return None
        try:
            members = _gzip_members(io.BytesIO(tail[pos:]))
            _, _, data = next(members)
            if not _check_record(data):
                return pos
        except (ValueError, StopIteration):
            pass
        start = pos + 1


def _check_record(data: bytes) -> str:
    """"" when ``data`` is one complete WARC record, else what is wrong with it."""
    head_end = data.find(b"\r\n\r\n")
    if not data.startswith(b"WARC/") or head_end < 0:
        return "no WARC header block"
    length = None
    for line in data[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return "bad Content-Length"
    if length is None:
        return "no Content-Length"
    if len(data) != head_end + 4 + length + 4 or not data.endswith(b"\r\n\r\n"):
        return f"block is {len(data) - head_end - 8} bytes, Content-Length says {length}"
    return ""


def scan_warc(path: str | os.PathLike[str]) -> ScanResult:
    """Check every gzip member and record of a ``.warc.gz``; report where the good part ends."""
    path = Path(path)
    size = path.stat().st_size
    records: list[tuple[int, int]] = []
    good_end = 0
    with path.open("rb") as fh:
        try:
            for offset, length, data in _gzip_members(fh):
                problem = _check_record(data)
                if problem:
                    return ScanResult(records, good_end, size, f"record at offset {offset}: {problem}")
                records.append((offset, length))
                good_end = offset + length
        except ValueError as exc:
            return ScanResult(records, good_end, size, str(exc))
    return ScanResult(records, good_end, size)


def _http_headers(status_line: str, headers: Iterable[tuple[str, str]] | Mapping[str, str],
                  protocol: str) -> StatusAndHeaders:
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    return StatusAndHeaders(status_line, [(str(k), str(v)) for k, v in pairs], protocol=protocol)


def _response_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str],
                      body_length: int) -> list[tuple[str, str]]:
    """The server's headers, made true of the stored body (which Scrapy has de-chunked)."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    out: list[tuple[str, str]] = []
    for name, value in pairs:
        lower = str(name).lower()
        if lower in _TRANSFER_HEADERS:
            out.append((f"X-Vetting-Orig-{name}", str(value)))
        elif lower == "content-length":
            if str(value).strip() != str(body_length):
                out.append(("X-Vetting-Orig-Content-Length", str(value)))
        else:
            out.append((str(name), str(value)))
    out.append(("Content-Length", str(body_length)))
    return out


class WarcEvidenceWriter:
    """Append-only ``.warc.gz`` evidence file for one case step; see the module docstring."""

    def __init__(self, path: str | os.PathLike[str], warcinfo: Mapping[str, Any]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = 0
        self.repair_problem = ""
        self.repair_kept = ""
        created = not self.path.exists()
        self._fh: BinaryIO = open(self.path, "a+b")  # noqa: SIM115 - closed in close()
        self._unsynced = False  # records written with sync=False since the last fsync
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._fh.close()
            raise WarcFileLocked(f"{self.path} is being written by another process") from exc
        try:
            if created:
                _fsync_dir(self.path.parent)
            else:
                self._repair()
        except BaseException:
            self.close()
            raise
        self._builder = Sha256WARCWriter(io.BytesIO(), gzip=True, warc_version=WARC_VERSION)
        info = {str(k): v for k, v in warcinfo.items()}
        info.setdefault("format", "WARC File Format 1.1")
        if self.repaired_bytes:
            info["vetting-repair"] = (f"cut {self.repaired_bytes} trailing bytes of an incomplete "
                                      f"record ({self.repair_problem}); kept in {Path(self.repair_kept).name}")
        if not created:
            info.setdefault("vetting-resumed", "true")
        record = self._builder.create_warcinfo_record(self.path.name, info)
        self.warcinfo_id: str = record.rec_headers.get_header("WARC-Record-ID")
        self._append([record])

    # -- writing --------------------------------------------------------------------------------
    def _repair(self) -> None:
        """Cut a partial last record (what a kill mid-write leaves), and only that.

        Damage anywhere else (a complete record after the bad bytes, or no WARC at all) is not
        a kill: the file is left exactly as it is and :class:`WarcDamaged` names the offset.
        The cut bytes are kept beside the file (``<name>.partial-<offset>``), not destroyed.
        """
        scan = scan_warc(self.path)
        if not scan.truncated:
            return
        with self.path.open("rb") as fh:
            fh.seek(scan.good_end)
            tail = fh.read()
        if not scan.records and not tail.startswith(b"\x1f\x8b"):
            raise WarcDamaged(f"{self.path} is not a gzipped WARC file ({scan.problem})")
        later = _complete_record_after(tail)
        if later is not None:
            raise WarcDamaged(f"{self.path}: {scan.problem}, but a complete record follows at offset "
                              f"{scan.good_end + later}; not a partial last write, left unchanged")
        keep = self.path.with_name(f"{self.path.name}.partial-{scan.good_end}")
        keep.write_bytes(tail)
        self.repaired_bytes = len(tail)
        self.repair_problem = scan.problem
        self.repair_kept = str(keep)
        self._fh.truncate(scan.good_end)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _serialise(self, record: Any) -> bytes:
        buffer = io.BytesIO()
        self._builder._write_warc_record(buffer, record)
        return buffer.getvalue()

    def _append(self, records: list[Any], sync: bool = True) -> list[RecordSpan]:
        """Write records in one call, fsync (unless ``sync`` is False: then :meth:`sync` must
        run before anything names them), and return where each gzip member went.

        The bytes always reach the operating system before this returns (a kill of the process
        loses none of them); only the fsync, which guards against a crash of the machine, waits.
        """
        if self._fh.closed:
            raise ValueError(f"{self.path} is closed")
        blobs = [self._serialise(r) for r in records]
        self._fh.seek(0, os.SEEK_END)
        start = self._fh.tell()
        self._fh.write(b"".join(blobs))
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())
            self._unsynced = False
        else:
            self._unsynced = True
        spans = []
        offset = start
        for record, blob in zip(records, blobs, strict=True):
            whole = zlib.decompress(blob, zlib.MAX_WBITS | 16)
            spans.append(RecordSpan(offset, len(blob), hashlib.sha256(whole).hexdigest(), record.rec_type,
                                    record.rec_headers.get_header("WARC-Record-ID")))
            offset += len(blob)
        return spans

    def _warc_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"WARC-Warcinfo-ID": self.warcinfo_id}
        headers.update(extra or {})
        return headers

    def write_exchange(self, url: str, request_headers: Mapping[str, str] | Iterable[tuple[str, str]],
                       status: int, response_headers: Mapping[str, str] | Iterable[tuple[str, str]],
                       body: bytes, method: str = "GET", ip_address: str | None = None,
                       reason_phrase: str | None = None, protocol: str = "HTTP/1.1",
                       sync: bool = True) -> RecordRef:
        """Write a response record and its request record (WARC-Concurrent-To); ref the response.

        ``body`` and ``response_headers`` are the response as the server sent it: a compressed
        payload stays compressed, with its ``Content-Encoding`` (replay tools decode it).
        ``sync=False``: durable only after :meth:`sync` (see the module docstring)."""
        body = bytes(body)
        phrase = reason_phrase
        if phrase is None:
            try:
                phrase = http.HTTPStatus(status).phrase
            except ValueError:
                phrase = ""
        extra = {"WARC-IP-Address": ip_address} if ip_address else {}
        resp_http = _http_headers(f"{status} {phrase}".strip(), _response_headers(response_headers, len(body)),
                                  protocol)
        response = self._builder.create_warc_record(
            url, "response", payload=io.BytesIO(body), length=len(body), http_headers=resp_http,
            warc_headers_dict=self._warc_headers(extra))
        path = _request_target(url)
        req_http = _http_headers(f"{method} {path} {protocol}", request_headers, protocol)
        request = self._builder.create_warc_record(
            url, "request", payload=io.BytesIO(b""), length=0, http_headers=req_http,
            warc_headers_dict=self._warc_headers())
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request.rec_headers.replace_header("WARC-Date", response.rec_headers.get_header("WARC-Date"))
        request.rec_headers.add_header("WARC-Concurrent-To", response_id)
        spans = self._append([response, request], sync=sync)
        return RecordRef(str(self.path), response_id, spans[0].offset, spans[0].length,
                         hashlib.sha256(body).hexdigest(), tuple(spans))

    def write_resource(self, uri: str, content_type: str, data: bytes, refers_to: str | None = None,
                       kind: str = "screenshot", sync: bool = True) -> RecordRef:
        """A screenshot (``resource`` record) or extracted text / rendered DOM (``conversion``
        record, ``WARC-Refers-To`` the response it was derived from)."""
        if kind not in RESOURCE_KINDS:
            raise ValueError(f"kind must be one of {RESOURCE_KINDS}, not {kind!r}")
        data = bytes(data)
        record_type = "resource" if kind == "screenshot" else "conversion"
        extra = {"Vetting-Artifact-Kind": kind}
        if refers_to:
            extra["WARC-Refers-To" if record_type == "conversion" else "WARC-Concurrent-To"] = refers_to
        record = self._builder.create_warc_record(
            uri, record_type, payload=io.BytesIO(data), length=len(data), warc_content_type=content_type,
            warc_headers_dict=self._warc_headers(extra))
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        (span,) = self._append([record], sync=sync)
        return RecordRef(str(self.path), record_id, span.offset, span.length, hashlib.sha256(data).hexdigest(),
                         (span,))

    def sync(self) -> None:
        """Make every record written with ``sync=False`` durable (one fsync for all of them)."""
        if self._unsynced and not self._fh.closed:
            os.fsync(self._fh.fileno())
            self._unsynced = False

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self.sync()  # a deferred record is never left to the page cache by closing
            finally:  # a failed fsync is raised, and the file is still unlocked and closed
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _request_target(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_bytes(warc_path: str | os.PathLike[str], offset: int) -> tuple[bytes, int]:
    """The whole record (WARC headers and block, decompressed) whose gzip member starts at
    ``offset``, and that member's compressed length; ValueError if there is no complete record."""
    with open(warc_path, "rb") as fh:
        fh.seek(offset)
        if fh.read(2) != b"\x1f\x8b":
            raise ValueError(f"no WARC record at offset {offset} of {warc_path}: not the start of a gzip member")
        fh.seek(offset)
        try:
            _, length, data = next(_gzip_members(fh))
        except (ValueError, StopIteration) as exc:
            raise ValueError(f"no WARC record at offset {offset} of {warc_path}: {exc}") from exc
    problem = _check_record(data)
    if problem:
        raise ValueError(f"no WARC record at offset {offset} of {warc_path}: {problem}")
    return data, length


def read_record(warc_path: str | os.PathLike[str], offset: int) -> tuple[dict[str, str], bytes]:
    """The WARC headers and the payload bytes of the record at ``offset``, for re-hashing.

    The payload is the body exactly as stored (for a response record: after the HTTP headers,
    with no content decoding), so ``sha256(payload)`` equals the :class:`RecordRef`'s hash.
    """
    data, _ = record_bytes(warc_path, offset)
    try:
        for record in ArchiveIterator(io.BytesIO(data)):
            return dict(record.rec_headers.headers), record.raw_stream.read()
    except ArchiveLoadFailed as exc:
        raise ValueError(f"no WARC record at offset {offset} of {warc_path}: {exc}") from exc
    raise ValueError(f"no WARC record at offset {offset} of {warc_path}")


def sha256_prefix(path: str | os.PathLike[str], size: int) -> str:
    """sha256 (hex) of the first ``size`` bytes of a file (a sealed WARC's sealed part)."""
    digest = hashlib.sha256()
    left = size
    with open(path, "rb") as fh:
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


__all__ = ["RecordRef", "RecordSpan", "ScanResult", "Sha256WARCWriter", "WarcDamaged", "WarcEvidenceWriter",
           "WarcFileLocked", "read_record", "record_bytes", "scan_warc", "sha256_prefix"]
