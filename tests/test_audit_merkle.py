"""audit.merkle against published RFC 6962 vectors and a naive reference of RFC 6962 section 2.1.

The vectors (leaves, roots of sizes 1..8, inclusion and consistency proofs) are the
Certificate Transparency test data published with RFC 6962 implementations
(transparency-dev/merkle, proof/verify_test.go); the reference functions below
are written straight from the RFC's recursive definitions of MTH, PATH and PROOF.
"""
from __future__ import annotations

import hashlib

import pytest

from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_path,
    frontier_positions,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

H = bytes.fromhex

LEAVES = [H(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                         "606162636465666768696a6b6c6d6e6f"]]
ROOTS = [H(x) for x in [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]]
# (0-based leaf index, tree size, audit path)
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
SOME_HASH = H("abacaba000000000000000000000000000000000000000000060061e00123456")


# --------------------------------------------------------------------------- naive reference


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH exactly as RFC 6962 2.1 defines it, over leaf *data*."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def path_len(m: int, n: int) -> int:
    """len(PATH(m, D[n])) from the same recursion, without hashing."""
    if n == 1:
        return 0
    k = ref_k(n)
    return 1 + (path_len(m, k) if m < k else path_len(m - k, n - k))


def proof_len(m: int, n: int, b: bool) -> int:
    """len(SUBPROOF(m, D[n], b)) from the same recursion, without hashing."""
    if m == n:
        return 0 if b else 1
    k = ref_k(n)
    return 1 + (proof_len(m, k, b) if m <= k else proof_len(m - k, n - k, False))


def tree_getter(data: list[bytes]):  # type: ignore[no-untyped-def]
    """A NodeGetter over an in-memory list of leaf data (computes perfect subtrees directly)."""
    cache: dict[tuple[int, int], bytes] = {}

    def get(level: int, idx: int) -> bytes:
        if (level, idx) not in cache:
            cache[(level, idx)] = ref_mth(data[idx << level:(idx + 1) << level])
        return cache[(level, idx)]
    return get


DATA64 = [f"leaf {i}".encode() for i in range(64)]


# --------------------------------------------------------------------------- published vectors


def test_roots_of_published_vectors() -> None:
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT == H(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    for n, data in enumerate(LEAVES, 1):
        cr.append(leaf_hash(data))
        assert cr.root() == ROOTS[n - 1], n
        assert subtree_hash(tree_getter(LEAVES), 0, n) == ROOTS[n - 1]
        assert ref_mth(LEAVES[:n]) == ROOTS[n - 1]


@pytest.mark.parametrize("index,size,path", INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = [H(p) for p in path]
    leaf = leaf_hash(LEAVES[index])
    root = ROOTS[size - 1]
    assert inclusion_path(tree_getter(LEAVES), index, size) == proof
    assert verify_inclusion(leaf, index, size, proof, root)
    # The corruptions CT's own suite probes: each must be refused.
    bad = [
        (index - 1, size, proof, root, leaf), (index + 1, size, proof, root, leaf),
        (index ^ 2, size, proof, root, leaf), (index, size * 2, proof, root, leaf),
        (index, size // 2, proof, root, leaf), (index, size, proof, root, b"WrongLeaf"),
        (index, size, proof, EMPTY_ROOT, leaf), (index, size, proof, SOME_HASH, leaf),
        (index, size, proof + [b""], root, leaf), (index, size, proof + [root], root, leaf),
        (index, size, [b""] + proof, root, leaf), (index, size, [root] + proof, root, leaf),
        (index, size, proof[:-1], root, leaf),
    ]
    if len(proof) > 1:
        bad.append((index, size, [proof[0], SOME_HASH] + proof[1:], root, leaf))
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        bad.append((index, size, flipped, root, leaf))
    for idx, sz, pr, rt, lf in bad:
        assert not verify_inclusion(lf, idx, sz, pr, rt), (idx, sz, len(pr))


@pytest.mark.parametrize("m,n,path", CONSISTENCY)
def test_published_consistency_proofs(m: int, n: int, path: list[str]) -> None:
    proof = [H(p) for p in path]
    r1, r2 = ROOTS[m - 1], ROOTS[n - 1]
    assert consistency_path(tree_getter(LEAVES), m, n) == proof
    assert verify_consistency(m, n, r1, r2, proof)
    bad = [
        (m - 1, n, r1, r2, proof), (m + 1, n, r1, r2, proof), (m ^ 2, n, r1, r2, proof),
        (m, n * 2, r1, r2, proof), (m, n // 2, r1, r2, proof),
        (m, n, b"WrongRoot", r2, proof), (m, n, r1, b"WrongRoot", proof), (m, n, r2, r1, proof),
        (m, n, r1, r2, []), (m, n, r1, r2, proof + [b""]), (m, n, r1, r2, proof + [r1]),
        (m, n, r1, r2, proof + [r2]), (m, n, r1, r2, [b""] + proof),
        (m, n, r1, r2, [r1] + proof), (m, n, r1, r2, [r2] + proof),
        (m, n, r1, r2, [proof[0]] + proof), (m, n, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        bad.append((m, n, r1, r2, flipped))
    for s1, s2, a, b, pr in bad:
        assert not verify_consistency(s1, s2, a, b, pr), (s1, s2, len(pr))


def test_consistency_edge_cases() -> None:
    r1, r2 = b"don't care 1".ljust(32, b"."), b"don't care 2".ljust(32, b".")
    assert verify_consistency(0, 0, r1, r1, [])
    assert verify_consistency(0, 1, r1, r2, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert not verify_consistency(0, 0, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 0, r1, r2, [])
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, r1, r2, [])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_inclusion_edge_cases() -> None:
    h = leaf_hash(b"data")
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    for index, size in [(0, 0), (1, 0), (2, 1), (1, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    with pytest.raises(ValueError, match="too long"):
        root_from_inclusion_proof(h, 0, 1, [h])
    with pytest.raises(ValueError, match="too short"):
        root_from_inclusion_proof(h, 0, 2, [])


# --------------------------------------------------------------------------- every size 1..64


@pytest.mark.parametrize("n", range(1, 65))
def test_against_rfc_definitions_every_size(n: int) -> None:
    d = DATA64[:n]
    get = tree_getter(DATA64)
    root = ref_mth(d)
    cr = CompactRange()
    for x in d:
        cr.append(leaf_hash(x))
    assert cr.root() == root
    assert subtree_hash(get, 0, n) == root
    for m in range(n):
        proof = inclusion_path(get, m, n)
        assert proof == ref_path(m, d)
        assert path_len(m, n) == len(proof)
        lf = leaf_hash(d[m])
        assert verify_inclusion(lf, m, n, proof, root)
        # malformed: wrong index, wrong size, truncated, an extra element
        assert not verify_inclusion(lf, (m + 1) % n, n, proof, root) or n == 1
        for wrong_size in range(m + 1, 2 * n + 1):
            # A size whose audit path has another length can never verify. (A size with the
            # same path shape, e.g. leaf 0 in 3 versus 4 leaves, computes the same root; the
            # root hash, not the size, is what pins the tree.)
            if wrong_size != n and path_len(m, wrong_size) != len(proof):
                assert not verify_inclusion(lf, m, wrong_size, proof, root), wrong_size
        if proof:
            assert not verify_inclusion(lf, m, n, proof[:-1], root)
        assert not verify_inclusion(lf, m, n, proof + [root], root)
    for m in range(1, n + 1):
        proof = consistency_path(get, m, n)
        assert proof == (ref_proof(m, d) if m < n else [])
        assert proof_len(m, n, True) == len(proof)
        old_root = ref_mth(d[:m])
        assert verify_consistency(m, n, old_root, root, proof)
        if m < n:
            assert not verify_consistency(m, n, old_root, root, proof[:-1])
            assert not verify_consistency(m, n, old_root, root, proof + [root])
            assert not verify_consistency(m, n, root, old_root, proof)
            for s1, s2 in [(m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1), (m, 2 * n)]:
                if 0 < s1 < s2 and proof_len(s1, s2, True) != len(proof):
                    assert not verify_consistency(s1, s2, old_root, root, proof), (s1, s2)


def test_compact_range_amortized_and_reloadable() -> None:
    """Appends complete n - popcount(n) nodes in total (amortized < 1 per append), and the
    frontier positions name exactly the nodes that rebuild the same range."""
    cr = CompactRange()
    made: dict[tuple[int, int], bytes] = {}
    leaves = [leaf_hash(str(i).encode()) for i in range(1000)]
    for i, lf in enumerate(leaves):
        nodes = cr.append(lf)
        assert len(nodes) == (i ^ (i + 1)).bit_length() - 1  # trailing one bits of i
        made[(0, i)] = lf
        for level, idx, h in nodes:
            assert h == ref_mth_hashes(leaves[idx << level:(idx + 1) << level])
            made[(level, idx)] = h
    assert len([k for k in made if k[0] > 0]) == 1000 - (1000).bit_count()
    positions = frontier_positions(1000)
    assert [lvl for lvl, _ in positions] == cr.levels()
    assert [made[p] for p in positions] == cr.hashes
    assert CompactRange(1000, [made[p] for p in positions]).root() == cr.root()


def ref_mth_hashes(hs: list[bytes]) -> bytes:
    if len(hs) == 1:
        return hs[0]
    k = ref_k(len(hs))
    return node_hash(ref_mth_hashes(hs[:k]), ref_mth_hashes(hs[k:]))


def test_node_hash_domain_separation() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
