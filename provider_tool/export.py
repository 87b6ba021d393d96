"""The provider's export: CSV, XLSX or JSON, with a BSN and the consent on every record.

The columns are those of ``ttp records template`` (the API's CSV form) with ``bsn`` instead of
``pseudonym``, no ``consent_id`` (the TTP gives it when the consent is registered), and the consent
columns ``consent_ref, given_by, age_at_consent, given_at, valid_until``. ``ttp records template
--for-submit`` prints the header and an example row. An ``.xlsx`` holds the same columns on its first
sheet (header in row 1); a ``.json`` export is ``{"records": [...]}`` (or a bare list) of records in the
API's JSON form with ``bsn`` and the consent fields beside the record's own.

Nothing here ever puts a BSN into a message: a problem names the line and the column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from app.records.schemas import (
    CSV_COLUMNS,
    CSV_REQUIRED_COLUMNS,
    EXAMPLE_RECORDS,
    CsvFormatError,
    csv_columns,
    parse_csv,
)

BSN_COLUMN = "bsn"
CONSENT_COLUMNS = ("consent_ref", "given_by", "age_at_consent", "given_at", "valid_until")
#: Columns of the API's form that the export must not carry: the TTP makes them (or the tool does).
SERVER_COLUMNS = ("pseudonym", "consent_id")
RECORD_COLUMNS: tuple[str, ...] = tuple(c for c in CSV_COLUMNS if c not in SERVER_COLUMNS)
EXPORT_COLUMNS: tuple[str, ...] = (
    RECORD_COLUMNS[:2] + (BSN_COLUMN,) + CONSENT_COLUMNS + RECORD_COLUMNS[2:]
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    tuple(c for c in CSV_REQUIRED_COLUMNS if c not in SERVER_COLUMNS)
    + (BSN_COLUMN, "consent_ref", "given_by", "age_at_consent", "given_at")
)
#: Stand-ins while the record part of a row is read with the API's own CSV reader.
_PSEUDONYM_STAND_IN, _CONSENT_STAND_IN = "p1.v1.stand-in", "cns-stand-in"


class ExportError(ValueError):
    """The export as a whole cannot be read (format, header); the message names the culprit."""


@dataclass
class ExportRow:
    """One record of the export: where it is, its BSN, its consent fields and the record itself."""

    line: int  # CSV: the file's line; XLSX: the sheet's row; JSON: the record's position (1-based)
    bsn: str
    consent: dict[str, Any]
    record: dict[str, Any]  # the API's JSON form without pseudonym and consent_id

    def __repr__(self) -> str:  # never show the BSN, not even in a traceback
        return f"ExportRow(line={self.line}, record_id={self.record.get('record_id')!r})"


@dataclass
class Export:
    path: Path
    kind: str  # csv | xlsx | json
    unit: str  # what ``line`` counts: "line", "row" or "record"
    rows: list[ExportRow] = field(default_factory=list)


def read_export(path: Path) -> Export:
    """Read a CSV, XLSX or JSON export (by its suffix); raises :class:`ExportError`."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            return Export(path, "xlsx", "row", _from_table(*_xlsx_table(path)))
        if suffix == ".json":
            return Export(path, "json", "record", _from_json(path.read_bytes()))
        return Export(path, "csv", "line", _from_table(*_csv_table(path.read_bytes())))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ExportError(f"{path}: is a directory") from None


def template(framework: str = "jeugdhulp") -> str:
    """The export's CSV header and one example row (for ``ttp records template --for-submit``)."""
    example = {k: v for k, v in EXAMPLE_RECORDS[framework].items() if k not in SERVER_COLUMNS}
    record_columns = set(csv_columns(framework))
    columns = [c for c in EXPORT_COLUMNS if c in record_columns or c == BSN_COLUMN or c in CONSENT_COLUMNS]
    values = {**_flatten(example), BSN_COLUMN: "111222333", "consent_ref": "dossier-2025-0042",
              "given_by": "youth_and_parents", "age_at_consent": "13", "given_at": "2025-01-06", "valid_until": ""}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow(["" if values.get(c) is None else str(values[c]) for c in columns])
    return buffer.getvalue()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


# -- tables (CSV, XLSX) ----------------------------------------------------------------------------


def _csv_table(raw: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportError("the export is not UTF-8 text (save it as 'CSV UTF-8')") from None
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise ExportError("the export is empty: its first line must be the header")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        header = next(reader)
        for cells in reader:
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ExportError(f"line {reader.line_num} cannot be read: {exc}") from None
    return header, rows


def _xlsx_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ExportError(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0]
        table = [(number, [_xlsx_cell(v) for v in values])
                 for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()
    if not table or not any(table[0][1]):
        raise ExportError("the first sheet is empty: its first row must be the header")
    header = list(table[0][1])
    while header and not header[-1].strip():  # a sheet's used range often runs past the last column
        header.pop()
    return header, table[1:]


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_header(header: Sequence[str]) -> list[str]:
    names = [name.strip() for name in header]
    known = set(EXPORT_COLUMNS)
    seen: set[str] = set()
    for name in names:
        if name in SERVER_COLUMNS:
            hint = "use the column bsn: the tool makes the pseudonym" if name == "pseudonym" else \
                "leave it out: the TTP gives the consent_id when the consent is registered"
            raise ExportError(f"column {name!r} does not belong in the export ({hint})")
        if name not in known:
            shown = name if len(name) <= 60 and name.isprintable() else "(a long or unprintable name)"
            raise ExportError(f"unknown column {shown!r} in the header "
                              "(`ttp records template --for-submit` shows the columns)")
        if name in seen:
            raise ExportError(f"column {name!r} appears more than once in the header")
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            raise ExportError(f"column {name!r} is missing from the header")
    return names


def _from_table(header: Sequence[str], rows: Iterable[tuple[int, list[str]]]) -> list[ExportRow]:
    names = _check_header(header)
    record_names = [n for n in names if n in RECORD_COLUMNS]
    kept: list[tuple[int, dict[str, str]]] = []
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(names) and any(cell.strip() for cell in cells[len(names):]):
            raise ExportError(f"line {line} has {len(cells)} cells but the header has {len(names)} columns")
        kept.append((line, {n: c.strip() for n, c in zip(names, cells, strict=False)}))
    # The record part is read by the API's own CSV reader (same number, code and list rules).
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*record_names, *SERVER_COLUMNS])
    for _, named in kept:
        writer.writerow([*(named.get(n, "") for n in record_names), _PSEUDONYM_STAND_IN, _CONSENT_STAND_IN])
    try:
        records = parse_csv(buffer.getvalue()) if kept else []
    except CsvFormatError as exc:  # the header was checked above; a row cannot fail here
        raise ExportError(str(exc)) from None
    out: list[ExportRow] = []
    for (line, named), record in zip(kept, records, strict=True):
        for name in SERVER_COLUMNS:
            record.pop(name, None)
        out.append(ExportRow(line=line, bsn=named.get(BSN_COLUMN, ""),
                             consent={c: named.get(c, "") for c in CONSENT_COLUMNS}, record=record))
    return out


# -- JSON -----------------------------------------------------------------------------------------


def _from_json(raw: bytes) -> list[ExportRow]:
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ExportError("the export is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ExportError(f"the export is not valid JSON{where}") from None
    items = document.get("records") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ExportError('the JSON export must be {"records": [...]} or a list of records')
    out: list[ExportRow] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ExportError(f"record {position} is not an object")
        record = dict(item)
        for name in SERVER_COLUMNS:
            if name in record:
                raise ExportError(f"record {position}: field {name!r} does not belong in the export")
        bsn = record.pop(BSN_COLUMN, "")
        consent = {c: record.pop(c, "") for c in CONSENT_COLUMNS}
        out.append(ExportRow(line=position, bsn="" if bsn is None else str(bsn), consent=consent, record=record))
    return out
