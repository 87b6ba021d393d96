"""Tests for app.audit.merkle (RFC 9162 2.1) and app.audit.checkpoint_format (signed tree heads).

The Merkle code is checked against an independent, deliberately naive implementation of the
RFC 9162 recursive definitions (MTH, PATH, PROOF/SUBPROOF with list slicing) written below, and
against the Certificate Transparency reference vectors for the 8-leaf tree.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.audit import checkpoint_format as ckpt
from app.audit import merkle

# ---------------------------------------------------------------------------------------------
# Independent reference implementation: the RFC 9162 2.1 definitions, literally.
# ---------------------------------------------------------------------------------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(entry: bytes) -> bytes:
    return _sha(b"\x00" + entry)


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH over already-hashed leaves."""
    n = len(d)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return d[0]
    k = _ref_k(n)
    return _sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        assert m == 0
        return []
    k = _ref_k(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def leaves_for(n: int, salt: bytes = b"") -> list[bytes]:
    return [ref_leaf(salt + i.to_bytes(4, "big")) for i in range(n)]


MAX_N = 40
LEAVES = leaves_for(MAX_N)
TREE = merkle.MerkleTree(LEAVES)
ROOTS = [ref_mth(LEAVES[:n]) for n in range(MAX_N + 1)]


def flipped(b: bytes, pos: int = 0) -> bytes:
    return b[:pos] + bytes([b[pos] ^ 0x01]) + b[pos + 1 :]


# ---------------------------------------------------------------------------------------------
# Hash primitives and known vectors
# ---------------------------------------------------------------------------------------------


def test_primitives_use_domain_separation():
    assert merkle.leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert merkle.node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    assert merkle.leaf_hash(b"abc") != hashlib.sha256(b"abc").digest()


def test_empty_tree_root():
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.EMPTY_ROOT.hex() == expected
    assert merkle.root([]).hex() == expected
    assert merkle.MerkleTree().root().hex() == expected
    assert merkle.MerkleTree().size == 0


def test_single_empty_leaf_root():
    expected = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert hashlib.sha256(b"\x00").hexdigest() == expected
    assert merkle.root([merkle.leaf_hash(b"")]).hex() == expected
    assert ref_mth([ref_leaf(b"")]).hex() == expected


# The 8-leaf tree of the Certificate Transparency reference tests (Go/C++ merkle tree tests).
# Every value below agrees with both the reference implementation above and the module.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# (index, size) -> audit path
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
# (old size, new size) -> consistency proof
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def test_ct_reference_vectors():
    hashed = [merkle.leaf_hash(e) for e in CT_LEAVES]
    assert hashed == [ref_leaf(e) for e in CT_LEAVES]
    tree = merkle.MerkleTree()
    for e in CT_LEAVES:
        tree.append_entry(e)
    for n, expected in CT_ROOTS.items():
        assert merkle.root(hashed[:n]).hex() == expected
        assert tree.root_at(n).hex() == expected
        assert ref_mth(hashed[:n]).hex() == expected
    assert tree.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    for (m, n), expected in CT_INCLUSION.items():
        assert [p.hex() for p in tree.inclusion_proof(m, n)] == expected
        assert [p.hex() for p in ref_path(m, hashed[:n])] == expected
        assert merkle.verify_inclusion(hashed[m], m, n, tree.inclusion_proof(m, n), tree.root_at(n))
    for (m, n), expected in CT_CONSISTENCY.items():
        assert [p.hex() for p in tree.consistency_proof(m, n)] == expected
        assert [p.hex() for p in ref_proof(m, hashed[:n])] == expected
        assert merkle.verify_consistency(m, n, tree.root_at(m), tree.root_at(n), tree.consistency_proof(m, n))


# ---------------------------------------------------------------------------------------------
# Exhaustive comparison with the reference for sizes 1..40
# ---------------------------------------------------------------------------------------------


def test_root_matches_reference_all_sizes():
    for n in range(MAX_N + 1):
        assert merkle.root(LEAVES[:n]) == ROOTS[n], n
        assert merkle.MerkleTree(LEAVES[:n]).root() == ROOTS[n], n
        assert TREE.root_at(n) == ROOTS[n], n


def test_incremental_tree_root_after_each_append():
    tree = merkle.MerkleTree()
    for n, leaf in enumerate(LEAVES, start=1):
        assert tree.append(leaf) == n - 1
        assert tree.size == n == len(tree)
        assert tree.root() == ROOTS[n]
        assert tree.leaf(n - 1) == leaf


def test_inclusion_proofs_match_reference_and_verify():
    for n in range(1, MAX_N + 1):
        for m in range(n):
            proof = TREE.inclusion_proof(m, n)
            assert proof == ref_path(m, LEAVES[:n]), (m, n)
            assert merkle.verify_inclusion(LEAVES[m], m, n, proof, ROOTS[n]), (m, n)
    # default size is the current size
    assert TREE.inclusion_proof(3) == ref_path(3, LEAVES)


def test_consistency_proofs_match_reference_and_verify():
    for n in range(1, MAX_N + 1):
        for m in range(1, n + 1):
            proof = TREE.consistency_proof(m, n)
            assert proof == ref_proof(m, LEAVES[:n]), (m, n)
            assert merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof), (m, n)
        # from the empty tree: empty proof, verifies against EMPTY_ROOT
        assert TREE.consistency_proof(0, n) == []
        assert merkle.verify_consistency(0, n, merkle.EMPTY_ROOT, ROOTS[n], [])
    assert TREE.consistency_proof(5) == ref_proof(5, LEAVES)
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=70), st.data())
def test_random_trees_match_reference(entries, data):
    hashed = [merkle.leaf_hash(e) for e in entries]
    n = len(hashed)
    tree = merkle.MerkleTree()
    for e in entries:
        tree.append_entry(e)
    assert merkle.root(hashed) == ref_mth(hashed) == tree.root()
    size = data.draw(st.integers(1, n), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    root_size = ref_mth(hashed[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == ref_path(index, hashed[:size])
    assert merkle.verify_inclusion(hashed[index], index, size, proof, root_size)
    cproof = tree.consistency_proof(old, size)
    assert cproof == ref_proof(old, hashed[:size])
    assert merkle.verify_consistency(old, size, ref_mth(hashed[:old]), root_size, cproof)


def test_root_of_200k_leaves():
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(200_000)]
    r = merkle.root(leaves)
    assert len(r) == 32
    tree = merkle.MerkleTree(leaves)
    assert tree.root() == r
    # spot-check a proof deep in the big tree
    proof = tree.inclusion_proof(123_457)
    assert len(proof) == 18
    assert merkle.verify_inclusion(leaves[123_457], 123_457, 200_000, proof, r)
    cproof = tree.consistency_proof(99_999)
    assert merkle.verify_consistency(99_999, 200_000, merkle.root(leaves[:99_999]), r, cproof)


# ---------------------------------------------------------------------------------------------
# Verifiers reject bad proofs
# ---------------------------------------------------------------------------------------------

INCLUSION_CASES = [(m, n) for n in (1, 2, 3, 5, 7, 8, 13, 16, 21, 32, 40) for m in sorted({0, n // 2, n - 1})]


@pytest.mark.parametrize(("m", "n"), INCLUSION_CASES)
def test_inclusion_rejects_tampering(m, n):
    leaf, proof, root = LEAVES[m], TREE.inclusion_proof(m, n), ROOTS[n]
    assert merkle.verify_inclusion(leaf, m, n, proof, root)
    # flipped bytes anywhere
    for pos in (0, 17, 31):
        assert not merkle.verify_inclusion(flipped(leaf, pos), m, n, proof, root)
        assert not merkle.verify_inclusion(leaf, m, n, proof, flipped(root, pos))
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = flipped(bad[i], pos)
            assert not merkle.verify_inclusion(leaf, m, n, bad, root)
    # wrong index
    for other in range(n + 2):
        if other != m:
            assert not merkle.verify_inclusion(leaf, other, n, proof, root), other
    # wrong size (against the root of the claimed size)
    for other in range(1, MAX_N + 1):
        if other != n and m < other:
            assert not merkle.verify_inclusion(leaf, m, other, proof, ROOTS[other]), other
    # a size that needs a longer path than the proof has
    assert not merkle.verify_inclusion(leaf, m, 4 * n + 1, proof, root)
    # truncated / extended
    if proof:
        assert not merkle.verify_inclusion(leaf, m, n, proof[:-1], root)
        assert not merkle.verify_inclusion(leaf, m, n, proof[1:], root)
    assert not merkle.verify_inclusion(leaf, m, n, [*proof, LEAVES[0]], root)
    assert not merkle.verify_inclusion(leaf, m, n, [LEAVES[0], *proof], root)
    assert not merkle.verify_inclusion(leaf, m, n, [*proof, root], root)
    # a different leaf at the same position
    assert not merkle.verify_inclusion(ref_leaf(b"forged"), m, n, proof, root)


CONSISTENCY_CASES = [
    (m, n) for n in (2, 3, 5, 7, 8, 9, 16, 17, 31, 40) for m in sorted({1, 2, n // 2, n - 1} - {n})
]


@pytest.mark.parametrize(("m", "n"), CONSISTENCY_CASES)
def test_consistency_rejects_tampering(m, n):
    proof, old_root, new_root = TREE.consistency_proof(m, n), ROOTS[m], ROOTS[n]
    assert proof
    assert merkle.verify_consistency(m, n, old_root, new_root, proof)
    for pos in (0, 31):
        assert not merkle.verify_consistency(m, n, flipped(old_root, pos), new_root, proof)
        assert not merkle.verify_consistency(m, n, old_root, flipped(new_root, pos), proof)
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = flipped(bad[i], pos)
            assert not merkle.verify_consistency(m, n, old_root, new_root, bad)
    # wrong sizes (each against the true root of the claimed size)
    for other in range(1, MAX_N + 1):
        if other != m and other < n:
            assert not merkle.verify_consistency(other, n, ROOTS[other], new_root, proof), other
        if other != n and other > m:
            assert not merkle.verify_consistency(m, other, old_root, ROOTS[other], proof), other
    # truncated / extended / empty / swapped
    assert not merkle.verify_consistency(m, n, old_root, new_root, proof[:-1])
    assert not merkle.verify_consistency(m, n, old_root, new_root, proof[1:])
    assert not merkle.verify_consistency(m, n, old_root, new_root, [*proof, LEAVES[0]])
    assert not merkle.verify_consistency(m, n, old_root, new_root, [LEAVES[0], *proof])
    assert not merkle.verify_consistency(m, n, old_root, new_root, [])
    assert not merkle.verify_consistency(n, m, new_root, old_root, proof)
    # a new size that needs more levels than the proof covers (RFC 9162 2.1.4.2 step 7: sn == 0)
    assert not merkle.verify_consistency(m, 4 * n + 1, old_root, new_root, proof)
    assert not merkle.verify_consistency(m, 2 * n + 1, old_root, new_root, proof)
    assert not merkle.verify_consistency(m, n, new_root, old_root, proof)


def test_consistency_detects_rewritten_history():
    """A log that changed an old entry cannot prove consistency with the old checkpoint."""
    n = 23
    for m in range(1, n):
        for victim in range(m):
            forged = list(LEAVES[:n])
            forged[victim] = ref_leaf(b"rewritten")
            forged_tree = merkle.MerkleTree(forged)
            proof = forged_tree.consistency_proof(m, n)
            assert not merkle.verify_consistency(m, n, ROOTS[m], forged_tree.root(), proof), (m, victim)


def test_consistency_edge_cases():
    r5 = ROOTS[5]
    assert merkle.verify_consistency(5, 5, r5, r5, [])
    assert not merkle.verify_consistency(5, 5, r5, ROOTS[6], [])
    assert not merkle.verify_consistency(5, 5, r5, r5, [r5])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, r5, [r5])
    assert not merkle.verify_consistency(0, 5, ROOTS[1], r5, [])
    assert not merkle.verify_consistency(6, 5, ROOTS[6], r5, [])


MALFORMED_INCLUSION = [
    (None, 0, 1, [], None),
    (b"short", 0, 1, [], b"short"),
    (LEAVES[0], -1, 1, [], ROOTS[1]),
    (LEAVES[0], 0, 0, [], merkle.EMPTY_ROOT),
    (LEAVES[0], 0, -3, [], ROOTS[1]),
    (LEAVES[0], True, 2, [LEAVES[0]], ROOTS[2]),
    (LEAVES[0], 0, True, [], ROOTS[1]),
    (LEAVES[0], "0", 1, [], ROOTS[1]),
    (LEAVES[0], 0.0, 1, [], ROOTS[1]),
    (LEAVES[0], 0, 2, None, ROOTS[2]),
    (LEAVES[0], 0, 2, LEAVES[1], ROOTS[2]),
    (LEAVES[0], 0, 2, [LEAVES[1][:31]], ROOTS[2]),
    (LEAVES[0], 0, 2, [LEAVES[1] + b"\x00"], ROOTS[2]),
    (LEAVES[0], 0, 2, ["ab" * 32], ROOTS[2]),
    (LEAVES[0], 0, 2, [None], ROOTS[2]),
    (LEAVES[0], 0, 2, [LEAVES[1]], ROOTS[2].hex()),
    (LEAVES[0], 2**70, 2**71, [LEAVES[1]] * 3, ROOTS[2]),
]


@pytest.mark.parametrize("args", MALFORMED_INCLUSION)
def test_verify_inclusion_never_raises_on_malformed(args):
    assert merkle.verify_inclusion(*args) is False


MALFORMED_CONSISTENCY = [
    (1, 2, None, ROOTS[2], [LEAVES[1]]),
    (1, 2, ROOTS[1], b"x", [LEAVES[1]]),
    (-1, 2, ROOTS[1], ROOTS[2], [LEAVES[1]]),
    (1, "2", ROOTS[1], ROOTS[2], [LEAVES[1]]),
    (True, 2, ROOTS[1], ROOTS[2], [LEAVES[1]]),
    (1, 2, ROOTS[1], ROOTS[2], None),
    (1, 2, ROOTS[1], ROOTS[2], LEAVES[1]),
    (1, 2, ROOTS[1], ROOTS[2], [LEAVES[1][:5]]),
    (1, 2, ROOTS[1], ROOTS[2], [42]),
    (3, 2**80, ROOTS[3], ROOTS[2], [LEAVES[1]] * 4),
]


@pytest.mark.parametrize("args", MALFORMED_CONSISTENCY)
def test_verify_consistency_never_raises_on_malformed(args):
    assert merkle.verify_consistency(*args) is False


_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.binary(max_size=40),
    st.text(max_size=5),
    st.lists(st.binary(min_size=32, max_size=32), max_size=8),
    st.lists(st.one_of(st.binary(max_size=40), st.none(), st.integers()), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(_junk, _junk, _junk, _junk, _junk)
def test_verifiers_fuzz_never_raise(a, b, c, d, e):
    assert merkle.verify_inclusion(a, b, c, d, e) in (True, False)
    assert merkle.verify_consistency(a, b, c, d, e) in (True, False)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, MAX_N + 3),
    st.integers(0, MAX_N + 3),
    st.lists(st.sampled_from(LEAVES + ROOTS), max_size=8),
)
def test_random_proofs_do_not_verify(m, n, proof):
    """Proofs made of plausible hashes verify only if they are the real proof."""
    if 0 <= m < n <= MAX_N and merkle.verify_inclusion(LEAVES[m], m, n, proof, ROOTS[n]):
        assert proof == TREE.inclusion_proof(m, n)
    if 1 <= m < n <= MAX_N and merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], proof):
        assert proof == TREE.consistency_proof(m, n)


def test_tree_argument_errors():
    tree = merkle.MerkleTree(LEAVES[:5])
    with pytest.raises(ValueError):
        tree.append(b"too short")
    with pytest.raises(ValueError):
        tree.append("x" * 32)
    with pytest.raises(ValueError):
        tree.inclusion_proof(5, 5)
    with pytest.raises(ValueError):
        tree.inclusion_proof(-1, 5)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 6)
    with pytest.raises(ValueError):
        tree.inclusion_proof(0, 0)
    with pytest.raises(ValueError):
        tree.consistency_proof(4, 3)
    with pytest.raises(ValueError):
        tree.consistency_proof(1, 6)
    with pytest.raises(ValueError):
        tree.consistency_proof(-1, 3)
    with pytest.raises(ValueError):
        tree.root_at(6)
    with pytest.raises(ValueError):
        tree.root_at(-1)
    assert tree.size == 5


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_KEY = PRIVATE_KEY.public_key()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TS = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY_ID = ckpt.key_id_for(PUBLIC_KEY)


def make_cp(**overrides) -> ckpt.Checkpoint:
    args = {"size": 40, "root_hash": ROOTS[40], "private_key": PRIVATE_KEY, "key_id": KEY_ID, "timestamp": TS}
    args.update(overrides)
    return ckpt.sign_checkpoint(**args)


def test_key_id():
    raw = PUBLIC_KEY.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert KEY_ID == hashlib.sha256(raw).hexdigest()[:16]
    assert len(KEY_ID) == 16
    assert ckpt.key_id_for(OTHER_KEY.public_key()) != KEY_ID


def test_signed_payload_format():
    payload = ckpt.signed_payload(40, ROOTS[40], TS, "abc123")
    expected = (
        "outcome-ttp audit log\n40\n"
        + base64.b64encode(ROOTS[40]).decode()
        + "\n2024-05-01T12:00:00Z\nabc123\n"
    ).encode()
    assert payload == expected
    # other time zones are rendered in UTC
    cet = timezone(timedelta(hours=2))
    assert ckpt.signed_payload(40, ROOTS[40], datetime(2024, 5, 1, 14, 0, tzinfo=cet), "abc123") == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": -1},
        {"size": True},
        {"size": "40"},
        {"root_hash": b"short"},
        {"root_hash": ROOTS[40].hex()},
        {"timestamp": datetime(2024, 5, 1, 12, 0)},  # naive
        {"timestamp": datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)},  # sub-second
        {"timestamp": "2024-05-01T12:00:00Z"},
        {"key_id": ""},
        {"key_id": "a\nb"},
        {"key_id": "a b"},
        {"key_id": "x" * 65},
        {"key_id": 7},
    ],
)
def test_signed_payload_rejects_bad_fields(kwargs):
    args = {"size": 40, "root_hash": ROOTS[40], "timestamp": TS, "key_id": KEY_ID}
    args.update(kwargs)
    with pytest.raises(ValueError):
        ckpt.signed_payload(**args)


def test_sign_verify_round_trip():
    cp = make_cp()
    assert cp.size == 40 and cp.root_hash == ROOTS[40] and cp.timestamp == TS and cp.key_id == KEY_ID
    assert len(cp.signature) == 64
    assert ckpt.verify_checkpoint(cp, PUBLIC_KEY)
    assert not ckpt.verify_checkpoint(cp, OTHER_KEY.public_key())
    empty = make_cp(size=0, root_hash=merkle.EMPTY_ROOT)
    assert ckpt.verify_checkpoint(empty, PUBLIC_KEY)


def test_sign_normalises_timestamp():
    cet = timezone(timedelta(hours=2))
    cp = make_cp(timestamp=datetime(2024, 5, 1, 14, 0, 0, 987654, tzinfo=cet))
    assert cp.timestamp == TS
    assert cp.timestamp.utcoffset() == timedelta(0)
    assert cp.timestamp.microsecond == 0
    assert ckpt.verify_checkpoint(cp, PUBLIC_KEY)
    now = ckpt.sign_checkpoint(1, ROOTS[1], PRIVATE_KEY, KEY_ID)
    assert now.timestamp.tzinfo is not None and now.timestamp.microsecond == 0
    assert abs(datetime.now(UTC) - now.timestamp) < timedelta(minutes=1)
    assert ckpt.verify_checkpoint(now, PUBLIC_KEY)
    with pytest.raises(ValueError):
        make_cp(timestamp=datetime(2024, 5, 1, 12, 0))
    with pytest.raises(ValueError):
        make_cp(root_hash=b"short")


@pytest.mark.parametrize(
    "changes",
    [
        {"size": 41},
        {"size": 39},
        {"size": 0},
        {"root_hash": ROOTS[39]},
        {"root_hash": flipped(ROOTS[40], 31)},
        {"timestamp": TS + timedelta(seconds=1)},
        {"timestamp": TS - timedelta(days=1)},
        {"key_id": "0000000000000000"},
        {"key_id": KEY_ID.upper()},
        {"signature": flipped(make_cp().signature, 10)},
        {"signature": make_cp(size=41).signature},
    ],
)
def test_changed_checkpoint_fails_verification(changes):
    cp = dataclasses.replace(make_cp(), **changes)
    assert not ckpt.verify_checkpoint(cp, PUBLIC_KEY)


@pytest.mark.parametrize(
    "changes",
    [
        {"size": "40"},
        {"size": -40},
        {"size": None},
        {"root_hash": b""},
        {"root_hash": None},
        {"timestamp": datetime(2024, 5, 1, 12, 0)},
        {"timestamp": TS.replace(microsecond=1)},
        {"timestamp": "2024-05-01T12:00:00Z"},
        {"key_id": None},
        {"key_id": "a\nb"},
        {"signature": b""},
        {"signature": "x" * 64},
        {"signature": None},
        {"signature": b"\x00" * 64},
    ],
)
def test_verify_checkpoint_never_raises_on_garbage(changes):
    cp = dataclasses.replace(make_cp(), **changes)
    assert ckpt.verify_checkpoint(cp, PUBLIC_KEY) is False


def test_verify_checkpoint_garbage_objects():
    assert ckpt.verify_checkpoint(None, PUBLIC_KEY) is False
    assert ckpt.verify_checkpoint(ckpt.to_json(make_cp()), PUBLIC_KEY) is False
    assert ckpt.verify_checkpoint(make_cp(), None) is False
    assert ckpt.verify_checkpoint(make_cp(), PRIVATE_KEY) is False


def test_json_round_trip():
    cp = make_cp()
    d = ckpt.to_json(cp)
    assert set(d) == {"size", "root_hash", "timestamp", "key_id", "signature"}
    assert d["size"] == 40
    assert d["root_hash"] == ROOTS[40].hex()
    assert d["timestamp"] == "2024-05-01T12:00:00Z"
    assert d["key_id"] == KEY_ID
    assert base64.b64decode(d["signature"]) == cp.signature
    # through an actual file-like JSON text
    back = ckpt.from_json(json.loads(json.dumps(d)))
    assert back == cp
    assert ckpt.verify_checkpoint(back, PUBLIC_KEY)
    # extra keys are ignored, uppercase hex and explicit offsets are accepted
    d2 = dict(d, root_hash=d["root_hash"].upper(), timestamp="2024-05-01T14:00:00+02:00", note="hi")
    assert ckpt.from_json(d2) == cp


def test_json_tampered_file_fails_verification():
    d = ckpt.to_json(make_cp())
    d["size"] = 41
    assert not ckpt.verify_checkpoint(ckpt.from_json(d), PUBLIC_KEY)


def _good_json() -> dict:
    return ckpt.to_json(make_cp())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: None,
        lambda d: [d],
        lambda d: "{}",
        lambda d: {},
        lambda d: {k: v for k, v in d.items() if k != "size"},
        lambda d: {k: v for k, v in d.items() if k != "signature"},
        lambda d: {k: v for k, v in d.items() if k != "timestamp"},
        lambda d: {k: v for k, v in d.items() if k != "root_hash"},
        lambda d: {k: v for k, v in d.items() if k != "key_id"},
        lambda d: dict(d, size="40"),
        lambda d: dict(d, size=True),
        lambda d: dict(d, size=-1),
        lambda d: dict(d, size=40.0),
        lambda d: dict(d, size=None),
        lambda d: dict(d, root_hash="zz" * 32),
        lambda d: dict(d, root_hash=d["root_hash"][:-2]),
        lambda d: dict(d, root_hash=d["root_hash"] + "00"),
        lambda d: dict(d, root_hash=d["root_hash"] + "\n"),
        lambda d: dict(d, root_hash=base64.b64encode(ROOTS[40]).decode()),
        lambda d: dict(d, root_hash=12),
        lambda d: dict(d, timestamp="yesterday"),
        lambda d: dict(d, timestamp="2024-05-01T12:00:00"),
        lambda d: dict(d, timestamp="2024-05-01T12:00:00.5Z"),
        lambda d: dict(d, timestamp="2024-13-01T12:00:00Z"),
        lambda d: dict(d, timestamp=1714564800),
        lambda d: dict(d, key_id=""),
        lambda d: dict(d, key_id="two words"),
        lambda d: dict(d, key_id=["x"]),
        lambda d: dict(d, signature="not base64!"),
        lambda d: dict(d, signature=d["signature"][:-4]),
        lambda d: dict(d, signature=base64.b64encode(b"\x00" * 65).decode()),
        lambda d: dict(d, signature=d["signature"].rstrip("=")),
        lambda d: dict(d, signature=d["signature"][:8] + "!" + d["signature"][8:]),
        lambda d: dict(d, signature=d["signature"][:8] + " " + d["signature"][8:]),
        lambda d: dict(d, signature=None),
    ],
)
def test_from_json_rejects_garbage(mutate):
    with pytest.raises(ValueError):
        ckpt.from_json(mutate(_good_json()))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "size": _json_values,
            "root_hash": _json_values,
            "timestamp": _json_values,
            "key_id": _json_values,
            "signature": _json_values,
        },
    )
)
def test_from_json_fuzz_only_value_error(d):
    try:
        cp = ckpt.from_json(d)
    except ValueError:
        return
    assert isinstance(cp, ckpt.Checkpoint)
    assert ckpt.verify_checkpoint(cp, PUBLIC_KEY) is False
