"""Inclusion and consistency proofs and signed checkpoints from the HTTP API, checked by an
independent implementation of RFC 9162 written here from the recursive definitions (2.1.1,
2.1.3.1, 2.1.4.1), with no code from app.audit."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key


# ---- RFC 9162, from the definitions -------------------------------------------------------------
def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over already hashed leaves."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], complete) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n."""
    return subproof(m, leaves, True)


def root_from_inclusion(m: int, n: int, leaf_hash: bytes, audit_path: list[bytes]) -> bytes:
    """Fold an audit path back into the root, following PATH's recursion."""
    if n == 1:
        assert not audit_path, "too long"
        return leaf_hash
    assert audit_path, "too short"
    k = split(n)
    *rest, last = audit_path
    if m < k:
        return node(root_from_inclusion(m, k, leaf_hash, rest), last)
    return node(last, root_from_inclusion(m - k, n - k, leaf_hash, rest))


def roots_from_consistency(m: int, n: int, hashes: list[bytes], old_root: bytes,
                           complete: bool = True) -> tuple[bytes, bytes]:
    """The (old, new) roots a consistency proof implies, following SUBPROOF's recursion."""
    if m == n:
        if complete:
            assert not hashes, "too long"
            return old_root, old_root
        assert len(hashes) == 1, "wrong length"
        return hashes[0], hashes[0]
    assert hashes, "too short"
    k = split(n)
    *rest, last = hashes
    if m <= k:
        old, new = roots_from_consistency(m, k, rest, old_root, complete)
        return old, node(new, last)
    old, new = roots_from_consistency(m - k, n - k, rest, old_root, False)
    return node(last, old), node(last, new)


def consistent(m: int, n: int, hashes: list[bytes], old_root: bytes, new_root: bytes) -> bool:
    if m == 0:
        return not hashes
    if m == n:
        return not hashes and old_root == new_root
    try:
        return roots_from_consistency(m, n, hashes, old_root) == (old_root, new_root)
    except AssertionError:
        return False


def canonical_leaf(entry: dict) -> bytes:
    fields = {k: v for k, v in entry.items() if k != "leaf_hash"}
    return leaf(json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def verify_signature(checkpoint: dict) -> None:
    """Checks the signature with the public key the service returned (raises InvalidSignature)."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["public_key"]))
    pem_key = load_pem_public_key(checkpoint["public_key_pem"].encode())
    assert pem_key.public_bytes(Encoding.Raw, PublicFormat.Raw) == base64.b64decode(checkpoint["public_key"])
    root = bytes.fromhex(checkpoint["root_hash"])
    payload = (f"outcome-ttp audit log\n{checkpoint['size']}\n{base64.b64encode(root).decode()}\n"
               f"{checkpoint['timestamp']}\n{checkpoint['key_id']}\n").encode()
    assert checkpoint["signed_payload"].encode() == payload
    key.verify(base64.b64decode(checkpoint["signature"]), payload)


# ---- the independent implementation checks itself on small trees --------------------------------
def test_the_reference_implementation_is_self_consistent() -> None:
    leaves = [leaf(bytes([i])) for i in range(9)]
    for n in range(1, 10):
        for m in range(n):
            assert root_from_inclusion(m, n, leaves[m], path(m, leaves[:n])) == mth(leaves[:n])
        for m in range(1, n):
            assert consistent(m, n, proof(m, leaves[:n]), mth(leaves[:m]), mth(leaves[:n]))
            assert not consistent(m, n, proof(m, leaves[:n]), mth(leaves[:m]), mth(leaves[: n - 1]))


# ---- the service --------------------------------------------------------------------------------
@pytest.fixture
def officer(token_for):
    return token_for("privacy_officer", "TTP")


def grow(api, headers, n: int) -> None:
    for _ in range(n):
        assert api.get("/v1/privacy/configuration", headers=headers).status_code == 200


def all_entries(api, headers) -> list[dict]:
    return api.get("/v1/audit/entries", params={"limit": 10000}, headers=headers).json()["entries"]


def test_checkpoints_are_signed_and_cover_the_entries(api, officer) -> None:
    grow(api, officer, 4)
    checkpoint = api.get("/v1/audit/checkpoint", headers=officer)
    assert checkpoint.status_code == 200
    cp = checkpoint.json()
    assert cp["created"] is True
    verify_signature(cp)
    entries = all_entries(api, officer)
    leaves = [canonical_leaf(e) for e in entries]
    assert [e["leaf_hash"] for e in entries] == [h.hex() for h in leaves]  # leaves recompute independently
    assert mth(leaves[: cp["size"]]).hex() == cp["root_hash"]
    # A changed field breaks the signature.
    forged = {**cp, "size": cp["size"] + 1}
    forged["signed_payload"] = forged["signed_payload"].replace(f"\n{cp['size']}\n", f"\n{cp['size'] + 1}\n")
    with pytest.raises(InvalidSignature):
        verify_signature(forged)


def test_inclusion_proofs_verify_independently(api, officer) -> None:
    grow(api, officer, 5)
    cp = api.get("/v1/audit/checkpoint", headers=officer).json()
    verify_signature(cp)
    n, root = cp["size"], bytes.fromhex(cp["root_hash"])
    leaves = [canonical_leaf(e) for e in all_entries(api, officer)][:n]
    for seq in range(1, n + 1):
        answer = api.get("/v1/audit/proofs/inclusion", params={"seq": seq, "size": n}, headers=officer)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        hashes = [bytes.fromhex(h) for h in body["proof"]]
        assert body["leaf_hash"] == leaves[seq - 1].hex()
        assert body["root_hash"] == cp["root_hash"]
        assert hashes == path(seq - 1, leaves)
        assert root_from_inclusion(seq - 1, n, leaves[seq - 1], hashes) == root
    # A proof for another leaf does not verify this one.
    other = api.get("/v1/audit/proofs/inclusion", params={"seq": 1, "size": n}, headers=officer).json()
    hashes = [bytes.fromhex(h) for h in other["proof"]]
    assert root_from_inclusion(1, n, leaves[1], hashes) != root


def test_consistency_proofs_verify_independently(api, officer) -> None:
    grow(api, officer, 3)
    old = api.get("/v1/audit/checkpoint", headers=officer).json()
    grow(api, officer, 7)
    new = api.get("/v1/audit/checkpoint", headers=officer).json()
    verify_signature(old)
    verify_signature(new)
    m, n = old["size"], new["size"]
    assert m < n
    leaves = [canonical_leaf(e) for e in all_entries(api, officer)][:n]
    answer = api.get("/v1/audit/proofs/consistency", params={"from_size": m, "to_size": n}, headers=officer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    hashes = [bytes.fromhex(h) for h in body["proof"]]
    assert (body["from_root"], body["to_root"]) == (old["root_hash"], new["root_hash"])
    assert hashes == proof(m, leaves)
    assert consistent(m, n, hashes, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]))
    tampered = [bytes(32)] + hashes[1:]
    assert not consistent(m, n, tampered, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]))
    # Every older size is consistent with the new head.
    for earlier in range(0, n + 1):
        body = api.get("/v1/audit/proofs/consistency", params={"from_size": earlier, "to_size": n},
                       headers=officer).json()
        hashes = [bytes.fromhex(h) for h in body["proof"]]
        assert body["from_root"] == mth(leaves[:earlier]).hex()
        assert body["to_root"] == new["root_hash"]
        if 0 < earlier < n:
            assert hashes == proof(earlier, leaves)
        assert consistent(earlier, n, hashes, mth(leaves[:earlier]), bytes.fromhex(new["root_hash"]))


@pytest.mark.parametrize("path_, params, field", [
    ("/v1/audit/proofs/inclusion", {"seq": 3, "size": 2}, "query.seq"),
    ("/v1/audit/proofs/inclusion", {"seq": 1, "size": 10**6}, "query.size"),
    ("/v1/audit/proofs/inclusion", {"seq": 0, "size": 1}, "query.seq"),
    ("/v1/audit/proofs/inclusion", {"size": 1}, "query.seq"),
    ("/v1/audit/proofs/consistency", {"from_size": 3, "to_size": 2}, "query.from_size"),
    ("/v1/audit/proofs/consistency", {"from_size": 0, "to_size": 10**6}, "query.to_size"),
])
def test_impossible_proofs_are_400(api, officer, path_, params, field) -> None:
    grow(api, officer, 2)
    answer = api.get(path_, params=params, headers=officer)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in answer.json()["errors"]}
