"""RFC 6962 / RFC 9162 Merkle tree arithmetic: hashes, the compact range, proofs.

Everything here is pure (no I/O) so the log, the verifier and the standalone
verifier agree on one definition of the tree:

* leaf hash  = SHA-256(0x00 || data)
* node hash  = SHA-256(0x01 || left || right)
* MTH({})    = SHA-256("")
* MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two < n

The :class:`CompactRange` (a.k.a. Merkle frontier) holds the roots of the
perfect subtrees that make up a tree of any size: one per set bit of the size.
Appending a leaf merges as many of them as the size has trailing one bits, so
appends cost O(1) hash operations amortized and the root of the current tree is
O(log n) away, without ever revisiting old leaves. The log persists every
completed perfect-subtree node so proofs need O(log n) lookups, and the verifier
streams the whole log through a compact range in bounded memory.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf's data, domain-separated from interior nodes (0x00 prefix)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node (0x01 prefix), so a leaf can never pose as a node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The split point k of RFC 6962: the largest power of two strictly less than n (n > 1)."""
    if n < 2:
        raise ValueError("n must be at least 2")
    return 1 << ((n - 1).bit_length() - 1)


@dataclass
class CompactRange:
    """The roots of the perfect subtrees of a tree of ``size`` leaves, largest first.

    ``hashes[i]`` is the root of a perfect subtree of height ``levels()[i]``; the
    heights are the set bits of ``size`` from the most significant down.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def levels(self) -> list[int]:
        """Heights of the subtrees in ``hashes`` (set bits of size, high to low)."""
        return [b for b in range(self.size.bit_length() - 1, -1, -1) if self.size >> b & 1]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the completed interior nodes as (level, index, hash).

        ``index`` is the position of the node among the nodes of its level, i.e. it
        covers leaves ``[index << level, (index + 1) << level)``. Only nodes of
        level >= 1 are returned: level 0 is the leaf itself.
        """
        seq = self.size
        h = leaf
        level = 0
        completed: list[tuple[int, int, bytes]] = []
        while seq >> level & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            completed.append((level, seq >> level, h))
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the first ``size`` leaves: fold the subtree roots right to left."""
        if not self.hashes:
            return EMPTY_ROOT
        it = reversed(self.hashes)
        r = next(it)
        for h in it:
            r = node_hash(h, r)
        return r

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.hashes))


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees making up a tree of ``size`` leaves, largest first.

    Used to reload a :class:`CompactRange` from persisted nodes.
    """
    out: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


# ---------------------------------------------------------------------------
# Proof generation, over any source of perfect-subtree hashes.
# ---------------------------------------------------------------------------

NodeGetter = Callable[[int, int], bytes]
"""``get(level, index)``: hash of the perfect subtree covering leaves
``[index << level, (index + 1) << level)``; level 0 is a leaf hash."""


def subtree_hash(get: NodeGetter, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned as RFC 6962 recursion produces."""
    n = end - start
    if n <= 0:
        raise ValueError("empty range")
    if n & (n - 1) == 0 and start % n == 0:
        return get(n.bit_length() - 1, start // n)
    k = largest_power_of_two_below(n)
    return node_hash(subtree_hash(get, start, start + k), subtree_hash(get, start + k, end))


def inclusion_path(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1, bottom-up (the order verifiers consume)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root collecting siblings, then reverse (proof is leaf-to-root).
    while end - start > 1:
        k = largest_power_of_two_below(end - start)
        if index < start + k:
            path.append(subtree_hash(get, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(get, start, start + k))
            start = start + k
    path.reverse()
    return path


def consistency_path(get: NodeGetter, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2 (SUBPROOF with b = true at the top)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"need 0 <= old_size <= new_size, got {old_size}, {new_size}")
    if old_size == 0 or old_size == new_size:
        return []

    def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [subtree_hash(get, start, end)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return subproof(m, start, start + k, complete) + [subtree_hash(get, start + k, end)]
        return subproof(m - k, start + k, end, False) + [subtree_hash(get, start, start + k)]

    return subproof(old_size, 0, new_size, True)


# ---------------------------------------------------------------------------
# Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2).
# ---------------------------------------------------------------------------


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Recompute the root a proof claims; raises ValueError when the proof is malformed."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    if any(len(p) != HASH_SIZE for p in proof):
        raise ValueError("proof element of the wrong length")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("proof too short")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree with ``root``."""
    try:
        return root_from_inclusion_proof(leaf, index, size, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True when ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if not 0 <= old_size <= new_size:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty tree; RFC 9162 defines no proof for it.
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # old tree is a perfect subtree: its root is the implicit first element
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
