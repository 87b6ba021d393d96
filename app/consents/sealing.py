"""Consents at rest: every date and quasi-identifier of a consent is sealed (issue 14, "a backup
reveals nothing"; security property 4).

A copy of the database (a backup, a replica, a ``pg_dump`` for support) used to show each
consent's ``given_at`` and ``valid_until`` beside its stage-2 pseudonym, age, provider and
municipalities. Now a consent row keeps in the clear only what a query needs, and everything
else is one AES-256-GCM envelope (:mod:`app.crypto.envelope`, the one records use): a data key per
change (a :class:`~app.crypto.envelope.BatchSealer` for one registration, one batch of them or one
withdrawal, never reused after), wrapped under the service's key-encryption key (``kek_id``,
``wrapped_key`` on every row it sealed); the associated data binds the ciphertext to its row
(consent id hash, provider, pseudonym, reference hash), so a sealed blob copied onto another consent
does not open, and a pseudonym swapped between rows makes both unreadable. ``ttp keys rewrap``
rewraps the data keys (the ciphertext stays); ``ttp keys retire`` refuses a KEK a consent still
uses. Ingestion opens the consents a batch names through the records' :class:`Unsealer`, which
unwraps each data key once.

Inventory (which column holds what, and what a query needs in the clear)
------------------------------------------------------------------------
``consents``
  clear, queried: ``consent_id_hash`` (a keyed hash of the consent id: lookup by id, unique; the id
  itself is sealed, so the audit entries that name a consent, a withdrawal with its instant for
  one, do not join to the pseudonym in a copy), ``provider_id`` (every lookup is scoped
  to the provider), ``consent_ref_hash`` (keyed hash; duplicate check, unique), ``pseudonym``
  (stage 2; the same value the outcome records carry in the clear for linkage and withdrawal).
  clear, not personal: ``purpose``, ``data_categories``, ``controller``, ``recipients``,
  ``withdrawal_method`` (the same configuration text on every row).
  sealed (no query reads them; validity is checked in Python, exactly, after opening):
  the consent id, ``given_by`` (reveals the age band), ``age_at_consent``, ``municipalities``,
  ``given_at``, ``valid_until``, ``created_at``, and the events (given, withdrawn, with their instants and end
  dates; the former ``consent_events`` table and ``withdrawn_at`` column). No retention or index
  works on them, so nothing coarse is kept beside them.
``outcome_records``
  clear: ``pseudonym`` (linkage: ``WHERE pseudonym IN``), ``settle_month`` and ``purge_month``
  (month only, ``YYYY-MM``: the settling and retention queries compare them; a month is what a
  copy can learn of a trajectory's end, the retention term before ``purge_month``), ``record_id``,
  ``consent_pk``, ``batch_pk``; everything else sealed per record since issue 4.
``record_batches``: ``received_at`` (when a provider uploaded a batch; through ``batch_pk`` it
  joins its records' pseudonyms, but it is the service's instant, no date of a person's care).
``report_cells``, ``releases``, ``provider_notes``, ``process_contexts``, ``store_state``: figures
  and text per municipality, provider and period; no pseudonym.
``audit_entries``: instants of actions with their resource (a consent by its id, which the
  consents table keeps only as a keyed hash; a record by its record id, whose row is gone once it
  is retracted).
``clients``, ``client_auth_failures``, ``client_assertion_uses``, ``job_leases``, ``user_accounts``,
``web_sessions``: organisations and staff, no pseudonym (the TOTP secret is sealed already).
"""

from __future__ import annotations

import json
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

from app.crypto.envelope import BatchSealer, Kek, Unsealer, WrappedKey, rewrap

__all__ = ["ConsentKeys", "Event", "OpenedConsents", "SealedFields", "consent_aad", "new_sealer", "open_fields",
           "rewrap_key", "seal_onto"]

_AAD_TAG = b"outcome-ttp/consent-aad/v1"
_U32 = struct.Struct(">I")
FORMAT = 1


class ConsentKeys(Protocol):
    """The keys sealing needs; :class:`app.records.vault.RecordVault` is one (its unsealer keeps
    the data keys it unwrapped, so the consents of one registration batch cost one unwrap)."""

    @property
    def active_kek(self) -> Kek: ...

    @property
    def unsealer(self) -> Unsealer: ...

    @property
    def opened(self) -> OpenedConsents: ...


@dataclass(frozen=True)
class Event:
    type: str  # given | renewed | withdrawn | expired
    at: datetime
    valid_until: date | None = None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class SealedFields:
    """What a consent row holds sealed. Stored as a compact JSON array (it is opened for every
    consent a record batch names, so parsing is kept short)."""

    consent_id: str
    given_by: str
    age_at_consent: int
    municipalities: tuple[str, ...]
    given_at: date
    valid_until: date | None
    created_at: datetime
    events: tuple[Event, ...] = field(default=())

    @property
    def withdrawn_at(self) -> datetime | None:
        instants = [e.at for e in self.events if e.type == "withdrawn"]
        return min(instants) if instants else None

    def with_event(self, event: Event) -> SealedFields:
        return replace(self, events=(*self.events, event))

    def to_json(self) -> bytes:
        return json.dumps([
            FORMAT, self.consent_id, self.given_by, self.age_at_consent, list(self.municipalities),
            self.given_at.isoformat(),
            self.valid_until.isoformat() if self.valid_until else None, _aware(self.created_at).isoformat(),
            [[e.type, _aware(e.at).isoformat(), e.valid_until.isoformat() if e.valid_until else None]
             for e in self.events],
        ], separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> SealedFields:
        raw: list[Any] = json.loads(data)
        if raw[0] != FORMAT:
            raise ValueError(f"unknown sealed consent format {raw[0]!r}")
        _, consent_id, given_by, age, municipalities, given_at, valid_until, created_at, events = raw
        return cls(
            consent_id=consent_id, given_by=given_by, age_at_consent=int(age), municipalities=tuple(municipalities),
            given_at=date.fromisoformat(given_at), valid_until=_day(valid_until),
            created_at=datetime.fromisoformat(created_at),
            events=tuple(Event(type=t, at=datetime.fromisoformat(at), valid_until=_day(vu)) for t, at, vu in events),
        )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def consent_aad(consent_id_hash: str, provider_id: str, pseudonym: str, consent_ref_hash: str) -> bytes:
    """Binds a sealed consent to its row: domain tag, then each value as 4-byte length || UTF-8."""
    parts = [_AAD_TAG]
    for value in (consent_id_hash, provider_id, pseudonym, consent_ref_hash):
        encoded = value.encode("utf-8")
        parts += [_U32.pack(len(encoded)), encoded]
    return b"".join(parts)


def _row_aad(row: Any) -> bytes:
    return consent_aad(row.consent_id_hash, row.provider_id, row.pseudonym, row.consent_ref_hash)


def new_sealer(kek: Kek) -> BatchSealer:
    """A sealer (a fresh data key) for the consents of one change: a registration, a batch of them,
    a withdrawal. Used for that change only, like a record batch's, so its counter nonces never repeat."""
    return BatchSealer(kek)


def seal_onto(row: Any, sealer: BatchSealer, fields: SealedFields) -> None:
    """Set ``row.kek_id``, ``row.wrapped_key`` and ``row.sealed`` (``row`` has the four bound columns)."""
    row.kek_id, row.wrapped_key = sealer.wrapped_key.kek_id, sealer.wrapped_key.blob
    row.sealed = sealer.seal(fields.to_json(), _row_aad(row))


def open_fields(unsealer: Unsealer, row: Any, opened: OpenedConsents | None = None) -> SealedFields:
    """The sealed fields of a consent row (an ORM object or a plain row with the sealed columns).
    Raises :class:`app.crypto.envelope.UnknownKek` or :class:`~app.crypto.envelope.DecryptionFailed`.
    With ``opened``, a row whose bound columns and ciphertext this process opened or sealed before
    is not opened again (see :class:`OpenedConsents`)."""
    if opened is None:
        return _open(unsealer, row)
    return opened.entry(row, unsealer).fields


def _open(unsealer: Unsealer, row: Any) -> SealedFields:
    wrapped = WrappedKey(kek_id=row.kek_id, blob=bytes(row.wrapped_key))
    return SealedFields.from_json(unsealer.open(wrapped, bytes(row.sealed), _row_aad(row)))


class OpenedEntry:
    """One opened consent: its sealed fields and, once a coverage check built it, its model."""

    __slots__ = ("fields", "kek", "model")

    def __init__(self, fields: SealedFields, kek: Kek) -> None:
        self.fields = fields
        self.kek = kek  # the key-encryption key it was opened (or sealed) under
        #: (the clear columns it was built with, the model), replaced as a whole (threads)
        self.model: tuple[tuple[str, str], Any] | None = None


class OpenedConsents:
    """The consents this process opened or sealed lately, so that a batch of records does not open
    again what its consent registration just sealed (``ttp submit`` registers a batch's consents and
    then sends its records; a provider resends corrected records under the same consents).

    An entry is found by everything that binds the sealed blob to its row (the associated data:
    consent id hash, provider, pseudonym, reference hash) together with the wrapped data key and
    the ciphertext themselves: a row with any of them changed (a withdrawal reseals under a new data
    key, ``ttp keys rewrap`` rewraps, a blob copied onto another row) is opened again, and then
    fails as it would have. An entry is used only while the unsealer holds the very key-encryption
    key it was opened under (an unknown KEK fails as opening does). Bounded (least recently used
    out); the plaintext never leaves the process, as with every record a batch opens. Safe to share
    between threads."""

    def __init__(self, size: int = 32_768) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        self._entries: OrderedDict[tuple[Any, ...], OpenedEntry] = OrderedDict()
        self._lock = threading.Lock()
        #: How many rows were opened because no entry was kept for them.
        self.opens = 0

    @staticmethod
    def key(row: Any) -> tuple[Any, ...]:
        return (row.consent_id_hash, row.provider_id, row.pseudonym, row.consent_ref_hash, row.kek_id,
                bytes(row.wrapped_key), bytes(row.sealed))

    def get(self, key: tuple[Any, ...], unsealer: Unsealer) -> OpenedEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        return entry if unsealer.holds(entry.kek) else None

    def put(self, key: tuple[Any, ...], fields: SealedFields, kek: Kek) -> OpenedEntry:
        entry = OpenedEntry(fields, kek)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def entry(self, row: Any, unsealer: Unsealer) -> OpenedEntry:
        """The row's entry, opening the row when this process has not (raises as opening does)."""
        key = self.key(row)
        found = self.get(key, unsealer)
        if found is not None:
            return found
        kek = unsealer.kek(row.kek_id)  # raises for an unknown KEK, as opening does
        fields = _open(unsealer, row)  # raises for a blob that is not this row's
        with self._lock:
            self.opens += 1
        if not unsealer.holds(kek):  # the KEK was replaced meanwhile: not kept under the old one
            return OpenedEntry(fields, kek)
        return self.put(key, fields, kek)

    def remember(self, row: Any, fields: SealedFields, kek: Kek, unsealer: Unsealer) -> None:
        """Keep what :func:`seal_onto` just sealed onto ``row`` with a data key wrapped under ``kek``
        (kept only while the unsealer holds that very KEK under the row's KEK id)."""
        if kek.key_id == row.kek_id and unsealer.holds(kek):
            self.put(self.key(row), fields, kek)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def rewrap_key(keks: Mapping[str, Kek], new_kek: Kek, kek_id: str, wrapped_key: bytes) -> tuple[str, bytes]:
    """The consent's data key wrapped under ``new_kek`` (``ttp keys rewrap``); the ciphertext stays."""
    new = rewrap(WrappedKey(kek_id=kek_id, blob=bytes(wrapped_key)), keks, new_kek)
    return new.kek_id, new.blob
