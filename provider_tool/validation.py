"""Every row of the export checked on the provider's machine, with the service's own rules.

Records are validated by ``app.records.schemas.validate_records`` (the schemas the service uses),
consents by the ``consent`` library (age and who gave it, validity, municipalities), and the BSN by
its elfproef. A problem names the line and the column and never repeats a value; a BSN (or what
looks like one) in ``record_id`` or ``consent_ref`` is refused, since those leave the machine.

Rows sharing a ``consent_ref`` share one consent: they must agree on the BSN and the consent
fields, and the consent covers the municipalities of all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import consent
from app.records.schemas import CODELISTS, EARLIEST_DATE, validate_records
from provider_tool.export import CONSENT_COLUMNS, Export, ExportRow
from pseudonymisation import PseudonymKey
from pseudonymisation.bsn import InvalidBSN, looks_like_bsn
from pseudonymisation.stage1 import pseudonymise_bsn

PURPOSE = "outcome-monitoring"
LATEST_VALID_UNTIL = date(2099, 12, 31)
MAX_CONSENT_REF = 100
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_GIVEN_BY = tuple(g.value for g in consent.GivenBy)
NOT_A_BSN_PLACE = "looks like a BSN; a BSN must never leave this machine (use the column bsn)"


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    column: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass
class Prepared:
    """A valid row, pseudonymised: what is sent, and where it came from."""

    line: int
    consent_ref: str
    record: dict[str, Any]  # the API's JSON form; consent_id is filled in once the consent is registered


@dataclass(frozen=True)
class ConsentToRegister:
    consent_ref: str
    body: dict[str, Any]  # POST /v1/consents form
    lines: tuple[int, ...]


@dataclass
class Checked:
    rows: list[Prepared]
    consents: list[ConsentToRegister]
    problems: list[Problem]
    total: int


def check(export: Export, key: PseudonymKey, *, today: date) -> Checked:
    """Validate and pseudonymise every row; rows with a problem are left out (and named)."""
    problems: list[Problem] = []
    pseudonyms: dict[int, str] = {}
    consent_fields: dict[int, dict[str, Any]] = {}
    cache: dict[str, str] = {}
    for row in export.rows:
        pseudonym = _pseudonym(row, key, cache, problems)
        if pseudonym is not None:
            pseudonyms[row.line] = pseudonym
        fields = _consent_fields(row, today, problems)
        if fields is not None:
            consent_fields[row.line] = fields
        record_id = row.record.get("record_id")
        if isinstance(record_id, str) and looks_like_bsn(record_id):
            problems.append(Problem(row.line, "record_id", NOT_A_BSN_PLACE))

    items = [{**row.record, "pseudonym": pseudonyms.get(row.line, "p1.v1.stand-in"), "consent_id": "cns-stand-in"}
             for row in export.rows]
    _, record_errors = validate_records(items, today=today)
    for error in record_errors:
        problems.append(Problem(export.rows[error.index].line, error.field or "(the row)", error.reason))

    consents = _group_consents(export.rows, pseudonyms, consent_fields, problems, today)
    bad_lines = {p.line for p in problems}
    bad_refs = {c.consent_ref for c in consents if bad_lines & set(c.lines)}
    # A consent with one bad row is not registered; its other rows are refused with a pointer.
    for c in consents:
        if c.consent_ref in bad_refs:
            for line in c.lines:
                if line not in bad_lines:
                    problems.append(Problem(line, "consent_ref", "another row of this consent_ref has a problem"))
    bad_lines = {p.line for p in problems}
    rows = [
        Prepared(line=row.line, consent_ref=str(row.consent["consent_ref"]).strip(),
                 record={**row.record, "pseudonym": pseudonyms[row.line]})
        for row in export.rows if row.line not in bad_lines
    ]
    good = [c for c in consents if c.consent_ref not in bad_refs]
    return Checked(rows=rows, consents=good, problems=sorted(set(problems)), total=len(export.rows))


def _pseudonym(row: ExportRow, key: PseudonymKey, cache: dict[str, str], problems: list[Problem]) -> str | None:
    bsn = row.bsn.strip() if isinstance(row.bsn, str) else ""
    if not bsn:
        problems.append(Problem(row.line, "bsn", "is required"))
        return None
    if bsn in cache:
        return cache[bsn]
    try:
        value = pseudonymise_bsn(bsn, key)
    except InvalidBSN as exc:
        problems.append(Problem(row.line, "bsn", f"not a valid BSN: {exc.reason}"))
        return None
    cache[bsn] = value
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _date(value: Any) -> date | None:
    text = _text(value)
    if isinstance(value, date):
        return value
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a real date written YYYY-MM-DD") from None


def _consent_fields(row: ExportRow, today: date, problems: list[Problem]) -> dict[str, Any] | None:
    raw = row.consent
    start = len(problems)
    ref = _text(raw.get("consent_ref"))
    if not ref:
        problems.append(Problem(row.line, "consent_ref", "is required"))
    elif len(ref) > MAX_CONSENT_REF or not ref.isprintable():
        problems.append(Problem(row.line, "consent_ref", f"must be printable text of at most {MAX_CONSENT_REF} "
                                                         "characters"))
    elif looks_like_bsn(ref):
        problems.append(Problem(row.line, "consent_ref", NOT_A_BSN_PLACE))
    given_by = _text(raw.get("given_by"))
    if given_by not in _GIVEN_BY:
        problems.append(Problem(row.line, "given_by", "is required" if not given_by else
                                "must be one of " + ", ".join(_GIVEN_BY)))
    age_text = _text(raw.get("age_at_consent"))
    age: int | None = None
    if not age_text:
        problems.append(Problem(row.line, "age_at_consent", "is required"))
    elif not re.fullmatch(r"\d{1,3}", age_text):
        problems.append(Problem(row.line, "age_at_consent", "must be a whole number of years"))
    else:
        age = int(age_text)
    dates: dict[str, date | None] = {}
    for name in ("given_at", "valid_until"):
        value = raw.get(name)
        if _text(value) == "":
            if name == "given_at":
                problems.append(Problem(row.line, name, "is required"))
            dates[name] = None
            continue
        try:
            dates[name] = _date(value)
        except ValueError as exc:
            problems.append(Problem(row.line, name, str(exc)))
            continue
    given_at, valid_until = dates.get("given_at"), dates.get("valid_until")
    if given_at is not None and given_at < EARLIEST_DATE:
        problems.append(Problem(row.line, "given_at", "must not be before 2015-01-01 (the Jeugdwet)"))
    if valid_until is not None and valid_until > LATEST_VALID_UNTIL:
        problems.append(Problem(row.line, "valid_until", "must not be after 2099-12-31"))
    if len(problems) > start:
        return None
    return {"consent_ref": ref, "given_by": given_by, "age_at_consent": age, "given_at": given_at,
            "valid_until": valid_until}


def _group_consents(
    rows: Iterable[ExportRow], pseudonyms: dict[int, str], fields: dict[int, dict[str, Any]],
    problems: list[Problem], today: date,
) -> list[ConsentToRegister]:
    groups: dict[str, list[ExportRow]] = {}
    for row in rows:
        if row.line in fields:
            groups.setdefault(fields[row.line]["consent_ref"], []).append(row)
    known = frozenset(CODELISTS.municipalities)
    out: list[ConsentToRegister] = []
    for ref, members in groups.items():
        first = members[0]
        for row in members[1:]:
            if pseudonyms.get(row.line) != pseudonyms.get(first.line) and row.line in pseudonyms:
                problems.append(Problem(row.line, "bsn", f"differs from line {first.line}, which has the same "
                                                         "consent_ref: one consent is for one person"))
            for name in CONSENT_COLUMNS:
                if fields[row.line][name] != fields[first.line][name]:
                    problems.append(Problem(row.line, name, f"differs from line {first.line}, which has the same "
                                                            "consent_ref"))
        municipalities = sorted({m for row in members
                                 if isinstance(m := row.record.get("municipality"), str) and m in known})
        values = fields[first.line]
        if not municipalities:
            continue  # every row's municipality is refused by the record schema already
        model = consent.Consent(
            consent_ref=ref, provider_id="(this provider)", given_by=consent.GivenBy(values["given_by"]),
            age_at_consent=values["age_at_consent"], purpose=PURPOSE, data_categories=(), controller="",
            recipients=(), municipalities=tuple(municipalities), given_at=values["given_at"],
            valid_until=values["valid_until"], withdrawal_method="",
        )
        violations = consent.validate_new_consent(model, today=today, allowed_purposes={PURPOSE},
                                                  known_municipalities=known)
        for violation in violations:
            column = "municipality" if violation.field.startswith("municipalities") else violation.field
            for row in members:
                problems.append(Problem(row.line, column, violation.reason))
        if first.line not in pseudonyms:
            continue
        body = {
            "consent_ref": ref, "pseudonym": pseudonyms[first.line], "given_by": values["given_by"],
            "age_at_consent": values["age_at_consent"], "purpose": PURPOSE, "municipalities": municipalities,
            "given_at": values["given_at"].isoformat(),
            "valid_until": values["valid_until"].isoformat() if values["valid_until"] else None,
        }
        out.append(ConsentToRegister(consent_ref=ref, body=body, lines=tuple(r.line for r in members)))
    return out
