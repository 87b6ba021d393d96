"""``ttp audit verify``: is the audit log intact, and did it only grow?

The full check, from the stored data alone (plus the audit-signing public keys):

1. every entry's leaf is recomputed from its stored fields and compared with the stored
   ``leaf_hash`` (catches a changed field, and a changed or moved row);
2. the sequence numbers are dense, ``1..n`` (catches a removed entry);
3. the RFC 9162 tree is recomputed from the recomputed leaves, and every signed checkpoint the
   service stored (``audit_checkpoints``) must carry a valid signature and the recomputed root at
   its size (catches a rewrite that also recomputed the stored hashes, and a cut-off tail);
4. given a checkpoint an officer saved earlier (``--checkpoint FILE``), its signature must verify
   with the service's key, and the recomputed tree at its size must have its root: the log is an
   append-only extension of what the officer saw (what an RFC 9162 consistency proof shows;
   ``GET /v1/audit/proofs/consistency`` gives that proof for an independent check).

The answer names the FIRST problem by sequence number with a reason, e.g. ``entry 17 was
changed``, ``entry 17 is missing``, ``entries out of order at 17 ...`` or ``the log was cut: it
has 40 entries but the saved checkpoint ... covers 52``. A checkpoint mismatch can only be
narrowed to the entries between the last checkpoint that still matches and the first that does
not; it is reported first only when that whole range lies before every exactly located problem.

Memory is O(log n) for the tree (a frontier of perfect-subtree hashes) plus a bounded window of
stored leaves after the first changed entry (to tell a moved entry from a changed one).
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import checkpoint_format as signing
from app.audit.log import canonical_bytes
from app.audit.merkle import EMPTY_ROOT, leaf_hash, node_hash
from app.crypto.keyring import Keyring, KeyringError
from app.models import AuditCheckpoint, AuditEntry

#: How far after a changed entry to look for the entry it was moved from.
MOVE_WINDOW = 1000

_COLUMNS = [c for c in AuditEntry.__table__.columns]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem with the log. ``seq`` is the first entry concerned (None: not an entry);
    ``last_seq`` is set when it can only be narrowed to the range ``seq..last_seq``."""

    sort_key: tuple[float, int] = field(repr=False)
    seq: int | None = field(compare=False)
    reason: str = field(compare=False)
    last_seq: int | None = field(default=None, compare=False)
    #: What kind of problem, for a reader that explains it in its own words: ``missing``,
    #: ``out_of_order``, ``moved``, ``changed``, ``cut``, ``mismatch`` (entries against a
    #: checkpoint), ``checkpoint_malformed``, ``checkpoint_unknown_key``, ``checkpoint_signature``,
    #: ``checkpoint_wrong_key`` (the public key saved with a checkpoint is not the service's).
    kind: str = field(default="", compare=False)
    #: The checkpoint concerned: ``saved`` (the officer's file) or ``stored`` (then its id).
    checkpoint: str | None = field(default=None, compare=False)
    checkpoint_id: int | None = field(default=None, compare=False)
    checkpoint_time: str | None = field(default=None, compare=False)
    #: For ``moved``: the position the entry now at ``seq`` was written at.
    moved_from: int | None = field(default=None, compare=False)
    #: For ``missing``: the last missing entry (``seq`` is the first).
    missing_to: int | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "last_seq": self.last_seq, "reason": self.reason}


# ranks break ties between findings at the same position: the most precise first
_SAVED_FILE, _ENTRY, _SAVED, _STORED = -1, 0, 1, 2


def _finding(rank: int, seq: int | None, reason: str, last_seq: int | None = None, **about: Any) -> Finding:
    position = math.inf if seq is None else float(last_seq if last_seq is not None else seq)
    if rank == _SAVED_FILE:
        position = -math.inf
    return Finding((position, rank), seq, reason, last_seq, **about)


def _about(checkpoint: signing.Checkpoint | None, record_id: int | None) -> dict[str, Any]:
    """Which checkpoint a finding is about (``record_id`` None: the officer's saved file)."""
    return {"checkpoint": "saved" if record_id is None else "stored", "checkpoint_id": record_id,
            "checkpoint_time": _when(checkpoint) if checkpoint is not None else None}


@dataclass(frozen=True)
class Verification:
    entries: int
    root_hash: bytes
    checkpoints_checked: int
    first_problem: Finding | None
    saved: signing.Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return self.first_problem is None

    def summary(self) -> str:
        if self.first_problem is not None:
            return f"audit log broken: {self.first_problem.reason}"
        text = (f"audit log intact: {self.entries} entries, root {self.root_hash.hex()}, "
                f"{self.checkpoints_checked} signed checkpoints match")
        if self.saved is not None:
            text += (f"; it extends the saved checkpoint of {_when(self.saved)} "
                     f"({self.saved.size} entries)")
        return text


class _Frontier:
    """Incremental RFC 9162 root: a stack of perfect-subtree hashes (O(log n) memory)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        height, h = 0, leaf
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            h = node_hash(left, h)
            height += 1
        self._stack.append((height, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def _when(cp: signing.Checkpoint) -> str:
    return signing.to_json(cp)["timestamp"]


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key(keyring: Keyring, key_id: str) -> Ed25519PublicKey | None:
    try:
        return keyring.audit_signing_key(key_id)[1].public_key()
    except (KeyringError, ValueError, TypeError):
        return None


def _entry_rows(session: Session) -> Iterable[Any]:
    statement = select(*_COLUMNS).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    return session.execute(statement)


def _moved_from(values: dict[str, Any], stored: bytes, seq: int, later: dict[int, bytes]) -> int | None:
    """If the entry now at ``seq`` hashes as an entry at another position ``t`` (its own stored
    hash, or the stored hash of the row now at ``t``), it was moved: return ``t``."""
    for t in range(seq + 1, seq + MOVE_WINDOW + 1):
        candidate = leaf_hash(canonical_bytes({**values, "seq": t}))
        if hmac.compare_digest(candidate, stored) or (t in later and hmac.compare_digest(candidate, later[t])):
            return t
    return None


def verify_log(
    session: Session,
    keyring: Keyring,
    saved: signing.Checkpoint | None = None,
    saved_public_key: Ed25519PublicKey | None = None,
) -> Verification:
    """Verify the whole log (see the module docstring). ``saved`` is a checkpoint the officer
    kept; ``saved_public_key`` the public key kept with it, which must be the service's key."""
    findings: list[Finding] = []

    # -- the checkpoints: signatures first, so that only valid heads are compared -----------------
    heads: list[tuple[signing.Checkpoint, int, str, dict[str, Any]]] = []  # (checkpoint, rank, description, about)
    stored = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.size, AuditCheckpoint.id)).scalars()
    stored_count = 0
    for record in stored:
        stored_count += 1
        try:
            cp = record.as_checkpoint()
        except (ValueError, TypeError, OverflowError):
            findings.append(_finding(_STORED, None, f"stored checkpoint #{record.id} is malformed",
                                     kind="checkpoint_malformed", **_about(None, record.id)))
            continue
        description = f"the signed checkpoint #{record.id} of {_when(cp)}"
        about = _about(cp, record.id)
        key = _key(keyring, cp.key_id)
        if key is None:
            findings.append(_finding(_STORED, None, f"{description} names the audit key {cp.key_id!r}, which the "
                                                    "key directory does not hold",
                                     kind="checkpoint_unknown_key", **about))
        elif not signing.verify_checkpoint(cp, key):
            findings.append(_finding(_STORED, None, f"{description} (size {cp.size}) has an invalid signature: "
                                                    "the checkpoint table was changed",
                                     kind="checkpoint_signature", **about))
        else:
            heads.append((cp, _STORED, description, about))
    if saved is not None:
        description = f"the saved checkpoint of {_when(saved)}"
        about = _about(saved, None)
        key = _key(keyring, saved.key_id)
        if key is None:
            findings.append(_finding(_SAVED_FILE, None, f"{description} names the audit key {saved.key_id!r}, which "
                                                        "the service's key directory does not hold",
                                     kind="checkpoint_unknown_key", **about))
        elif saved_public_key is not None and not hmac.compare_digest(_raw(saved_public_key), _raw(key)):
            findings.append(_finding(_SAVED_FILE, None, f"{description} carries a public key that is not the "
                                                        f"service's audit key {saved.key_id!r}",
                                     kind="checkpoint_wrong_key", **about))
        elif not signing.verify_checkpoint(saved, key):
            findings.append(_finding(_SAVED_FILE, None, f"{description} has an invalid signature: the file was "
                                                        "changed or not made by this service",
                                     kind="checkpoint_signature", **about))
        else:
            heads.append((saved, _SAVED, description, about))
    wanted_sizes = {cp.size for cp, _, _, _ in heads}

    # -- the entries ------------------------------------------------------------------------------
    frontier = _Frontier()
    roots: dict[int, bytes] = {0: EMPTY_ROOT} if 0 in wanted_sizes else {}
    first_entry_problem: Finding | None = None
    changed: tuple[int, dict[str, Any], bytes] | None = None  # first changed entry: seq, values, stored leaf
    later: dict[int, bytes] = {}  # stored leaves after it, to tell a move from a change
    for row in _entry_rows(session):
        values = dict(row._mapping)
        stored_leaf = bytes(values.pop("leaf_hash") or b"")
        position = frontier.size + 1
        seq = values["seq"]
        recomputed = leaf_hash(canonical_bytes(values))
        frontier.append(recomputed)
        if frontier.size in wanted_sizes:
            roots[frontier.size] = frontier.root()
        if changed is not None:
            if seq <= changed[0] + MOVE_WINDOW:
                later[seq] = stored_leaf
            continue
        if first_entry_problem is not None:
            continue
        if seq > position:
            missing = f"entry {position} is missing" if seq == position + 1 else \
                f"entries {position} to {seq - 1} are missing"
            first_entry_problem = _finding(_ENTRY, position, missing, None, kind="missing",
                                           missing_to=seq - 1)
        elif seq < position:
            first_entry_problem = _finding(_ENTRY, position, f"entries out of order at {position}",
                                           kind="out_of_order")
        elif not hmac.compare_digest(recomputed, stored_leaf):
            changed = (seq, values, stored_leaf)
    if changed is not None:
        seq, values, stored_leaf = changed
        moved = _moved_from(values, stored_leaf, seq, later)
        reason = (f"entries out of order at {seq}: entry {seq} holds what was entry {moved}" if moved is not None
                  else f"entry {seq} was changed")
        first_entry_problem = _finding(_ENTRY, seq, reason, kind="changed" if moved is None else "moved",
                                       moved_from=moved)
    if first_entry_problem is not None:
        findings.append(first_entry_problem)
    count = frontier.size
    root = frontier.root()

    # -- the heads against the recomputed tree ----------------------------------------------------
    matching: list[int] = []
    mismatching: list[tuple[signing.Checkpoint, int, str, dict[str, Any]]] = []
    for cp, rank, description, about in heads:
        if cp.size > count:
            findings.append(_finding(rank, count + 1, f"the log was cut: it has {count} entries but {description} "
                                                      f"covers {cp.size}", cp.size, kind="cut", **about))
        elif hmac.compare_digest(roots[cp.size], cp.root_hash):
            matching.append(cp.size)
        else:
            mismatching.append((cp, rank, description, about))
    for cp, rank, description, about in sorted(mismatching, key=lambda item: (item[0].size, item[1])):
        good = max((size for size in matching if size < cp.size), default=0)
        first = good + 1
        which = f"entry {first}" if first == cp.size else f"one of the entries {first} to {cp.size}"
        findings.append(_finding(rank, first, f"{which} was changed, removed or reordered: the log does not match "
                                              f"{description} (size {cp.size})", cp.size, kind="mismatch", **about))
    return Verification(
        entries=count,
        root_hash=root,
        checkpoints_checked=len(matching),
        first_problem=min(findings) if findings else None,
        saved=saved if saved is not None and any(rank == _SAVED for _, rank, _, _ in heads) else None,
    )
