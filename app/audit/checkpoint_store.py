"""The service's checkpoints of the audit log: the Merkle tree they sign, making and storing them,
and their schedule.

A checkpoint (its format, signature and JSON form: ``app.audit.checkpoint_format``) signs the size
and RFC 9162 root of the log. The service makes one every :data:`CHECKPOINT_INTERVAL_SECONDS`
(:func:`checkpoint_loop`), and one on demand whenever a privacy officer asks for the head of the
log (``GET /v1/audit/checkpoint``) or runs ``ttp audit checkpoint``, provided the log grew since
the last one. Every checkpoint is stored in ``audit_checkpoints`` (append-only like the log
itself), so that ``ttp audit verify`` can later check the whole log against every head the
service ever signed.

The tree
--------
The tree is built from the stored ``leaf_hash`` of every entry, in ``seq`` order. Building it
reads every leaf once per process: :class:`TreeCache` keeps one :class:`MerkleTree` per database
engine and extends it with the entries appended since, so a checkpoint or a proof costs
O(new entries + log n). Before extending, the cache checks that the last leaf it holds is still
the stored one; if not (a restored or tampered database), it rebuilds from the database and logs
a warning. Which entries are honest is not the cache's business: ``ttp audit verify``
(:mod:`app.audit.verification`) recomputes every leaf from the stored fields.

Entries are numbered densely under a lock and committed in that order (``app.audit.log``), so
the committed entries are always a prefix ``1..n``; the cache takes leaves only while their
numbers are consecutive.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app import db
from app.audit import checkpoint_format as signing
from app.audit.merkle import MerkleTree
from app.crypto.keyring import Keyring
from app.models import AuditCheckpoint, AuditEntry

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger("ttp.audit")

#: How often the service signs a checkpoint when the log grew (seconds; the default of the
#: ``TTP_CHECKPOINT_INTERVAL_SECONDS`` setting).
CHECKPOINT_INTERVAL_SECONDS = 300

#: Leaves read from the database per round trip while extending the tree.
_BATCH = 5000


# ---- the tree, cached per process ---------------------------------------------------------------
class TreeCache:
    """The Merkle tree over the stored leaves of one database, extended as the log grows."""

    def __init__(self) -> None:
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    def current(self, session: Session) -> MerkleTree:
        """The tree over every entry committed so far (as ``session`` sees the log).

        Call it before appending anything in ``session``: the tree must hold committed entries only.
        The returned tree is shared; do not append to it.
        """
        with self._lock:
            tree = self._tree
            if tree.size:
                stored = session.execute(
                    select(AuditEntry.leaf_hash).where(AuditEntry.seq == tree.size)
                ).scalar_one_or_none()
                if stored is None or bytes(stored) != tree.leaf(tree.size - 1):
                    log.warning(
                        "audit log changed below the cached tree; rebuilding it from the database",
                        extra={"cached_size": tree.size},
                    )
                    tree = MerkleTree()
            while True:
                rows = session.execute(
                    select(AuditEntry.seq, AuditEntry.leaf_hash)
                    .where(AuditEntry.seq > tree.size)
                    .order_by(AuditEntry.seq)
                    .limit(_BATCH)
                ).all()
                for seq, leaf in rows:
                    if seq != tree.size + 1 or leaf is None or len(leaf) != 32:
                        log.warning("audit log has a gap or a malformed leaf at %s; the tree stops before it",
                                    tree.size + 1)
                        rows = []
                        break
                    tree.append(bytes(leaf))
                if len(rows) < _BATCH:
                    break
            self._tree = tree
            return tree


_caches: weakref.WeakKeyDictionary[Engine, TreeCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def tree_cache(engine: Engine) -> TreeCache:
    """The process's tree cache for the database behind ``engine``."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = TreeCache()
        return cache


def current_tree(session: Session) -> MerkleTree:
    """The Merkle tree of the log as committed now (see :meth:`TreeCache.current`)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return tree_cache(engine).current(session)


# ---- making and reading checkpoints -------------------------------------------------------------
def latest(session: Session) -> AuditCheckpoint | None:
    """The stored checkpoint of the largest size (the newest of that size)."""
    return session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc(), AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class MadeCheckpoint:
    record: AuditCheckpoint
    created: bool  # False: the log had not grown since the stored checkpoint returned


def make_checkpoint(session: Session, keyring: Keyring) -> MadeCheckpoint:
    """Sign and store a checkpoint of the log as committed now, unless the newest stored checkpoint
    already covers it with the active audit key. Adds to ``session`` and flushes; the caller commits.

    Call it before appending anything to the log in ``session``.
    """
    tree = current_tree(session)
    size, root = tree.size, tree.root()
    key_id, private_key = keyring.audit_signing_key()
    newest = latest(session)
    if (newest is not None and newest.size == size and bytes(newest.root_hash) == root
            and newest.key_id == key_id):
        return MadeCheckpoint(newest, created=False)
    signed = signing.sign_checkpoint(size, root, private_key, key_id)
    record = AuditCheckpoint(
        size=signed.size,
        root_hash=signed.root_hash,
        timestamp=signed.timestamp,
        key_id=signed.key_id,
        signature=signed.signature,
    )
    session.add(record)
    session.flush()
    return MadeCheckpoint(record, created=True)


def public_key(keyring: Keyring, key_id: str) -> Ed25519PublicKey:
    """The public half of the audit-signing key ``key_id`` (raises KeyringError when unknown)."""
    return keyring.audit_signing_key(key_id)[1].public_key()


def checkpoint_document(cp: signing.Checkpoint, key: Ed25519PublicKey) -> dict[str, Any]:
    """The checkpoint as JSON for an officer to keep: the ``app.audit.checkpoint_format`` JSON form plus
    the public key (raw 32 bytes in base64, and PEM) and the exact text that is signed."""
    document = signing.to_json(cp)
    document["public_key"] = base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")
    document["public_key_pem"] = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    document["signed_payload"] = signing.signed_payload(cp.size, cp.root_hash, cp.timestamp, cp.key_id).decode(
        "ascii"
    )
    return document


# ---- the schedule -------------------------------------------------------------------------------
def scheduled_checkpoint(runtime: Runtime, interval_seconds: float | None = None) -> MadeCheckpoint | None:
    """One scheduled run, once per period across every process (:func:`app.jobs.run_in_period`):
    when the log grew since the newest checkpoint, a ``job.run`` entry and then a checkpoint that
    covers it (so an idle log stays signed by one checkpoint). None when another process has the
    period, or the log did not grow."""
    from app import jobs

    interval = interval_seconds or runtime.settings.checkpoint_interval_seconds

    def sign(period: datetime) -> MadeCheckpoint | None:
        with db.session_scope(runtime.sessions) as session:
            size = current_tree(session).size
            newest = latest(session)
            if newest is not None and newest.size == size and newest.key_id == runtime.keyring.active["audit-signing"]:
                return None
            jobs.record_run(session, "audit-checkpoint", period, interval, ttp_id=runtime.settings.ttp_id,
                            log_size=size + 1)
        with db.session_scope(runtime.sessions) as session:
            return make_checkpoint(session, runtime.keyring)

    _, made = jobs.run_in_period(runtime.sessions, "audit-checkpoint", interval, sign, seconds=300)
    if made is not None and made.created:
        log.info("audit checkpoint signed", extra={"size": made.record.size, "key_id": made.record.key_id})
    return made


async def checkpoint_loop(runtime: Runtime, interval_seconds: float | None = None) -> None:
    """Sign a checkpoint at the start of every period while the log grows. Runs until cancelled;
    a failed run is logged and retried in the next period."""
    from app import jobs

    interval = interval_seconds or runtime.settings.checkpoint_interval_seconds
    while True:
        await asyncio.sleep(jobs.seconds_to_next_period(interval))
        try:
            await anyio.to_thread.run_sync(scheduled_checkpoint, runtime, interval)
        except Exception:  # the schedule must survive a failed run (e.g. database down)
            log.exception("scheduled audit checkpoint failed; retrying in the next period")


@asynccontextmanager
async def scheduled_checkpoints(
    runtime: Runtime, interval_seconds: float | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Run :func:`checkpoint_loop` for the duration of the block (the app's lifespan)."""
    task = asyncio.create_task(checkpoint_loop(runtime, interval_seconds), name="audit-checkpoints")
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
