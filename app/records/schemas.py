"""Schemas of one submitted outcome record, batch validation, and the CSV form.

A record is one trajectory (jeugdhulp) or one measure (jeugdbescherming, jeugdreclassering) of
one pseudonymised youth, with the outcome answers the indicators need and nothing more: every
model forbids unknown fields, so a ``name``, ``postcode``, ``birth_date`` or ``bsn`` is refused
("not accepted: the indicators do not need it"). The provider is the token's organisation, never
a field. Codes are strings (``"03"``), dates ISO 8601 (``"2025-03-31"``), numbers JSON numbers.

``Record`` is a union discriminated by ``framework``:

- ``JeugdhulpRecord``: the API.md example; ``end_reason`` accepts BiJ (01..05) and iJw JZ588
  (31..35) codes and is stored as the BiJ code.
- ``JeugdbeschermingRecord`` (measure type ``OTS`` or ``voogdij``) and
  ``JeugdreclasseringRecord`` (measure type ``JR``): end reason from the measure type's own list,
  ``continuation`` (``continuation`` | ``scale_down`` | ``scale_up``), and outcomes
  ``client_experience`` {mark 1..10, informant}, JB ``threat`` {start, end} on a 1..10 scale where
  10 is the most serious threat (convert a safety score s as 11 - s), JB ``acceptance``
  {goals, help, role: yes | partly | no}, JR ``lij_risk`` {start, end} (LIJ risk totals 0..999).

Rules across fields: ``end_date`` (absent for an ongoing trajectory) is not before
``start_date``; no date lies before 2015-01-01 (the Jeugdwet) or after "today" (the validation
context key ``"today"``, default ``date.today()``); ``end_reason`` (and ``continuation``) only with an ``end_date``, and
``end_reason`` is required then. Every outcome is optional: a missing answer is normal.

``validate_records(items, today=...)`` validates a whole batch and returns every error of every
record at once as ``RecordError(index, field, reason)``: ``index`` is the 0-based position in the
batch, ``field`` a path such as ``outcomes.satisfaction.mark`` or ``outcomes.goals[1].score``
(list positions 0-based, as in JSON; ``""`` for the record as a whole), ``reason`` a human
sentence that names the allowed values and never repeats the submitted value.

CSV form
--------
A CSV batch carries the same fields, flattened. The first line is the header; each further
non-blank line is one record. Column names are the JSON paths (``CSV_COLUMNS``), so an error's
``field`` is also the column to look at:

- trajectory: ``record_id, framework, pseudonym, consent_id, municipality, start_date, end_date,
  end_reason`` (these eight columns must be in the header), then ``hulpvorm, product_category,
  referrer`` (jeugdhulp), ``measure_type, continuation`` (JB/JR), ``age_band, sex``;
- jeugdhulp outcomes: ``outcomes.satisfaction.mark``, ``outcomes.satisfaction.informant``,
  ``outcomes.continue_without_help.code``, ``outcomes.continue_without_help.informant``,
  ``outcomes.rom.instrument``, ``outcomes.rom.pre``, ``outcomes.rom.post``, and up to
  ``MAX_GOALS`` goals as ``outcomes.goals[0].score``, ``outcomes.goals[0].weight``,
  ``outcomes.goals[1].score`` ... (fill goals from the left: an empty goal between filled ones is
  an error);
- JB/JR outcomes: ``outcomes.client_experience.mark``, ``outcomes.client_experience.informant``,
  ``outcomes.threat.start``, ``outcomes.threat.end``, ``outcomes.acceptance.goals``,
  ``outcomes.acceptance.help``, ``outcomes.acceptance.role``, ``outcomes.lij_risk.start``,
  ``outcomes.lij_risk.end``.

Columns may come in any order; other columns than the eight above may be left out (a JB-only
file needs no jeugdhulp columns: ``csv_template(framework)`` gives one framework's columns).
An unknown or repeated column is an error naming it. An empty cell means "absent". The
separator is a comma, or a semicolon (what Excel writes in a Dutch locale); UTF-8, with or
without a byte-order mark. Because Excel drops leading zeros, a one-digit code in a code column
is read with its zero ("2" -> "02"); numbers may use a decimal comma ("12,5"). Dates must be
written as YYYY-MM-DD (format the Excel column as ``jjjj-mm-dd``). Blank lines are skipped:
``index`` in an error counts data rows, so without blank lines the spreadsheet row is index + 2.
"""

import csv
import io
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app import plain_text
from app.records.codelists import RomInstrument, load_codelists, load_rom_instruments

CODELISTS = load_codelists()

#: Validation context keys.
TODAY_CONTEXT_KEY = "today"
ROM_INSTRUMENTS_CONTEXT_KEY = "rom_instruments"

MAX_BATCH_RECORDS = 10_000
MAX_GOALS = 5  # GAS practice: 3 to 5 goals per trajectory
MAX_TEXT = 128
NOT_NEEDED = "not accepted: the indicators do not need it"

#: Domain bounds (so that every figure is a number the indicators can compute with, and the
#: OpenAPI document says so): no date before the Jeugdwet (2015-01-01) nor in the future; GAS goal
#: weights (the T-score only depends on their ratios; practice uses 1 to 3 or so) within 0.01..100;
#: ROM pre/post scores within +-1,000 (sum scores and T-scores are far below; an instrument's own
#: range applies on top); a LIJ risk total from 0 to 999.
EARLIEST_DATE = date(2015, 1, 1)
#: A date from 2015-01-01 to 2099-12-31 (the service refuses dates after today on top).
DATE_PATTERN = r"^20(1[5-9]|[2-9][0-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
DATE_SCHEMA = {
    "type": "string", "format": "date", "pattern": DATE_PATTERN,
    "description": "YYYY-MM-DD, not before 2015-01-01 (the Jeugdwet) and not after today",
}
MIN_WEIGHT, MAX_WEIGHT = 0.01, 100
MAX_SCORE = 1000
MAX_RISK_TOTAL = 999

_RECORD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MUNICIPALITY = re.compile(r"GM\d{4}")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("ttp_invalid", message)


def _one_of(values: Collection[str]) -> str:
    return "must be one of " + ", ".join(f'"{v}"' for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- field types ------------------------------------------------------------------------------


#: The metadata of a field type: its validator and its JSON schema, spliced into ``Annotated[base, *metadata]``.
FieldMetadata = tuple[BeforeValidator, WithJsonSchema]


def _code(allowed: Collection[str]) -> FieldMetadata:
    """A string code from a code list; the message names the allowed codes."""
    message = _one_of(allowed)
    codes = tuple(allowed)

    def check(value: Any) -> str:
        if isinstance(value, str) and value in codes:
            return value
        raise _fail(message)

    return BeforeValidator(check), WithJsonSchema({"type": "string", "enum": list(codes)})


def _integer(low: int, high: int | None) -> FieldMetadata:
    message = (
        f"must be an integer from {low} to {high}" if high is not None else f"must be an integer of {low} or more"
    )

    def check(value: Any) -> int:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value >= low
            and (high is None or value <= high)
        ):
            return value
        raise _fail(message)

    schema: dict[str, Any] = {"type": "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return BeforeValidator(check), WithJsonSchema(schema)


def _text(max_length: int) -> FieldMetadata:
    message = f"must be a text of 1 to {max_length} characters"

    def check(value: Any) -> str:
        if isinstance(value, str) and 0 < len(value) <= max_length and value.strip():
            not_plain = plain_text.why_not(value)
            if not_plain is None:
                return value
            raise _fail(not_plain)
        raise _fail(message)

    return BeforeValidator(check), WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": plain_text.PATTERN}
    )


def _check_number(value: Any) -> float:
    if _is_number(value) and -MAX_SCORE <= value <= MAX_SCORE:
        return float(value)
    raise _fail(f"must be a number from {-MAX_SCORE} to {MAX_SCORE}")


def _check_weight(value: Any) -> float:
    if _is_number(value) and MIN_WEIGHT <= value <= MAX_WEIGHT:
        return float(value)
    raise _fail(f"must be a number from {MIN_WEIGHT} to {MAX_WEIGHT}")


def _check_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            value = None
    if isinstance(value, date) and not isinstance(value, datetime):
        if value < EARLIEST_DATE:
            raise _fail(f"must not be before {EARLIEST_DATE.isoformat()} (the Jeugdwet)")
        return value
    raise _fail("must be an existing date written as YYYY-MM-DD, e.g. 2025-03-31")


def _check_record_id(value: Any) -> str:
    if isinstance(value, str) and _RECORD_ID.fullmatch(value):
        return value
    raise _fail("must be 1 to 64 characters: letters, digits, '.', '_', ':' or '-'")


def _check_municipality(value: Any) -> str:
    if not (isinstance(value, str) and _MUNICIPALITY.fullmatch(value)):
        raise _fail('must be a CBS municipality code: "GM" and 4 digits, e.g. "GM0363"')
    if value not in CODELISTS.municipalities:
        raise _fail(
            f"is not a municipality in the municipal division of {CODELISTS.valid_from.isoformat()} "
            f"(code lists {CODELISTS.version})"
        )
    return value


RecordId = Annotated[
    str,
    BeforeValidator(_check_record_id),
    WithJsonSchema({"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,64}$"}),
]
IsoDate = Annotated[date, BeforeValidator(_check_date), WithJsonSchema(DATE_SCHEMA)]
MunicipalityCode = Annotated[
    str, BeforeValidator(_check_municipality), WithJsonSchema({"type": "string", "pattern": r"^GM\d{4}$"})
]
Text = Annotated[str, *_text(MAX_TEXT)]
Number = Annotated[
    float,
    BeforeValidator(_check_number),
    WithJsonSchema({"type": "number", "minimum": -MAX_SCORE, "maximum": MAX_SCORE}),
]
Weight = Annotated[
    float,
    BeforeValidator(_check_weight),
    WithJsonSchema({"type": "number", "minimum": MIN_WEIGHT, "maximum": MAX_WEIGHT}),
]
Mark = Annotated[int, *_integer(1, 10)]
GoalScore = Annotated[int, *_integer(-2, 2)]
ThreatScore = Annotated[int, *_integer(1, 10)]
RiskTotal = Annotated[int, *_integer(0, MAX_RISK_TOTAL)]
Informant = Annotated[str, *_code(CODELISTS.informant)]
AgeBand = Annotated[str, *_code(CODELISTS.age_band)]
Sex = Annotated[str, *_code(CODELISTS.sex)]
Hulpvorm = Annotated[str, *_code(CODELISTS.hulpvorm)]
ProductCategory = Annotated[str, *_code(CODELISTS.product_category)]
Referrer = Annotated[str, *_code(CODELISTS.referrer)]
ContinueWithoutHelpCode = Annotated[str, *_code(CODELISTS.continue_without_help)]
AcceptanceAnswer = Annotated[str, *_code(CODELISTS.acceptance)]
JeugdbeschermingMeasure = Annotated[str, *_code(CODELISTS.measure_types_for("jeugdbescherming"))]
JeugdreclasseringMeasure = Annotated[str, *_code(CODELISTS.measure_types_for("jeugdreclassering"))]


def _today(info: ValidationInfo) -> date:
    today = (info.context or {}).get(TODAY_CONTEXT_KEY)
    return today if isinstance(today, date) else date.today()


def _instruments(info: ValidationInfo) -> Mapping[str, RomInstrument]:
    known = (info.context or {}).get(ROM_INSTRUMENTS_CONTEXT_KEY)
    return known if known is not None else load_rom_instruments()


def _ended(info: ValidationInfo) -> bool | None:
    """True/False whether the record has an end date; None when end_date itself was invalid."""
    if "end_date" not in info.data:
        return None
    return info.data["end_date"] is not None


def _only_when_ended(value: Any, info: ValidationInfo, check: Callable[[Any], str], *, required: bool) -> Any:
    ended = _ended(info)
    if value is None:
        if required and ended:
            raise _fail("is required when end_date is set")
        return None
    if ended is False:
        raise _fail("only allowed when end_date is set: an ongoing trajectory has none")
    return check(value)


# -- models -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Satisfaction(_Strict):
    """Basisset 2: how useful was the help, a mark 1..10, and who answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mark: Mark
    informant: Informant


class ClientExperience(Satisfaction):
    """JB/JR cliëntervaring: did the measure help reach the plan's goals (mark 1..10)."""


class ContinueWithoutHelp(_Strict):
    """Basisset 3.1 "zonder hulp verder": code 01..04 and who answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: ContinueWithoutHelpCode
    informant: Informant


class Rom(_Strict):
    """Basisset 3.3: one instrument's pre and post score (both needed for a change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: str = Field(json_schema_extra={"examples": ["SDQ"]})
    pre: Number
    post: Number

    @field_validator("instrument", mode="before")
    @classmethod
    def _known_instrument(cls, value: Any, info: ValidationInfo) -> str:
        known = _instruments(info)
        if isinstance(value, str) and value in known:
            return value
        raise _fail(_one_of(sorted(known)) + " (the ROM instruments this TTP knows)")

    @field_validator("pre", "post")
    @classmethod
    def _within_instrument_range(cls, value: float, info: ValidationInfo) -> float:
        instrument = _instruments(info).get(info.data.get("instrument", ""))
        if instrument is None:
            return value
        low, high = instrument.min_score, instrument.max_score
        if (low is not None and value < low) or (high is not None and value > high):
            raise _fail(
                f"must be a score from {_fmt(low, '-inf')} to {_fmt(high, 'inf')} for {instrument.name}"
            )
        return value


def _fmt(value: float | None, missing: str) -> str:
    if value is None:
        return missing
    return str(int(value)) if float(value).is_integer() else str(value)


class Goal(_Strict):
    """Basisset 3.4: one GAS goal, score -2..+2 (0 = expected level), weight > 0 (default 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: GoalScore
    weight: Weight = 1.0


class JeugdhulpOutcomes(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    satisfaction: Satisfaction | None = None
    continue_without_help: ContinueWithoutHelp | None = None
    rom: Rom | None = None
    goals: list[Goal] | None = Field(default=None, max_length=MAX_GOALS)

    @field_validator("goals", mode="before")
    @classmethod
    def _goal_count(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_GOALS:
            raise _fail(f"must be a list of 1 to {MAX_GOALS} goals (leave it out when there are none)")
        return value


class ThreatScores(_Strict):
    """JB: threat to the child's development at start and end, 1..10, 10 = most serious."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: ThreatScore
    end: ThreatScore


class Acceptance(_Strict):
    """JB: agreement on the goals, on the help, and on the institution's role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    goals: AcceptanceAnswer | None = None
    help: AcceptanceAnswer | None = None
    role: AcceptanceAnswer | None = None


class LijRisk(_Strict):
    """JR: LIJ risk total at start and at end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: RiskTotal
    end: RiskTotal


class JeugdbeschermingOutcomes(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_experience: ClientExperience | None = None
    threat: ThreatScores | None = None
    acceptance: Acceptance | None = None


class JeugdreclasseringOutcomes(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    client_experience: ClientExperience | None = None
    lij_risk: LijRisk | None = None


class _RecordBase(_Strict):
    """Fields every record has. Field order matters: later validators read earlier fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: RecordId
    framework: str
    pseudonym: Text  # stage-1 pseudonym; its format is checked by the pseudonymisation library
    consent_id: Text
    municipality: MunicipalityCode
    start_date: IsoDate
    end_date: IsoDate | None = None
    age_band: AgeBand | None = None
    sex: Sex | None = None

    @field_validator("start_date")
    @classmethod
    def _start_not_in_future(cls, value: date, info: ValidationInfo) -> date:
        if value > _today(info):
            raise _fail("must not be in the future")
        return value

    @field_validator("end_date")
    @classmethod
    def _end_in_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return None
        if value > _today(info):
            raise _fail("must not be in the future")
        start = info.data.get("start_date")
        if start is not None and value < start:
            raise _fail("must not be before start_date")
        return value

    @property
    def ended(self) -> bool:
        return self.end_date is not None


def _jeugdhulp_end_reason(value: Any) -> str:
    bij = CODELISTS.end_reason_to_bij(value) if isinstance(value, str) else None
    if bij is None:
        raise _fail(
            _one_of(CODELISTS.end_reason)
            + " (BiJ) or "
            + ", ".join(f'"{c}"' for c in CODELISTS.end_reason_ijw)
            + " (iJw JZ588)"
        )
    return bij


class JeugdhulpRecord(_RecordBase):
    """One jeugdhulp trajectory (basisset indicators 1, 2, 3.1 to 3.4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Literal["jeugdhulp"]
    hulpvorm: Hulpvorm
    product_category: ProductCategory | None = None
    referrer: Referrer | None = None
    end_reason: str | None = Field(
        default=None,
        validate_default=True,
        description="BiJ 01..05 or iJw JZ588 31..35; stored as BiJ. Required with end_date.",
    )
    outcomes: JeugdhulpOutcomes | None = None

    @field_validator("end_reason", mode="before")
    @classmethod
    def _end_reason(cls, value: Any, info: ValidationInfo) -> str | None:
        return _only_when_ended(value, info, _jeugdhulp_end_reason, required=True)


def _measure_end_reason(framework: str) -> Callable[[Any, ValidationInfo], str | None]:
    def validate(value: Any, info: ValidationInfo) -> str | None:
        measure = info.data.get("measure_type")
        measures = [measure] if measure is not None else list(CODELISTS.measure_types_for(framework))
        allowed = [code for m in measures for code in CODELISTS.end_reason_measure[m]]
        suffix = f" (end reasons of {measure})" if measure is not None else ""

        def check(code: Any) -> str:
            if isinstance(code, str) and code in allowed:
                return code
            raise _fail(_one_of(allowed) + suffix)

        return _only_when_ended(value, info, check, required=True)

    return validate


def _continuation(value: Any, info: ValidationInfo) -> str | None:
    def check(code: Any) -> str:
        if isinstance(code, str) and code in CODELISTS.continuation:
            return code
        raise _fail(_one_of(CODELISTS.continuation))

    return _only_when_ended(value, info, check, required=False)


class JeugdbeschermingRecord(_RecordBase):
    """One jeugdbescherming measure (OTS or voogdij)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Literal["jeugdbescherming"]
    measure_type: JeugdbeschermingMeasure
    end_reason: str | None = Field(default=None, validate_default=True)
    continuation: str | None = Field(default=None, validate_default=True)
    outcomes: JeugdbeschermingOutcomes | None = None

    _check_end_reason = field_validator("end_reason", mode="before")(_measure_end_reason("jeugdbescherming"))
    _check_continuation = field_validator("continuation", mode="before")(_continuation)


class JeugdreclasseringRecord(_RecordBase):
    """One jeugdreclassering measure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework: Literal["jeugdreclassering"]
    measure_type: JeugdreclasseringMeasure = "JR"
    end_reason: str | None = Field(default=None, validate_default=True)
    continuation: str | None = Field(default=None, validate_default=True)
    outcomes: JeugdreclasseringOutcomes | None = None

    _check_end_reason = field_validator("end_reason", mode="before")(_measure_end_reason("jeugdreclassering"))
    _check_continuation = field_validator("continuation", mode="before")(_continuation)


Record = Annotated[
    JeugdhulpRecord | JeugdbeschermingRecord | JeugdreclasseringRecord,
    Field(discriminator="framework"),
]
RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)
FRAMEWORKS: tuple[str, ...] = tuple(CODELISTS.frameworks)


class BatchBody(_Strict):
    """The JSON body of POST /v1/records/batches (for the OpenAPI document)."""

    # Titled as before; the stored batch is app.models.RecordBatch.
    model_config = ConfigDict(extra="forbid", frozen=True, title="RecordBatch")

    records: list[Record] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


# -- batch validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordError:
    """One problem with one record of a batch (API.md: index, field, reason)."""

    index: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


_BUILTIN_REASONS = {
    "missing": "is required",
    "extra_forbidden": NOT_NEEDED,
    "model_type": "must be an object with named fields",
    "model_attributes_type": "must be an object with named fields",
    "dict_type": "must be an object with named fields",
    "list_type": "must be a list",
    "string_type": "must be a text",
    "too_long": f"must hold at most {MAX_GOALS} items",
    "union_tag_invalid": _one_of(FRAMEWORKS),
    "union_tag_not_found": "is required: " + _one_of(FRAMEWORKS).removeprefix("must be "),
}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _translate(index: int, exc: ValidationError) -> list[RecordError]:
    errors: list[RecordError] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if loc and loc[0] in FRAMEWORKS:  # the discriminated union puts the tag first
            loc = loc[1:]
        kind = err["type"]
        if kind.startswith("union_tag"):
            field = "framework"
        else:
            field = _path(loc)
        reason = _BUILTIN_REASONS.get(kind, err["msg"])
        if not field and kind in ("model_type", "model_attributes_type", "dict_type"):
            reason = "must be an object: one record"
        errors.append(RecordError(index=index, field=field, reason=reason))
    return errors


def validation_context(
    *, today: date, rom_instruments: Mapping[str, RomInstrument] | None = None
) -> dict[str, Any]:
    """The pydantic validation context the record models read ("today", "rom_instruments")."""
    return {
        TODAY_CONTEXT_KEY: today,
        ROM_INSTRUMENTS_CONTEXT_KEY: rom_instruments if rom_instruments is not None else load_rom_instruments(),
    }


def validate_records(
    items: Sequence[Any],
    *,
    today: date,
    rom_instruments: Mapping[str, RomInstrument] | None = None,
) -> tuple[list[Record], list[RecordError]]:
    """Validate a batch; return the valid records and every error of every record.

    The batch is acceptable only when the error list is empty (the API stores all or nothing);
    the record list then holds one record per item, in order. A ``record_id`` that appears twice
    in the batch is an error at its later position. ``rom_instruments`` are the instruments the
    deployment knows (default: ``app/data/rom-instruments.toml``).
    """
    context = validation_context(today=today, rom_instruments=rom_instruments)
    records: list[Record] = []
    errors: list[RecordError] = []
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        try:
            records.append(RECORD_ADAPTER.validate_python(item, context=context))
        except ValidationError as exc:
            errors.extend(_translate(index, exc))
        record_id = item.get("record_id") if isinstance(item, dict) else None
        if isinstance(record_id, str):
            if record_id in first_seen:
                errors.append(
                    RecordError(
                        index=index,
                        field="record_id",
                        reason=f"appears more than once in this batch (first at index {first_seen[record_id]})",
                    )
                )
            else:
                first_seen[record_id] = index
    return records, errors


# -- CSV form ---------------------------------------------------------------------------------


class CsvFormatError(ValueError):
    """The CSV as a whole cannot be read (header, separator, row length); names the culprit."""

    def __init__(self, message: str, *, column: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.line = line


_CORE_COLUMNS = (
    "record_id",
    "framework",
    "pseudonym",
    "consent_id",
    "municipality",
    "start_date",
    "end_date",
    "end_reason",
)
_JEUGDHULP_TRAJECTORY = ("hulpvorm", "product_category", "referrer")
_MEASURE_TRAJECTORY = ("measure_type", "continuation")
_BREAKDOWN = ("age_band", "sex")
_JEUGDHULP_OUTCOMES = (
    "outcomes.satisfaction.mark",
    "outcomes.satisfaction.informant",
    "outcomes.continue_without_help.code",
    "outcomes.continue_without_help.informant",
    "outcomes.rom.instrument",
    "outcomes.rom.pre",
    "outcomes.rom.post",
    *(f"outcomes.goals[{i}].{part}" for i in range(MAX_GOALS) for part in ("score", "weight")),
)
_EXPERIENCE = ("outcomes.client_experience.mark", "outcomes.client_experience.informant")
_JB_OUTCOMES = (
    "outcomes.threat.start",
    "outcomes.threat.end",
    "outcomes.acceptance.goals",
    "outcomes.acceptance.help",
    "outcomes.acceptance.role",
)
_JR_OUTCOMES = ("outcomes.lij_risk.start", "outcomes.lij_risk.end")

#: Every CSV column, in template order.
CSV_COLUMNS: tuple[str, ...] = (
    _CORE_COLUMNS
    + _JEUGDHULP_TRAJECTORY
    + _MEASURE_TRAJECTORY
    + _BREAKDOWN
    + _JEUGDHULP_OUTCOMES
    + _EXPERIENCE
    + _JB_OUTCOMES
    + _JR_OUTCOMES
)
#: Columns every CSV header must contain.
CSV_REQUIRED_COLUMNS: tuple[str, ...] = _CORE_COLUMNS

_FRAMEWORK_COLUMNS: dict[str, frozenset[str]] = {
    "jeugdhulp": frozenset(_CORE_COLUMNS + _JEUGDHULP_TRAJECTORY + _BREAKDOWN + _JEUGDHULP_OUTCOMES),
    "jeugdbescherming": frozenset(
        _CORE_COLUMNS + _MEASURE_TRAJECTORY + _BREAKDOWN + _EXPERIENCE + _JB_OUTCOMES
    ),
    "jeugdreclassering": frozenset(
        _CORE_COLUMNS + _MEASURE_TRAJECTORY + _BREAKDOWN + _EXPERIENCE + _JR_OUTCOMES
    ),
}

_CODE_COLUMNS = frozenset(
    {"end_reason", "hulpvorm", "product_category", "referrer", "outcomes.continue_without_help.code"}
)
_INTEGER_COLUMNS = frozenset(
    {
        "outcomes.satisfaction.mark",
        "outcomes.client_experience.mark",
        "outcomes.threat.start",
        "outcomes.threat.end",
        "outcomes.lij_risk.start",
        "outcomes.lij_risk.end",
        *(f"outcomes.goals[{i}].score" for i in range(MAX_GOALS)),
    }
)
_NUMBER_COLUMNS = frozenset(
    {"outcomes.rom.pre", "outcomes.rom.post", *(f"outcomes.goals[{i}].weight" for i in range(MAX_GOALS))}
)
# Bounded, so that a cell of thousands of digits stays text (and is refused as not a number) instead
# of reaching int(), which refuses more than 4,300 digits with an error of its own.
_INT_TEXT = re.compile(r"[+-]?\d{1,18}")
_DECIMAL_TEXT = re.compile(r"[+-]?\d{1,18}[.,]\d{1,18}")
_PATH_PART = re.compile(r"([a-z_]+)(?:\[(\d+)\])?")

EXAMPLE_RECORDS: dict[str, dict[str, Any]] = {
    "jeugdhulp": {
        "record_id": "traj-2025-000123",
        "framework": "jeugdhulp",
        "pseudonym": "stage-1 pseudonym",
        "consent_id": "consent-8f3a",
        "municipality": "GM0363",
        "start_date": "2025-01-06",
        "end_date": "2025-06-20",
        "hulpvorm": "02",
        "product_category": "45",
        "end_reason": "01",
        "referrer": "01",
        "age_band": "12-15",
        "sex": "V",
        "outcomes": {
            "satisfaction": {"mark": 8, "informant": "youth"},
            "continue_without_help": {"code": "04", "informant": "parent"},
            "rom": {"instrument": "SDQ", "pre": 21, "post": 12},
            "goals": [{"score": 1}, {"score": 0, "weight": 2}],
        },
    },
    "jeugdbescherming": {
        "record_id": "ots-2024-000045",
        "framework": "jeugdbescherming",
        "pseudonym": "stage-1 pseudonym",
        "consent_id": "consent-19c2",
        "municipality": "GM0014",
        "measure_type": "OTS",
        "start_date": "2024-02-01",
        "end_date": "2024-12-20",
        "end_reason": "02",
        "continuation": "scale_down",
        "age_band": "4-11",
        "outcomes": {
            "client_experience": {"mark": 7, "informant": "parent"},
            "threat": {"start": 8, "end": 4},
            "acceptance": {"goals": "yes", "help": "partly", "role": "no"},
        },
    },
    "jeugdreclassering": {
        "record_id": "jr-2024-000077",
        "framework": "jeugdreclassering",
        "pseudonym": "stage-1 pseudonym",
        "consent_id": "consent-77d0",
        "municipality": "GM0599",
        "measure_type": "JR",
        "start_date": "2024-03-11",
        "end_date": "2024-11-29",
        "end_reason": "21",
        "continuation": "continuation",
        "age_band": "16-17",
        "sex": "M",
        "outcomes": {
            "client_experience": {"mark": 6, "informant": "youth"},
            "lij_risk": {"start": 14, "end": 9},
        },
    },
}


def csv_columns(framework: str | None = None) -> tuple[str, ...]:
    """All CSV columns, or the columns one framework uses, in template order."""
    if framework is None:
        return CSV_COLUMNS
    if framework not in _FRAMEWORK_COLUMNS:
        raise ValueError(f"unknown framework {framework!r}; {_one_of(FRAMEWORKS)}")
    wanted = _FRAMEWORK_COLUMNS[framework]
    return tuple(c for c in CSV_COLUMNS if c in wanted)


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


def csv_template(framework: str | None = None) -> str:
    """A CSV header plus one example row (the jeugdhulp example when ``framework`` is None)."""
    columns = csv_columns(framework)
    example = _flatten(EXAMPLE_RECORDS[framework or "jeugdhulp"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow(["" if example.get(c) is None else str(example[c]) for c in columns])
    return buffer.getvalue()


def _cell_value(column: str, cell: str) -> Any:
    if column in _CODE_COLUMNS and len(cell) == 1 and cell.isdigit():
        return "0" + cell
    if column in _INTEGER_COLUMNS or column in _NUMBER_COLUMNS:
        if _INT_TEXT.fullmatch(cell):
            return int(cell)
        if column in _NUMBER_COLUMNS and _DECIMAL_TEXT.fullmatch(cell):
            return float(cell.replace(",", "."))
    return cell  # anything else is left as text; validation then says what it must be


def _set_path(target: dict[str, Any], column: str, value: Any) -> None:
    node: Any = target
    parts = column.split(".")
    for i, part in enumerate(parts):
        match = _PATH_PART.fullmatch(part)
        assert match is not None  # columns come from CSV_COLUMNS
        name, position = match.group(1), match.group(2)
        last = i == len(parts) - 1
        if position is None:
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
        else:
            items = node.setdefault(name, {})  # position -> item; made a list afterwards
            node = items.setdefault(int(position), {})


def _lists_from_positions(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(isinstance(k, int) for k in value):
            return [_lists_from_positions(value.get(i, {})) for i in range(max(value) + 1)]
        return {k: _lists_from_positions(v) for k, v in value.items()}
    return value


#: Longer than any acceptable cell by far, yet never in the way: a long cell reaches validation, which
#: names its column, instead of the csv module's own limit (131,072 characters) failing the file.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))


def _rows(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a line the csv module cannot read is a CsvFormatError naming it."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFormatError(f"line {reader.line_num} cannot be read: {exc}", line=reader.line_num) from None


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Turn a CSV batch into the dicts the JSON API takes (empty cells are absent).

    Raises ``CsvFormatError`` for an empty file, an unknown, repeated or missing header column
    (naming it), or a row with more cells than the header (naming its line).
    """
    text = text.removeprefix("\ufeff")
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise CsvFormatError("the CSV is empty: its first line must be the header")
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise CsvFormatError(f"the header cannot be read: {exc}") from None
    known = set(CSV_COLUMNS)
    seen: set[str] = set()
    for name in header:
        if name not in known:
            shown = name if len(name) <= 60 and plain_text.why_not(name) is None else "(a long or unprintable name)"
            raise CsvFormatError(
                f"unknown column {shown!r} in the header (see the template for the column names)",
                column=shown if shown == name else "header",
            )
        if name in seen:
            raise CsvFormatError(f"column {name!r} appears more than once in the header", column=name)
        seen.add(name)
    for name in CSV_REQUIRED_COLUMNS:
        if name not in seen:
            raise CsvFormatError(f"column {name!r} is missing from the header", column=name)

    rows: list[dict[str, Any]] = []
    for cells in _rows(reader):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise CsvFormatError(
                f"line {reader.line_num} has {len(cells)} cells but the header has {len(header)} columns",
                line=reader.line_num,
            )
        row: dict[str, Any] = {}
        for column, cell in zip(header, cells, strict=False):
            cell = cell.strip()
            if cell:
                _set_path(row, column, _cell_value(column, cell))
        rows.append(_lists_from_positions(row))
    return rows
