"""RFC 9162 (Certificate Transparency v2) section 2.1 Merkle tree for the audit log.

Pure module: stdlib only. All hashes are SHA-256 (32 bytes).

* ``leaf_hash(entry)``    = SHA-256(0x00 || entry)                       (RFC 9162 2.1.1)
* ``node_hash(l, r)``     = SHA-256(0x01 || l || r)
* ``EMPTY_ROOT``          = SHA-256("")  (MTH of the empty list)
* ``root(leaf_hashes)``   = MTH over *already hashed* leaves; O(n) hashing, iterative.
* ``MerkleTree``          = append-only tree that keeps every complete subtree hash, so roots and
  proofs for any historical size are O(log n) lookups and hashes.
* ``verify_inclusion`` / ``verify_consistency`` follow the verification algorithms of
  RFC 9162 2.1.3.2 and 2.1.4.2 step by step. They never raise: any malformed input gives ``False``.

Edge cases the RFC leaves undefined (it only defines proofs for 0 <= index < size and 0 < m < n):

* ``consistency_proof(0, n)`` and ``consistency_proof(n, n)`` are the empty list.
* ``verify_consistency(0, n, old_root, new_root, [])`` is true iff ``old_root == EMPTY_ROOT``
  (any tree extends the empty tree); a non-empty proof for ``old_size == 0`` is rejected.
* ``verify_consistency(n, n, a, b, [])`` is true iff ``a == b``; a non-empty proof is rejected.

As in RFC 9162, a proof authenticates a (size, root) pair only as a pair: the verifiers trust the
size they are given (e.g. the proof for leaf 0 of a 4-leaf tree also "verifies" as leaf 0 of a
3-leaf tree *with the 4-leaf root*). Always take size and root together from a verified signed
checkpoint (``app.audit.checkpoint_format``), never the size from one source and the root from another.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """Hash of a leaf: SHA-256(0x00 || entry)."""
    return hashlib.sha256(_LEAF_PREFIX + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves (RFC 9162 2.1.1).

    Iterative: a stack of perfect-subtree hashes is merged as leaves arrive (like a binary
    counter), then folded right to left. Exactly n - 1 node hashes for n leaves; O(log n) memory.
    """
    stack: list[tuple[int, bytes]] = []  # (height, hash), heights strictly decreasing
    for leaf in leaf_hashes:
        height, h = 0, leaf
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            h = node_hash(left, h)
            height += 1
        stack.append((height, h))
    if not stack:
        return EMPTY_ROOT
    # The remaining subtrees have strictly decreasing sizes, which is exactly how the RFC's
    # "largest power of two smaller than n" split decomposes the tree: fold from the right.
    h = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        h = node_hash(left, h)
    return h


class MerkleTree:
    """Append-only RFC 9162 Merkle tree over leaf hashes.

    ``_levels[h][i]`` is the hash of the perfect subtree of 2**h leaves starting at leaf i * 2**h;
    only complete subtrees are stored, so every stored node is valid for every later size too.
    Memory: about 2n hashes.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def __len__(self) -> int:
        return self.size

    def append(self, leaf_hash: bytes) -> int:
        """Append an already-hashed leaf; returns its index."""
        if not _is_hash(leaf_hash):
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        h = bytes(leaf_hash)
        index = len(self._levels[0])
        level = 0
        self._levels[0].append(h)
        # While the node just stored is a right child, its parent is now complete.
        while len(self._levels[level]) % 2 == 0:
            nodes = self._levels[level]
            parent = node_hash(nodes[-2], nodes[-1])
            level += 1
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(parent)
        return index

    def append_entry(self, entry: bytes) -> int:
        """Hash ``entry`` as a leaf and append it; returns its index."""
        return self.append(leaf_hash(entry))

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    # -- subtree hashes ---------------------------------------------------------------------------

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size.

        Aligned perfect ranges are O(1) lookups; the ranges the proofs need (aligned starts) cost
        O(log n). Unaligned ranges stay correct by splitting further.
        """
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))

    def _check_size(self, size: int, *, allow_zero: bool = True) -> None:
        if not _is_size(size) or size > self.size or (size == 0 and not allow_zero):
            raise ValueError(f"tree size must be in [{0 if allow_zero else 1}, {self.size}], got {size!r}")

    def root(self) -> bytes:
        """Root hash of the current tree."""
        return self.root_at(self.size)

    def root_at(self, size: int) -> bytes:
        """Root hash of the tree made of the first ``size`` leaves."""
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        return self._range_hash(0, size)

    # -- proofs -----------------------------------------------------------------------------------

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) of RFC 9162 2.1.3.1 (audit path, leaf side first)."""
        if size is None:
            size = self.size
        self._check_size(size, allow_zero=False)
        if not _is_size(index) or index >= size:
            raise ValueError(f"leaf index must be in [0, {size}), got {index!r}")
        # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])       if m < k
        #               = PATH(m - k, D[k:n]) : MTH(D[0:k])   if m >= k
        # Walk top-down collecting the appended hashes, then reverse.
        lo, hi, m = 0, size, index
        out: list[bytes] = []
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                out.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                out.append(self._range_hash(lo, lo + k))
                lo += k
                m -= k
        out.reverse()
        return out

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1.

        Empty for ``old_size == 0`` and ``old_size == new_size`` (see module docstring).
        """
        if new_size is None:
            new_size = self.size
        self._check_size(new_size)
        if not _is_size(old_size) or old_size > new_size:
            raise ValueError(f"old size must be in [0, {new_size}], got {old_size!r}")
        if old_size == 0 or old_size == new_size:
            return []
        # SUBPROOF(m, D[m], true)  = {}
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])        if m <= k
        #                      = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) if m > k
        lo, hi, m, complete = 0, new_size, old_size, True
        out: list[bytes] = []
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                out.append(self._range_hash(lo + k, hi))
                hi = lo + k
            else:
                out.append(self._range_hash(lo, lo + k))
                lo += k
                m -= k
                complete = False
        if not complete:
            out.append(self._range_hash(lo, hi))
        out.reverse()
        return out


# -- verifiers (never raise) ----------------------------------------------------------------------


def _proof_list(proof: object) -> list[bytes] | None:
    if not isinstance(proof, list | tuple):
        return None
    if not all(_is_hash(p) for p in proof):
        return None
    return [bytes(p) for p in proof]


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show leaf ``leaf_hash`` at ``index`` in the tree ``root``
    of ``size`` leaves? Returns False (never raises) on any malformed input."""
    path = _proof_list(proof)
    if path is None or not _is_hash(leaf_hash) or not _is_hash(root):
        return False
    if not _is_size(index) or not _is_size(size):
        return False
    # 1. leaf_index >= tree_size: fail.
    if index >= size:
        return False
    # 2. fn = leaf_index, sn = tree_size - 1.  3. r = hash.
    fn, sn = index, size - 1
    r = bytes(leaf_hash)
    # 4. for each p in inclusion_path
    for p in path:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # ii. LSB(fn) not set: shift until set or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # c.
        sn >>= 1
    # 5. sn == 0 and r == root_hash
    return sn == 0 and hmac.compare_digest(r, bytes(root))


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree ``new_root`` of ``new_size`` leaves an append-only extension
    of the tree ``old_root`` of ``old_size`` leaves? Returns False (never raises) on malformed input.
    """
    path = _proof_list(proof)
    if path is None or not _is_hash(old_root) or not _is_hash(new_root):
        return False
    if not _is_size(old_size) or not _is_size(new_size) or old_size > new_size:
        return False
    old_root, new_root = bytes(old_root), bytes(new_root)
    if old_size == new_size:
        return not path and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not path and hmac.compare_digest(old_root, EMPTY_ROOT)
    # 1. empty consistency_path: fail.
    if not path:
        return False
    # 2. first an exact power of 2: prepend first_hash.
    if old_size & (old_size - 1) == 0:
        path = [old_root, *path]
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. if LSB(fn) set, shift both right until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = first value.
    fr = sr = path[0]
    # 6. for each subsequent value c
    for c in path[1:]:
        if sn == 0:  # a.
            return False
        if fn & 1 or fn == sn:  # b.
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:  # iii. LSB(fn) not set: shift until set or fn == 0
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # c.
        sn >>= 1
    # 7. fr == first_hash, sr == second_hash, sn == 0.
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
