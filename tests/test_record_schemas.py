"""Record schemas, batch validation, the CSV form, and the code lists behind them."""

import copy
import csv
import io
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.records.codelists import RomInstrument, load_codelists
from app.records.schemas import (
    CSV_COLUMNS,
    CSV_REQUIRED_COLUMNS,
    EXAMPLE_RECORDS,
    NOT_NEEDED,
    BatchBody,
    CsvFormatError,
    JeugdbeschermingRecord,
    JeugdhulpRecord,
    JeugdreclasseringRecord,
    RecordError,
    csv_columns,
    csv_template,
    parse_csv,
    validate_records,
)

TODAY = date(2025, 7, 1)

# The record example of API.md, verbatim except record_id: API.md's placeholder
# "provider-unique id" has a space, which the record_id rule ([A-Za-z0-9._:-]) refuses.
API_EXAMPLE = {
    "record_id": "provider-unique-id",
    "framework": "jeugdhulp",
    "pseudonym": "stage-1 pseudonym",
    "consent_id": "...",
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
}

JB_RECORD = {
    "record_id": "ots-1",
    "framework": "jeugdbescherming",
    "pseudonym": "p1",
    "consent_id": "c1",
    "municipality": "GM0014",
    "measure_type": "OTS",
    "start_date": "2024-02-01",
    "end_date": "2025-01-31",
    "end_reason": "01",
}

JR_RECORD = {
    "record_id": "jr-1",
    "framework": "jeugdreclassering",
    "pseudonym": "p2",
    "consent_id": "c2",
    "municipality": "GM0599",
    "start_date": "2024-03-01",
    "end_date": "2025-02-28",
    "end_reason": "21",
}


def example(**changes):
    record = copy.deepcopy(API_EXAMPLE)
    record.update(changes)
    return record


def errors_of(*items, today=TODAY, **kwargs):
    records, errors = validate_records(list(items), today=today, **kwargs)
    return errors


def pairs(errors):
    return {(e.index, e.field) for e in errors}


def reason(errors, field):
    found = [e.reason for e in errors if e.field == field]
    assert found, f"no error for {field}: {errors}"
    return found[0]


# -- code lists ------------------------------------------------------------------------------


def test_codelists_version_and_municipalities():
    cl = load_codelists()
    assert cl.version == "2025.1"
    assert cl.valid_from == date(2025, 1, 1)
    assert len(cl.municipalities) == 342
    assert len(cl.regions) == 42
    amsterdam = cl.municipalities["GM0363"]
    assert (amsterdam.name, amsterdam.province, amsterdam.region) == (
        "Amsterdam",
        "Noord-Holland",
        "Amsterdam-Amstelland",
    )
    assert cl.municipalities["GM0820"].name == "Nuenen, Gerwen en Nederwetten"  # quoted CSV cell
    assert "GM0363" in cl.regions["Amsterdam-Amstelland"]
    assert sum(len(codes) for codes in cl.regions.values()) == 342
    assert cl.region_of("GM0363") == "Amsterdam-Amstelland"
    assert load_codelists() is cl  # cached


def test_codelists_lists():
    cl = load_codelists()
    assert list(cl.hulpvorm) == ["01", "02", "03", "04", "11", "12", "13", "14"]
    assert list(cl.product_category) == [str(n) for n in range(40, 56)]
    assert list(cl.referrer) == ["01", "02", "03", "04", "05", "06", "08"]
    assert list(cl.age_band) == ["0-3", "4-11", "12-15", "16-17", "18+"]
    assert list(cl.sex) == ["V", "M", "O"]
    assert list(cl.frameworks) == ["jeugdhulp", "jeugdbescherming", "jeugdreclassering"]
    assert list(cl.end_reason_measure["OTS"]) == ["01", "02", "03", "04", "05", "06", "07"]
    assert list(cl.end_reason_measure["voogdij"]) == ["11", "12", "13", "14", "15"]
    assert cl.measure_types_for("jeugdbescherming") == ("OTS", "voogdij")
    assert cl.measure_types_for("jeugdreclassering") == ("JR",)
    assert dict(cl.jr_risk_change) == {"41": "lower", "42": "equal", "43": "higher"}


@pytest.mark.parametrize(
    ("code", "bij"),
    [("31", "01"), ("34", "02"), ("32", "03"), ("33", "04"), ("35", "05"),
     ("01", "01"), ("02", "02"), ("03", "03"), ("04", "04"), ("05", "05"),
     ("36", None), ("06", None), ("3", None), ("", None)],
)
def test_end_reason_to_bij_accepts_both_code_systems(code, bij):
    assert load_codelists().end_reason_to_bij(code) == bij


def test_rom_instrument_parameters_are_checked():
    with pytest.raises(ValueError, match="reliability"):
        RomInstrument(name="X", sd=5.0, reliability=1.0, higher_is_better=False)
    with pytest.raises(ValueError, match="sd"):
        RomInstrument(name="X", sd=0.0, reliability=0.8, higher_is_better=False)


# -- jeugdhulp records -----------------------------------------------------------------------


def test_api_example_validates():
    records, errors = validate_records([API_EXAMPLE], today=TODAY)
    assert errors == []
    (record,) = records
    assert isinstance(record, JeugdhulpRecord)
    assert record.start_date == date(2025, 1, 6)
    assert record.end_date == date(2025, 6, 20)
    assert record.outcomes.satisfaction.mark == 8
    assert record.outcomes.rom.pre == 21.0
    assert [(g.score, g.weight) for g in record.outcomes.goals] == [(1, 1.0), (0, 2.0)]


def test_ongoing_trajectory_and_missing_outcomes_are_fine():
    record = example(end_date=None, end_reason=None, outcomes=None)
    del record["product_category"], record["referrer"], record["age_band"], record["sex"]
    records, errors = validate_records([record], today=TODAY)
    assert errors == []
    assert records[0].end_date is None and records[0].outcomes is None


@pytest.mark.parametrize("field", ["name", "postcode", "birth_date", "bsn"])
def test_unknown_field_refused_with_its_name(field):
    errors = errors_of(example(**{field: "x"}))
    assert [(e.index, e.field, e.reason) for e in errors] == [(0, field, NOT_NEEDED)]
    assert NOT_NEEDED == "not accepted: the indicators do not need it"


def test_unknown_nested_field_refused_with_its_path():
    record = example()
    record["outcomes"]["satisfaction"]["comment"] = "free text"
    errors = errors_of(record)
    assert [(e.field, e.reason) for e in errors] == [("outcomes.satisfaction.comment", NOT_NEEDED)]


@pytest.mark.parametrize("mark", [0, 11, -1, 7.5, "8", True, None])
def test_bad_mark_refused_with_field_path(mark):
    record = example()
    record["outcomes"]["satisfaction"]["mark"] = mark
    errors = errors_of(record)
    assert [(e.field, e.reason) for e in errors] == [
        ("outcomes.satisfaction.mark", "must be an integer from 1 to 10")
    ]


def test_goal_errors_name_the_goal():
    record = example()
    record["outcomes"]["goals"] = [{"score": 1}, {"score": 3, "weight": 0}]
    errors = errors_of(record)
    assert pairs(errors) == {(0, "outcomes.goals[1].score"), (0, "outcomes.goals[1].weight")}
    assert reason(errors, "outcomes.goals[1].score") == "must be an integer from -2 to 2"
    assert reason(errors, "outcomes.goals[1].weight") == "must be a number from 0.01 to 100"


def test_goal_list_length():
    for goals in ([], [{"score": 0}] * 6):
        record = example()
        record["outcomes"]["goals"] = goals
        errors = errors_of(record)
        assert pairs(errors) == {(0, "outcomes.goals")}


def test_codes_must_be_strings_and_messages_name_the_allowed_values():
    errors = errors_of(example(hulpvorm=2, referrer="07", sex="F", age_band="12-17"))
    assert reason(errors, "hulpvorm") == 'must be one of "01", "02", "03", "04", "11", "12", "13", "14"'
    assert reason(errors, "referrer") == 'must be one of "01", "02", "03", "04", "05", "06", "08"'
    assert reason(errors, "sex") == 'must be one of "V", "M", "O"'
    assert pairs(errors) == {(0, "hulpvorm"), (0, "referrer"), (0, "sex"), (0, "age_band")}


def test_municipality_must_exist():
    errors = errors_of(example(municipality="GM9999"), example(record_id="b", municipality="0363"))
    assert pairs(errors) == {(0, "municipality"), (1, "municipality")}
    assert "GM0363" in errors[1].reason


def test_end_before_start_refused_same_day_allowed():
    errors = errors_of(example(start_date="2025-03-01", end_date="2025-02-28"))
    assert [(e.field, e.reason) for e in errors] == [("end_date", "must not be before start_date")]
    assert errors_of(example(start_date="2025-03-01", end_date="2025-03-01")) == []


def test_future_dates_refused_against_injected_today():
    ongoing = example(start_date="2025-07-02", end_date=None, end_reason=None)
    errors = errors_of(ongoing, today=date(2025, 7, 1))
    assert [(e.field, e.reason) for e in errors] == [("start_date", "must not be in the future")]
    assert errors_of(ongoing, today=date(2025, 7, 2)) == []  # today itself is not the future
    errors = errors_of(example(end_date="2025-06-20"), today=date(2025, 6, 19))
    assert [(e.field, e.reason) for e in errors] == [("end_date", "must not be in the future")]


@pytest.mark.parametrize("value", ["2025-02-30", "20250106", "06-01-2025", "2025-01-06T00:00:00", 20250106])
def test_dates_must_be_iso(value):
    errors = errors_of(example(start_date=value))
    assert [(e.field, e.reason) for e in errors] == [
        ("start_date", "must be an existing date written as YYYY-MM-DD, e.g. 2025-03-31")
    ]


def test_end_reason_required_with_end_date_and_forbidden_without():
    errors = errors_of(example(end_reason=None))
    assert [(e.field, e.reason) for e in errors] == [("end_reason", "is required when end_date is set")]
    record = example()
    del record["end_reason"]
    assert pairs(errors_of(record)) == {(0, "end_reason")}
    errors = errors_of(example(end_date=None))
    assert pairs(errors) == {(0, "end_reason")}
    assert reason(errors, "end_reason").startswith("only allowed when end_date is set")


@pytest.mark.parametrize(("given", "stored"), [("31", "01"), ("32", "03"), ("35", "05"), ("03", "03")])
def test_end_reason_normalised_to_bij(given, stored):
    records, errors = validate_records([example(end_reason=given)], today=TODAY)
    assert errors == [] and records[0].end_reason == stored


def test_end_reason_unknown_code_names_both_systems():
    errors = errors_of(example(end_reason="36"))
    assert reason(errors, "end_reason") == (
        'must be one of "01", "02", "03", "04", "05" (BiJ) or "31", "34", "32", "33", "35" (iJw JZ588)'
    )


@pytest.mark.parametrize(
    ("record_id", "ok"),
    [("a", True), ("A-b_c.d:9", True), ("x" * 64, True), ("x" * 65, False), ("", False),
     ("has space", False), ("é", False), ("a/b", False)],
)
def test_record_id_rule(record_id, ok):
    assert (errors_of(example(record_id=record_id)) == []) is ok


def test_pseudonym_is_not_checked_beyond_length():
    assert errors_of(example(pseudonym="anything: the library checks the format")) == []
    assert pairs(errors_of(example(pseudonym="p" * 129))) == {(0, "pseudonym")}
    assert pairs(errors_of(example(consent_id=""))) == {(0, "consent_id")}


def test_rom_instrument_must_be_known_and_scores_in_range():
    record = example()
    record["outcomes"]["rom"] = {"instrument": "XYZ", "pre": 1, "post": 2}
    assert pairs(errors_of(record)) == {(0, "outcomes.rom.instrument")}
    record["outcomes"]["rom"] = {"instrument": "SDQ", "pre": 41, "post": -1}
    errors = errors_of(record)
    assert pairs(errors) == {(0, "outcomes.rom.pre"), (0, "outcomes.rom.post")}
    assert reason(errors, "outcomes.rom.pre") == "must be a score from 0 to 40 for SDQ"
    # the deployment's own instrument list replaces the shipped one
    own = {"XYZ": RomInstrument(name="XYZ", sd=3.0, reliability=0.7, higher_is_better=True)}
    record["outcomes"]["rom"] = {"instrument": "XYZ", "pre": 1, "post": 2.5}
    assert errors_of(record, rom_instruments=own) == []
    record["outcomes"]["rom"] = {"instrument": "SDQ", "pre": 1, "post": 2}
    assert pairs(errors_of(record, rom_instruments=own)) == {(0, "outcomes.rom.instrument")}


def test_rom_needs_pre_and_post():
    record = example()
    record["outcomes"]["rom"] = {"instrument": "SDQ", "pre": 21}
    errors = errors_of(record)
    assert [(e.field, e.reason) for e in errors] == [("outcomes.rom.post", "is required")]


# -- JB / JR records -------------------------------------------------------------------------


def test_jb_and_jr_records_validate():
    jb = dict(JB_RECORD, continuation="scale_down", outcomes={
        "client_experience": {"mark": 6, "informant": "parent"},
        "threat": {"start": 9, "end": 3},
        "acceptance": {"goals": "yes", "role": "partly"},
    })
    jr = dict(JR_RECORD, outcomes={"lij_risk": {"start": 0, "end": 12}})
    records, errors = validate_records([jb, jr], today=TODAY)
    assert errors == []
    assert isinstance(records[0], JeugdbeschermingRecord)
    assert records[0].outcomes.acceptance.help is None
    assert isinstance(records[1], JeugdreclasseringRecord)
    assert records[1].measure_type == "JR"  # the default


def test_jb_end_reason_must_fit_the_measure_type():
    errors = errors_of(dict(JB_RECORD, end_reason="11"))
    assert [(e.field, e.reason) for e in errors] == [
        ("end_reason", 'must be one of "01", "02", "03", "04", "05", "06", "07" (end reasons of OTS)')
    ]
    assert errors_of(dict(JB_RECORD, measure_type="voogdij", end_reason="11")) == []
    errors = errors_of(dict(JR_RECORD, end_reason="01"))
    assert reason(errors, "end_reason") == 'must be one of "21", "22", "23", "24", "25" (end reasons of JR)'


def test_jb_jr_field_rules():
    errors = errors_of(
        dict(JB_RECORD, measure_type="JR"),
        dict(JB_RECORD, record_id="b", end_date=None, end_reason=None, continuation="scale_up"),
        dict(JB_RECORD, record_id="c", outcomes={"threat": {"start": 0, "end": 11}}),
        dict(JB_RECORD, record_id="d", outcomes={"acceptance": {"goals": "maybe"}}),
        dict(JR_RECORD, outcomes={"lij_risk": {"start": -1, "end": 2.0}}),
        dict(JR_RECORD, record_id="e", hulpvorm="02"),
        dict(JB_RECORD, record_id="f", outcomes={"satisfaction": {"mark": 7, "informant": "youth"}}),
    )
    assert pairs(errors) == {
        (0, "measure_type"),
        (1, "continuation"),
        (2, "outcomes.threat.start"),
        (2, "outcomes.threat.end"),
        (3, "outcomes.acceptance.goals"),
        (4, "outcomes.lij_risk.start"),
        (4, "outcomes.lij_risk.end"),
        (5, "hulpvorm"),
        (6, "outcomes.satisfaction"),
    }
    assert reason(errors, "measure_type") == 'must be one of "OTS", "voogdij"'
    assert reason(errors, "outcomes.lij_risk.start") == "must be an integer from 0 to 999"
    assert reason(errors, "hulpvorm") == NOT_NEEDED


def test_framework_errors():
    errors = errors_of({"record_id": "a"}, {"framework": "jeugdzorg"}, "not an object", None)
    assert [(e.index, e.field) for e in errors] == [(0, "framework"), (1, "framework"), (2, ""), (3, "")]
    assert errors[0].reason == 'is required: one of "jeugdhulp", "jeugdbescherming", "jeugdreclassering"'
    assert errors[1].reason == 'must be one of "jeugdhulp", "jeugdbescherming", "jeugdreclassering"'
    assert errors[2].reason == "must be an object: one record"


# -- batches ---------------------------------------------------------------------------------


def test_validate_records_lists_every_error_of_every_record():
    bad_mark = example(record_id="r1")
    bad_mark["outcomes"]["satisfaction"]["mark"] = 12
    several = example(record_id="r3", start_date="2025-05-01", end_date="2025-04-01", bsn="123456782")
    several["outcomes"]["goals"][1]["score"] = 5
    missing = {k: v for k, v in example(record_id="r4").items() if k not in ("pseudonym", "hulpvorm")}
    items = [example(record_id="r0"), bad_mark, example(record_id="r2"), several, missing,
             example(record_id="r0")]
    records, errors = validate_records(items, today=TODAY)
    assert [(e.index, e.field, e.reason) for e in errors] == [
        (1, "outcomes.satisfaction.mark", "must be an integer from 1 to 10"),
        (3, "end_date", "must not be before start_date"),
        (3, "outcomes.goals[1].score", "must be an integer from -2 to 2"),
        (3, "bsn", NOT_NEEDED),
        (4, "pseudonym", "is required"),
        (4, "hulpvorm", "is required"),
        (5, "record_id", "appears more than once in this batch (first at index 0)"),
    ]
    assert [r.record_id for r in records] == ["r0", "r2", "r0"]
    assert all(isinstance(e, RecordError) for e in errors)
    assert errors[0].as_dict() == {
        "index": 1, "field": "outcomes.satisfaction.mark", "reason": "must be an integer from 1 to 10"
    }


def test_error_reasons_never_repeat_the_submitted_value():
    secret = "Jansen-2011-03-04"
    record = example(municipality=secret, hulpvorm=secret, start_date=secret, name=secret)
    record["outcomes"]["rom"]["instrument"] = secret
    errors = errors_of(record)
    assert len(errors) == 5
    assert all(secret not in e.reason for e in errors)


def test_records_are_immutable_and_json_schema_builds():
    records, _ = validate_records([API_EXAMPLE], today=TODAY)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        records[0].hulpvorm = "01"
    schema = BatchBody.model_json_schema()
    assert schema["properties"]["records"]["maxItems"] == 10_000
    jeugdhulp = schema["$defs"]["JeugdhulpRecord"]
    assert jeugdhulp["additionalProperties"] is False
    assert jeugdhulp["properties"]["hulpvorm"]["enum"] == ["01", "02", "03", "04", "11", "12", "13", "14"]


# -- CSV -------------------------------------------------------------------------------------

CSV_HEADER = (
    "record_id,framework,pseudonym,consent_id,municipality,start_date,end_date,end_reason,"
    "hulpvorm,product_category,referrer,age_band,sex,"
    "outcomes.satisfaction.mark,outcomes.satisfaction.informant,"
    "outcomes.continue_without_help.code,outcomes.continue_without_help.informant,"
    "outcomes.rom.instrument,outcomes.rom.pre,outcomes.rom.post,"
    "outcomes.goals[0].score,outcomes.goals[0].weight,outcomes.goals[1].score,outcomes.goals[1].weight"
)
CSV_EXAMPLE_ROW = (
    "provider-unique-id,jeugdhulp,stage-1 pseudonym,...,GM0363,2025-01-06,2025-06-20,01,"
    "02,45,01,12-15,V,8,youth,04,parent,SDQ,21,12,1,,0,2"
)


def validated(items):
    records, errors = validate_records(items, today=TODAY)
    assert errors == []
    return records


def test_csv_twin_validates_to_the_same_record():
    rows = parse_csv(CSV_HEADER + "\n" + CSV_EXAMPLE_ROW + "\n")
    assert rows == [API_EXAMPLE]
    assert validated(rows) == validated([API_EXAMPLE])


def test_csv_from_dutch_excel():
    # semicolons, a byte-order mark, CRLF, leading zeros dropped, a decimal comma, blank lines
    header = CSV_HEADER.replace(",", ";")
    row = (
        "provider-unique-id;jeugdhulp;stage-1 pseudonym;...;GM0363;2025-01-06;2025-06-20;1;"
        "2;45;1;12-15;V;8;youth;4;parent;SDQ;21;12,0;1;;0;2"
    )
    text = "\ufeff" + header + "\r\n" + row + "\r\n;;;;\r\n\r\n"
    rows = parse_csv(text)
    assert len(rows) == 1
    assert validated(rows) == validated([API_EXAMPLE])


def test_csv_template_is_header_plus_example_and_parses_back():
    for framework in (None, "jeugdhulp", "jeugdbescherming", "jeugdreclassering"):
        text = csv_template(framework)
        lines = text.splitlines()
        assert len(lines) == 2
        assert tuple(lines[0].split(",")) == csv_columns(framework)
        assert parse_csv(text) == [EXAMPLE_RECORDS[framework or "jeugdhulp"]]
        validated(parse_csv(text))
    assert csv_columns() == CSV_COLUMNS
    assert set(CSV_REQUIRED_COLUMNS) <= set(csv_columns("jeugdbescherming"))


def test_csv_mixed_frameworks_in_the_full_template():
    jb = dict(zip(CSV_COLUMNS, [""] * len(CSV_COLUMNS), strict=True))
    jb.update({
        "record_id": "ots-1", "framework": "jeugdbescherming", "pseudonym": "p1", "consent_id": "c1",
        "municipality": "GM0014", "measure_type": "OTS", "start_date": "2024-02-01",
        "end_date": "2025-01-31", "end_reason": "1",
    })
    text = csv_template() + ",".join(jb.values()) + "\n"
    rows = parse_csv(text)
    assert rows[1] == JB_RECORD
    assert len(validated(rows)) == 2


def test_csv_errors_name_the_column():
    with pytest.raises(CsvFormatError, match="unknown column 'name'") as info:
        parse_csv(CSV_HEADER + ",name\n")
    assert info.value.column == "name"
    missing = CSV_HEADER.replace("end_reason,", "")
    with pytest.raises(CsvFormatError, match="column 'end_reason' is missing") as info:
        parse_csv(missing + "\n")
    assert info.value.column == "end_reason"
    with pytest.raises(CsvFormatError, match="'sex' appears more than once"):
        parse_csv(CSV_HEADER + ",sex\n")
    with pytest.raises(CsvFormatError, match="line 3 has 25 cells"):
        parse_csv(CSV_HEADER + "\n" + CSV_EXAMPLE_ROW + "\n" + CSV_EXAMPLE_ROW + ",x\n")
    with pytest.raises(CsvFormatError, match="empty"):
        parse_csv("")


def test_csv_cells_are_left_for_validation_to_judge():
    row = CSV_EXAMPLE_ROW.replace(",8,youth,", ",acht,youth,").replace(",1,,0,2", ",,,0,2")
    rows = parse_csv(CSV_HEADER + "\n" + row + "\n")
    assert rows[0]["outcomes"]["satisfaction"]["mark"] == "acht"
    assert rows[0]["outcomes"]["goals"] == [{}, {"score": 0, "weight": 2}]
    records, errors = validate_records(rows, today=TODAY)
    assert [(e.field, e.reason) for e in errors] == [
        ("outcomes.satisfaction.mark", "must be an integer from 1 to 10"),
        ("outcomes.goals[0].score", "is required"),
    ]


def test_csv_header_only_gives_no_rows():
    assert parse_csv(CSV_HEADER + "\n") == []


def _to_csv(record):
    flat = {}

    def walk(value, prefix):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}.{key}" if prefix else key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{prefix}[{i}]")
        elif value is not None:
            flat[prefix] = value

    walk(record, "")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    writer.writerow([str(flat.get(c, "")) for c in CSV_COLUMNS])
    return buffer.getvalue()


answer = st.one_of(st.none(), st.fixed_dictionaries({
    "mark": st.integers(1, 10), "informant": st.sampled_from(["youth", "parent"]),
}))
goal = st.fixed_dictionaries(
    {"score": st.integers(-2, 2)},
    optional={"weight": st.one_of(st.integers(1, 5), st.sampled_from([0.5, 1.5, 2.25]))},
)


@settings(max_examples=60, deadline=None)
@given(
    hulpvorm=st.sampled_from(list(load_codelists().hulpvorm)),
    end_reason=st.sampled_from(["01", "02", "03", "04", "05", "31", "32", "33", "34", "35"]),
    satisfaction=answer,
    goals=st.one_of(st.none(), st.lists(goal, min_size=1, max_size=5)),
    pre=st.integers(0, 40),
    post=st.one_of(st.integers(0, 40), st.sampled_from([12.5, 0.25])),
)
def test_csv_twin_property(hulpvorm, end_reason, satisfaction, goals, pre, post):
    record = example(hulpvorm=hulpvorm, end_reason=end_reason)
    outcomes = {"rom": {"instrument": "SDQ", "pre": pre, "post": post}}
    if satisfaction is not None:
        outcomes["satisfaction"] = satisfaction
    if goals is not None:
        outcomes["goals"] = goals
    record["outcomes"] = outcomes
    assert validated(parse_csv(_to_csv(record))) == validated([record])
