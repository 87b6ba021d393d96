"""Record ingestion: validate, pseudonymise, check consent, seal, store, and count — atomically.

Every change to stored records (a batch, a retraction, a withdrawal, retention, linkage settling)
goes through :func:`_change`: it opens the records of every person the change touches, computes
their report-cell contributions before and after, and applies the difference to the aggregate
store in the same transaction. Linkage indicators ("geen nieuwe start", "herhaald beroep") are
part of a person's contributions, so a late record turns the earlier trajectory's value at once.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from app import aggregate_store
from app.aggregate_store import StoreKey
from app.consents.registry import ConsentBook
from app.models import OutcomeRecord, RecordBatch
from app.privacy.configuration import PrivacyConfiguration
from app.pseudonyms import InvalidPseudonym, TtpPseudonymiser
from app.records import indicators
from app.records.contributions import base_contributions, linkage_group, linkage_values, with_linked
from app.records.schemas import MAX_BATCH_RECORDS, Record, validate_records
from app.records.vault import FORMAT_VERSION, RecordVault

_INGEST_LOCK_KEY = 4242


class BatchRejected(Exception):
    """The batch is refused as a whole; nothing was stored."""

    def __init__(self, status: int, kind: str, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors


class RecordNotFound(Exception):
    pass


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    accepted: int
    replaced: int
    #: The batch's own records per (municipality, quarter, indicator): value -> count (see :func:`receipt`).
    receipt: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)


#: Indicators whose value depends on other trajectories (other providers' records too): never in a receipt.
LINKED_INDICATORS = frozenset({"3.2", "jbjr.repeat"})


def receipt(records: Iterable[Record], config: indicators.IndicatorConfig) -> dict[tuple[str, str, str], Counter[str]]:
    """What a provider's own records count in, per municipality, quarter and indicator, from these
    records alone: nothing derived from other providers' data (the linkage indicators) is in it."""
    return _receipt([base_contributions(PROVIDER_PLACEHOLDER, record, config=config) for record in records])


def _receipt(cells_per_record: Iterable[list[StoreKey]]) -> dict[tuple[str, str, str], Counter[str]]:
    out: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for cells in cells_per_record:
        for item in cells:
            if item.indicator not in LINKED_INDICATORS:
                out[(item.municipality, item.period, item.indicator)][item.value] += 1
    return dict(sorted(out.items()))


PROVIDER_PLACEHOLDER = "-"


@dataclass
class Stored:
    """One record as the change sees it: its row (None when new) and its opened content."""

    provider_id: str
    record_id: str
    pseudonym: str
    record: Record
    row_id: int | None = None
    settle_month: str | None = None


@dataclass
class Context:
    """What ingestion needs from the running service."""

    vault: RecordVault
    pseudonymiser: TtpPseudonymiser
    configuration: PrivacyConfiguration
    indicator_config: indicators.IndicatorConfig = field(init=False)

    def __post_init__(self) -> None:
        self.indicator_config = indicators.IndicatorConfig(
            rom_instruments=self.vault.rom_instruments,
            satisfaction_cutoff=self.configuration.indicators.satisfaction_cutoff,
            new_start_window_months=self.configuration.linkage.new_start_window_months,
        )

    @property
    def window_months(self) -> int:
        return self.configuration.linkage.new_start_window_months


def today() -> date:
    return datetime.now(UTC).date()


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


# ---- locking ----------------------------------------------------------------
def lock(session: Session) -> bool:
    """Serialise changes to records and counts (SQLite serialises writers by itself: its
    transactions begin with the write lock). True when a lock was taken here (PostgreSQL): what
    was read before it may have changed since."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _INGEST_LOCK_KEY})
        return True
    return False


# ---- opening records ----------------------------------------------------------------------------------
def _open_rows(session: Session, ctx: Context, condition: Any) -> list[Stored]:
    # Plain rows of the columns opening needs, not ORM objects (a change opens thousands).
    rows = session.execute(
        select(OutcomeRecord.id, OutcomeRecord.provider_id, OutcomeRecord.record_id, OutcomeRecord.pseudonym,
               OutcomeRecord.format_version, OutcomeRecord.ciphertext, OutcomeRecord.settle_month,
               RecordBatch.kek_id, RecordBatch.wrapped_key)
        .join(RecordBatch, RecordBatch.id == OutcomeRecord.batch_pk)
        .where(condition)
    ).all()
    out = []
    # Unpacked, not read by attribute: a row answers each attribute through a Python-level look-up.
    for row_id, provider_id, record_id, pseudonym, format_version, ciphertext, settle_month, kek_id, wrapped in rows:
        payload = ctx.vault.open_payload(
            provider_id=provider_id, record_id=record_id, format_version=format_version,
            kek_id=kek_id, wrapped_key=wrapped, ciphertext=ciphertext,
        )
        out.append(Stored(provider_id, record_id, pseudonym, ctx.vault.record(payload, pseudonym),
                          row_id=row_id, settle_month=settle_month))
    return out


def _people(session: Session, ctx: Context, pseudonyms: Iterable[str]) -> list[Stored]:
    wanted = sorted(set(pseudonyms))
    out: list[Stored] = []
    for start in range(0, len(wanted), 900):
        out.extend(_open_rows(session, ctx, OutcomeRecord.pseudonym.in_(wanted[start:start + 900])))
    return out


# ---- contributions -----------------------------------------------------------------------------------
#: Cells of records as derived (linkage pending), by ``id`` of the record, which the entry keeps alive.
CellCache = dict[int, tuple[Record, list[StoreKey]]]


def _base_cells(item: Stored, ctx: Context, cache: CellCache) -> list[StoreKey]:
    hit = cache.get(id(item.record))
    if hit is not None and hit[0] is item.record:
        return hit[1]
    cells = base_contributions(item.provider_id, item.record, config=ctx.indicator_config)
    cache[id(item.record)] = (item.record, cells)
    return cells


def _person_cells(items: Sequence[Stored], ctx: Context, as_of: date,
                  cache: CellCache | None = None) -> tuple[Counter[StoreKey], dict[int, str | None]]:
    """Cells of a set of records (whole persons), and each item's settle month (by position).
    ``cache`` keeps each record's derived cells across calls (before and after a change)."""
    cache = {} if cache is None else cache
    cells: Counter[StoreKey] = Counter()
    settle: dict[int, str | None] = {}
    by_person: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        by_person[(item.pseudonym, linkage_group(item.record))].append(position)
    for positions in by_person.values():
        for position in positions:
            item = items[position]
            if item.record.end_date is None:  # an ongoing trajectory counts nowhere and never settles
                settle[position] = None
                continue
            others = [items[p].record.start_date for p in positions if p != position]
            linked = linkage_values(item.record, others, as_of=as_of, window_months=ctx.window_months)
            cells.update(with_linked(_base_cells(item, ctx, cache), linked))
            pending = "pending" in linked.values()
            if pending:
                window_end = indicators.follow_up_window(item.record.end_date, ctx.window_months)[1]
                settle[position] = _month(window_end + timedelta(days=1))
            else:
                settle[position] = None
    return cells, settle


def _purge_month(record: Record, configuration: PrivacyConfiguration) -> str | None:
    if record.end_date is None:
        return None
    return _month(indicators.add_months(record.end_date, configuration.retention.records_months))


def _change(
    session: Session,
    ctx: Context,
    pseudonyms: Iterable[str],
    mutate: Callable[[list[Stored]], list[Stored]],
    *,
    as_of: date,
    cache: CellCache | None = None,
) -> tuple[list[Stored], dict[int, str | None]]:
    """Open the touched people, apply ``mutate`` to their records, and add the count difference.

    Returns the records after the change and their settle months (by position); the caller
    writes the rows. ``cache`` receives every record's derived cells (see :func:`_person_cells`).
    """
    cache = {} if cache is None else cache
    before = _people(session, ctx, pseudonyms)
    before_cells, _ = _person_cells(before, ctx, as_of, cache)
    after = mutate(list(before))
    after_cells, settle = _person_cells(after, ctx, as_of, cache)
    delta = Counter(after_cells)
    delta.subtract(before_cells)
    aggregate_store.apply(session, delta)
    # Keep the settle month of the records that stay in step with their (maybe changed) linkage.
    for position, item in enumerate(after):
        if item.row_id is not None and settle[position] != item.settle_month:
            session.execute(update(OutcomeRecord).where(OutcomeRecord.id == item.row_id)
                            .values(settle_month=settle[position]))
    return after, settle


def settle(session: Session, ctx: Context, *, as_of: date | None = None) -> int:
    """Let pending linkage indicators turn once their window has passed; returns rows looked at.

    Runs at most once per day (the store remembers the date it last settled to), before any
    other change, so every change computes 'before' with the same date as the stored counts.
    """
    as_of = as_of or today()
    last = aggregate_store.linkage_as_of(session)
    if last is not None and last >= as_of:
        return 0
    due = session.execute(
        select(OutcomeRecord.pseudonym).where(OutcomeRecord.settle_month.is_not(None),
                                              OutcomeRecord.settle_month <= _month(as_of)).distinct()
    ).scalars().all()
    if due and last is not None:
        people = _people(session, ctx, due)
        cache: CellCache = {}
        old_cells, _ = _person_cells(people, ctx, last, cache)
        new_cells, settle_months = _person_cells(people, ctx, as_of, cache)
        delta = Counter(new_cells)
        delta.subtract(old_cells)
        aggregate_store.apply(session, delta)
        for position, item in enumerate(people):
            if settle_months[position] != item.settle_month:
                session.execute(update(OutcomeRecord).where(OutcomeRecord.id == item.row_id)
                                .values(settle_month=settle_months[position]))
    aggregate_store.set_linkage_as_of(session, as_of)
    return len(due)


# ---- batches -------------------------------------------------------------------------------------
def ingest_batch(session: Session, ctx: Context, *, provider_id: str, items: Sequence[Any]) -> BatchResult:
    """Store a batch atomically or raise :class:`BatchRejected` with every problem."""
    if not items:
        raise BatchRejected(400, "invalid-input", "the batch holds no records",
                            [{"field": "records", "reason": "must hold at least one record"}])
    if len(items) > MAX_BATCH_RECORDS:
        raise BatchRejected(413, "batch-too-large", f"a batch holds at most {MAX_BATCH_RECORDS} records; split it",
                            [{"field": "records", "reason": f"{len(items)} records; at most {MAX_BATCH_RECORDS}"}])
    day = today()
    records, record_errors = validate_records(items, today=day, rom_instruments=ctx.vault.rom_instruments)
    errors = [e.as_dict() for e in record_errors]
    stage2: list[str] = []
    if not errors:
        for index, record in enumerate(records):
            try:
                stage2.append(ctx.pseudonymiser.stage2(record.pseudonym))
            except InvalidPseudonym as exc:
                errors.append({"index": index, "field": "pseudonym", "reason": exc.reason})
    else:
        bad = {e["index"] for e in errors}
        for index, item in enumerate(items):
            value = item.get("pseudonym") if isinstance(item, dict) else None
            if index not in bad and isinstance(value, str):
                try:
                    ctx.pseudonymiser.stage2(value)
                except InvalidPseudonym as exc:
                    errors.append({"index": index, "field": "pseudonym", "reason": exc.reason})
    if errors:
        errors.sort(key=lambda e: (e.get("index", -1), e.get("field", "")))
        bad_records = len({e.get("index") for e in errors})
        raise BatchRejected(400, "invalid-input",
                            f"{bad_records} of {len(items)} records are invalid; nothing was stored", errors)

    # What depends on the records alone is done before the lock, so that API processes overlap it
    # (on PostgreSQL the lock serialises every change across processes): sealing each record, each
    # record's cells as derived, and opening the batch's consents (read again under the lock, where
    # only those that changed meanwhile are opened again).
    sealer = ctx.vault.sealer()
    ciphertexts = [ctx.vault.seal(sealer, provider_id, record.record_id, ctx.vault.payload(record))
                   for record in records]
    incoming = [Stored(provider_id, r.record_id, p, r) for r, p in zip(records, stage2, strict=True)]
    cache: CellCache = {}
    for item in incoming:
        _base_cells(item, ctx, cache)
    book = ConsentBook(session, provider_id, {r.consent_id for r in records}, ctx.vault, ctx.pseudonymiser)

    if lock(session):
        book.refresh(session)
    refused = []
    for index, (record, pseudonym) in enumerate(zip(records, stage2, strict=True)):
        problem = book.why_not(consent_id=record.consent_id, pseudonym=pseudonym, municipality=record.municipality,
                               at=day)
        if problem:
            refused.append((index, *problem))
    if refused:
        kinds = {kind for _, kind, _ in refused}
        kind = "consent-withdrawn" if "consent-withdrawn" in kinds else refused[0][1]
        raise BatchRejected(
            409, kind, f"{len(refused)} of {len(records)} records have no consent that covers them; nothing was stored",
            [{"index": i, "field": "consent_id", "reason": reason} for i, _, reason in refused],
        )

    settle(session, ctx, as_of=day)
    existing = {
        row.record_id: row
        for start in range(0, len(records), 900)
        for row in session.execute(
            select(OutcomeRecord.id, OutcomeRecord.record_id, OutcomeRecord.pseudonym).where(
                OutcomeRecord.provider_id == provider_id,
                OutcomeRecord.record_id.in_([r.record_id for r in records[start:start + 900]]),
            )
        ).all()
    }
    replaced_ids = {row.id for row in existing.values()}
    touched = set(stage2) | {row.pseudonym for row in existing.values()}

    def mutate(people: list[Stored]) -> list[Stored]:
        return [s for s in people if s.row_id not in replaced_ids] + incoming

    after, settle_months = _change(session, ctx, touched, mutate, as_of=day, cache=cache)
    settle_of = {id(item): settle_months[position] for position, item in enumerate(after)}

    batch = RecordBatch(
        batch_id="bat-" + secrets.token_urlsafe(12), provider_id=provider_id, kek_id=sealer.wrapped_key.kek_id,
        wrapped_key=sealer.wrapped_key.blob, received_at=datetime.now(UTC), accepted=len(records),
        replaced=len(replaced_ids),
    )
    session.add(batch)
    session.flush()
    if replaced_ids:
        ids = sorted(replaced_ids)
        for start in range(0, len(ids), 900):
            session.execute(delete(OutcomeRecord).where(OutcomeRecord.id.in_(ids[start:start + 900])))
    consent_pk = {cid: book.row(cid).id for cid in {r.consent_id for r in records}}
    _insert_records(session, [
        (provider_id, item.record_id, item.pseudonym, consent_pk[item.record.consent_id], batch.id, FORMAT_VERSION,
         ciphertext, settle_of[id(item)], _purge_month(item.record, ctx.configuration))
        for item, ciphertext in zip(incoming, ciphertexts, strict=True)
    ])
    return BatchResult(batch_id=batch.batch_id, accepted=len(records), replaced=len(replaced_ids),
                       receipt=_receipt([_base_cells(item, ctx, cache) for item in incoming]))


_RECORD_COLUMNS = ("provider_id", "record_id", "pseudonym", "consent_pk", "batch_pk", "format_version", "ciphertext",
                   "settle_month", "purge_month")


def _insert_records(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert a batch's record rows (values in ``_RECORD_COLUMNS`` order).

    On SQLite one DB-API ``executemany`` of a fixed statement: SQLAlchemy's ``insert()`` with a
    list of dicts compiles and binds every row in Python (about 15 µs a record, more than SQLite's
    own work). PostgreSQL keeps SQLAlchemy's multi-row VALUES (one round trip per thousand rows
    instead of one per row)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"INSERT INTO outcome_records ({', '.join(_RECORD_COLUMNS)}) "  # noqa: S608 - fixed column names
            f"VALUES ({', '.join('?' * len(_RECORD_COLUMNS))})", rows)
    else:
        connection.execute(insert(OutcomeRecord), [dict(zip(_RECORD_COLUMNS, row, strict=True)) for row in rows])


def _remove(session: Session, ctx: Context, condition: Any) -> int:
    """Remove the rows matching ``condition`` and their counts (retraction, withdrawal, retention)."""
    lock(session)
    day = today()
    settle(session, ctx, as_of=day)
    targets = session.execute(select(OutcomeRecord.id, OutcomeRecord.pseudonym).where(condition)).all()
    if not targets:
        return 0
    ids = {t.id for t in targets}
    _change(session, ctx, {t.pseudonym for t in targets},
            lambda people: [s for s in people if s.row_id not in ids], as_of=day)
    ordered = sorted(ids)
    for start in range(0, len(ordered), 900):
        session.execute(delete(OutcomeRecord).where(OutcomeRecord.id.in_(ordered[start:start + 900])))
    return len(ids)


def retract(session: Session, ctx: Context, *, provider_id: str, record_id: str) -> None:
    removed = _remove(session, ctx, (OutcomeRecord.provider_id == provider_id) & (OutcomeRecord.record_id == record_id))
    if not removed:
        raise RecordNotFound(record_id)


def purge_expired(session: Session, ctx: Context, *, as_of: date | None = None) -> int:
    """Retention: remove records whose retention month has come, and their counts."""
    month = _month(as_of or today())
    return _remove(session, ctx, OutcomeRecord.purge_month.is_not(None) & (OutcomeRecord.purge_month <= month))


def remove_person(session: Session, ctx: Context, *, provider_id: str, pseudonym: str) -> int:
    """Remove one person's records of one provider and their counts (a consent withdrawal)."""
    return _remove(session, ctx, (OutcomeRecord.provider_id == provider_id) & (OutcomeRecord.pseudonym == pseudonym))


# ---- verification ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    records: int
    cells: int
    differences: list[tuple[StoreKey, int, int]]  # (cell, stored, recomputed)

    @property
    def ok(self) -> bool:
        return not self.differences


def recompute(session: Session, ctx: Context) -> tuple[int, Counter[StoreKey]]:
    """Open every record and compute the whole aggregate store from scratch."""
    as_of = aggregate_store.linkage_as_of(session) or today()
    people = _open_rows(session, ctx, OutcomeRecord.id.is_not(None))
    cells, _ = _person_cells(people, ctx, as_of)
    return len(people), +cells


def verify(session: Session, ctx: Context) -> Verification:
    count, expected = recompute(session, ctx)
    actual = aggregate_store.stored(session)
    differences = [(key, actual.get(key, 0), expected.get(key, 0))
                   for key in sorted(set(actual) | set(expected)) if actual.get(key, 0) != expected.get(key, 0)]
    return Verification(records=count, cells=len(expected), differences=differences)


def rebuild(session: Session, ctx: Context) -> int:
    lock(session)
    _, cells = recompute(session, ctx)
    aggregate_store.replace_all(session, cells)
    return len(cells)
