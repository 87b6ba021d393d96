"""Reports over HTTP: who reads what, JSON and CSV, notes, and that small cells never show."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from tests.test_http_conventions import assert_problem
from tests.test_records_api import Population, post

PROVIDERS = {"A": "40000001", "B": "40000002", "C": "40000003"}


def quarter_dates(year: int, quarter: int, offset: int) -> tuple[str, str]:
    start = date(year, 3 * quarter - 2, 1) - timedelta(days=60 + offset % 7)
    end = date(year, 3 * quarter - 2, 5) + timedelta(days=offset % 40)
    return start.isoformat(), end.isoformat()


@pytest.fixture
def year() -> int:
    return date.today().year - 1


def load_and_publish(api, token_for, publish) -> int:  # type: ignore[no-untyped-def]
    year = load_records(api, token_for, date.today().year - 1)
    publish()
    return year


@pytest.fixture
def seed():  # type: ignore[no-untyped-def]
    return load_and_publish


@pytest.fixture
def loaded(seeded) -> int:  # type: ignore[no-untyped-def]
    """The data of :func:`load_records`, published (loaded once per worker, copied per test)."""
    return seeded


def load_records(api, token_for, year):  # type: ignore[no-untyped-def]
    """Amsterdam (GM0363, no regional agreement): provider A 30, B 9 (below 10), C 15 ended
    trajectories in the first two quarters of last year; provider A also 12 in Utrecht."""
    plan = {"A": [("GM0363", 30), ("GM0344", 12)], "B": [("GM0363", 9)], "C": [("GM0363", 15)]}
    person = 0
    for name, places in plan.items():
        headers = token_for("provider", PROVIDERS[name])
        people = Population(api, headers)
        records = []
        for municipality, count in places:
            for i in range(count):
                start, end = quarter_dates(year, 1 + i % 2, i)
                records.append(people.record(
                    person, municipality=municipality, start_date=start, end_date=end,
                    end_reason="03" if i % 4 == 0 else "01", hulpvorm="02" if i % 3 else "03",
                ))
                person += 1
        assert post(api, headers, records).status_code == 200
    return year


def test_a_municipality_reads_its_own_report_in_json_and_csv(api, token_for, loaded) -> None:
    headers = token_for("municipality", "GM0363")
    response = api.get("/v1/reports/municipalities/GM0363", params={"period": str(loaded), "by": "provider"},
                       headers=headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["unit"] == {"type": "municipality", "id": "GM0363", "name": "Amsterdam"}
    assert report["threshold"] == 10
    dropout = [c for c in report["cells"] if c["indicator"] == "1"]
    total = next(c for c in dropout if c["dimensions"] == {})
    assert not total["suppressed"] and total["denominator"] == 55  # 54 rounded to a multiple of 5
    by_provider = {c["dimensions"]["provider"]: c for c in dropout if c["dimensions"]}
    assert by_provider[PROVIDERS["B"]]["suppressed"]
    small = by_provider[PROVIDERS["B"]]
    assert small["denominator"] is None and small["numerator"] is None and small["value"] is None
    assert small["ci_low"] is None and small["ci_high"] is None and small["reason"]
    # B (9) must not be recomputable from the total and the others: at least one more is withheld.
    assert sum(c["suppressed"] for c in by_provider.values()) >= 2

    as_csv = api.get("/v1/reports/municipalities/GM0363", params={"period": str(loaded), "by": "provider"},
                     headers={**headers, "Accept": "text/csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == len(report["cells"])
    b_row = next(r for r in rows if r["indicator"] == "1" and r["category"] == PROVIDERS["B"])
    assert b_row["suppressed"] == "yes" and b_row["denominator"] == "" and b_row["value"] == ""


@pytest.mark.slow
def test_another_municipality_and_unagreed_regions_are_404(api, token_for, loaded) -> None:
    headers = token_for("municipality", "GM0363")
    assert_problem(api.get("/v1/reports/municipalities/GM0344", params={"period": str(loaded)}, headers=headers),
                   404)
    assert_problem(api.get("/v1/reports/regions/amsterdam-amstelland", params={"period": str(loaded)},
                           headers=headers), 404)  # Amsterdam-Amstelland did not agree
    friesland = token_for("municipality", "GM0080")  # Leeuwarden: Friesland agreed
    assert_problem(api.get("/v1/reports/regions/amsterdam-amstelland", params={"period": str(loaded)},
                           headers=friesland), 404)
    provider = token_for("provider", PROVIDERS["A"])
    assert_problem(api.get("/v1/reports/municipalities/GM0363", params={"period": str(loaded)}, headers=provider),
                   403)


@pytest.mark.slow
def test_a_member_of_an_agreed_region_reads_the_region_cut_from_the_same_release(
    api, token_for, year, publish
) -> None:
    """Friesland agreed to regional reports: Leeuwarden reads the region, by municipality. The
    small member (Heerenveen, 6) is withheld, and Leeuwarden's own report shows exactly what the
    region report shows of Leeuwarden: both come from one protected release."""
    provider = token_for("provider", PROVIDERS["A"])
    people = Population(api, provider)
    records, person = [], 2000
    for municipality, count in (("GM0080", 30), ("GM1900", 22), ("GM0074", 6)):
        for i in range(count):
            start, end = quarter_dates(year, 1 + i % 2, i)
            records.append(people.record(person, municipality=municipality, start_date=start, end_date=end,
                                         end_reason="03" if i % 4 == 0 else "01"))
            person += 1
    assert post(api, provider, records).status_code == 200
    publish()

    leeuwarden = token_for("municipality", "GM0080")
    params = {"period": str(year), "by": "municipality"}
    region = api.get("/v1/reports/regions/friesland", params=params, headers=leeuwarden)
    assert region.status_code == 200, region.text
    body = region.json()
    assert body["unit"] == {"type": "region", "id": "friesland", "name": "Friesland"}
    dropout = {c["dimensions"].get("municipality", "region"): c for c in body["cells"] if c["indicator"] == "1"}
    assert dropout["GM0074"]["suppressed"] and dropout["GM0074"]["denominator"] is None
    assert not dropout["region"]["suppressed"] and dropout["region"]["denominator"] == 60  # 58, rounded
    # 6 must not be the region minus the others: another member is withheld too
    assert sum(dropout[m]["suppressed"] for m in ("GM0080", "GM1900", "GM0074")) >= 2

    own = api.get("/v1/reports/municipalities/GM0080", params={"period": str(year)}, headers=leeuwarden).json()
    own_total = next(c for c in own["cells"] if c["indicator"] == "1" and not c["dimensions"])
    in_region = {k: v for k, v in dropout["GM0080"].items() if k != "dimensions"}
    assert {k: v for k, v in own_total.items() if k != "dimensions"} == in_region
    assert own["as_of"] == body["as_of"] and own["release"] == body["release"]

    # not a member: no region report; a member still cannot read a fellow member's report
    amsterdam = token_for("municipality", "GM0363")
    assert_problem(api.get("/v1/reports/regions/friesland", params=params, headers=amsterdam), 404)
    assert_problem(api.get("/v1/reports/municipalities/GM1900", params={"period": str(year)}, headers=leeuwarden),
                   404)


@pytest.mark.slow
def test_a_provider_reads_only_its_own_figures(api, token_for, loaded) -> None:
    headers = token_for("provider", PROVIDERS["A"])
    own = api.get(f"/v1/reports/providers/{PROVIDERS['A']}", params={"period": str(loaded), "by": "municipality"},
                  headers=headers)
    assert own.status_code == 200, own.text
    cells = [c for c in own.json()["cells"] if c["indicator"] == "1"]
    municipalities = {c["dimensions"].get("municipality") for c in cells if c["dimensions"]}
    assert municipalities == {"GM0363", "GM0344"}
    total = next(c for c in cells if not c["dimensions"])
    assert total["denominator"] == 40  # 42 of A's own, rounded; nothing of B or C
    assert_problem(api.get(f"/v1/reports/providers/{PROVIDERS['B']}", params={"period": str(loaded)},
                           headers=headers), 404)


@pytest.mark.slow
def test_bad_query_is_a_400_naming_the_parameter(api, token_for, loaded) -> None:
    headers = token_for("municipality", "GM0363")
    body = assert_problem(api.get("/v1/reports/municipalities/GM0363", params={"period": "2025-Q5", "by": "bsn"},
                                  headers=headers), 400)
    assert {e["field"] for e in body["errors"]} == {"query.period", "query.by"}


@pytest.mark.slow
def test_notes_appear_in_reports_of_that_provider_and_period(api, token_for, loaded) -> None:
    provider = token_for("provider", PROVIDERS["C"])
    note = {"municipality": "GM0363", "period": f"{loaded}-Q1",
            "text": "Wachtlijst in Q1 door personeelstekort; uitval daardoor hoger."}
    saved = api.post("/v1/notes", json=note, headers=provider)
    assert saved.status_code == 201, saved.text
    municipality = token_for("municipality", "GM0363")
    year_report = api.get("/v1/reports/municipalities/GM0363", params={"period": str(loaded)}, headers=municipality)
    assert [n["text"] for n in year_report.json()["notes"]] == [note["text"]]
    q3 = api.get("/v1/reports/municipalities/GM0363", params={"period": f"{loaded}-Q3"}, headers=municipality)
    assert q3.json()["notes"] == []
    assert_problem(api.post("/v1/notes", json=note, headers=municipality), 403)


def test_indicator_registry(api) -> None:
    registry = api.get("/v1/indicators").json()
    ids = {i["id"] for i in registry}
    assert {"1", "2", "3.1", "3.2", "3.3", "3.4", "jbjr.experience", "jr.risk"} <= ids
    dropout = next(i for i in registry if i["id"] == "1")
    assert dropout["name_nl"] == "Uitval" and dropout["reads"] == "share"


@pytest.mark.slow
def test_a_period_before_its_first_release_is_a_409_with_the_date(api, token_for, loaded) -> None:
    headers = token_for("municipality", "GM0363")
    this_year = date.today().year
    response = api.get("/v1/reports/municipalities/GM0363", params={"period": f"{this_year}-Q4"}, headers=headers)
    body = assert_problem(response, 409)
    assert body["type"] == "urn:outcome-ttp:problem:not-yet-published"
    assert f"first published on {this_year + 1}-02-14" in body["detail"]  # Q4 ends 31 December; 45 days later


@pytest.mark.slow
def test_each_release_logs_how_many_cells_were_withheld_and_no_counts(api, token_for, year, publish) -> None:
    import json
    import logging

    from app.observability import JsonFormatter

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    loaded = load_records(api, token_for, year)
    logger = logging.getLogger("ttp.reports")
    handler = Keep()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        publish()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    logged = [json.loads(line) for line in lines if "disclosure control applied" in line]
    dropout = next(entry for entry in logged if entry["indicator"] == "1" and entry["family"].endswith("GM0363"))
    assert dropout["family"] == "municipality:GM0363" and dropout["year"] == loaded
    figures = dropout["disclosure"]
    assert figures["primary"] >= 1 and figures["check_ok"] is True
    assert set(figures) >= {"cells", "secondary", "added_by_perturbation", "added_by_release_check"}
    assert not any(key in figures for key in ("denominator", "numerator", "value"))


@pytest.mark.slow
def test_no_suppressed_cell_can_be_narrowed_from_everything_the_party_can_pull(
    api, token_for, loaded
) -> None:
    """Pull every report the municipality may obtain for the year (every period, every breakdown),
    then, as the reader would, bound every suppressed denominator by linear programming over the
    additive relations it knows (breakdowns add up to totals; quarters to half-years to the year)
    and the published (rounded) counts. No primary cell may come out narrower than its threshold,
    and no suppressed cell may be pinned down exactly."""
    import numpy as np
    from scipy.optimize import linprog

    headers = token_for("municipality", "GM0363")
    year = str(loaded)
    periods = [year, f"{year}-H1", f"{year}-H2", *(f"{year}-Q{q}" for q in range(1, 5))]
    dims = ["provider", "hulpvorm", "product_category", "age_band", "sex"]
    published: dict[tuple[str, str, str], int | None] = {}
    rounding = 0
    for period in periods:
        for by in [None, *dims]:
            params = {"period": period, **({"by": by} if by else {})}
            report = api.get("/v1/reports/municipalities/GM0363", params=params, headers=headers).json()
            rounding = report["rounding_base"]
            for cell in report["cells"]:
                if cell["indicator"] != "1":
                    continue
                dim, category = next(iter(cell["dimensions"].items()), ("total", ""))
                key = (period, dim, category)
                value = None if cell["suppressed"] else cell["denominator"]
                assert published.get(key, value) == value, f"{key} differs between reports"
                published[key] = value
    suppressed = [k for k, v in published.items() if v is None]
    assert suppressed, "the data has a cell below the threshold: something must be suppressed"

    index = {k: i for i, k in enumerate(sorted(published))}
    rows = []
    for period in periods:
        for dim in dims:
            parts = [index[k] for k in index if k[0] == period and k[1] == dim]
            if parts and (period, "total", "") in index:
                rows.append(([index[(period, "total", "")]], parts))
    categories = {(k[1], k[2]) for k in index}
    for dim, category in categories:
        for whole, halves in ((year, [f"{year}-H1", f"{year}-H2"]), (f"{year}-H1", [f"{year}-Q1", f"{year}-Q2"]),
                              (f"{year}-H2", [f"{year}-Q3", f"{year}-Q4"])):
            keys = [(p, dim, category) for p in (whole, *halves)]
            if all(k in index for k in keys):
                rows.append(([index[keys[0]]], [index[k] for k in keys[1:]]))
    a_eq = np.zeros((len(rows), len(index)))
    for r, (total, parts) in enumerate(rows):
        a_eq[r, total[0]] -= 1
        for p in parts:
            a_eq[r, p] += 1
    half = rounding // 2
    bounds = [(max(0, v - half), v + half) if (v := published[k]) is not None else (0, None) for k in sorted(published)]
    truth = _true_amsterdam_denominators(year)
    primary = [k for k in suppressed if 0 < truth.get(k, 0) < 10]
    assert (year, "provider", PROVIDERS["B"]) in primary
    for key in suppressed:
        c = np.zeros(len(index))
        c[index[key]] = 1
        low = linprog(c, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        assert low.status == 0
        width = (-high.fun if high.status == 0 else float("inf")) - low.fun
        needed = 10 if key in primary else 1
        assert width >= needed, f"suppressed cell {key} can be narrowed to [{low.fun:.1f}, {-high.fun:.1f}]"


FRIESLAND_PLAN = {  # municipality -> [(provider, ended trajectories)]
    "GM0080": [("A", 20), ("B", 11)],  # Leeuwarden, the reader
    "GM1900": [("A", 22)],
    "GM0074": [("B", 6)],
    "GM0059": [("A", 8), ("B", 5)],
}


@pytest.mark.slow
def test_a_region_member_cannot_narrow_any_suppressed_cell_from_everything_it_can_pull(
    api, token_for, year, publish
) -> None:
    """Leeuwarden pulls every Friesland region report (every period, every breakdown, and by
    municipality) and every report of its own, then bounds each withheld count by linear
    programming over what it knows: breakdowns add up to totals, quarters to half-years to the
    year, the region is Leeuwarden plus the other members (their breakdowns unknown, only their
    totals published), and shown counts are rounded. No primary cell may come out narrower than
    its threshold, and no withheld cell may be pinned down."""
    import numpy as np
    from scipy.optimize import linprog

    truth: dict[tuple[str, str, str, str], int] = {}  # (unit, period, dimension, category) -> ended
    person = 3000
    for name in ("A", "B"):
        provider = token_for("provider", PROVIDERS[name])
        people = Population(api, provider)
        records = []
        for municipality, plan in FRIESLAND_PLAN.items():
            count = dict(plan).get(name, 0)
            for i in range(count):
                quarter = 1 + i % 2
                start, end = quarter_dates(year, quarter, i)
                hulpvorm = "02" if i % 3 else "03"
                records.append(people.record(person, municipality=municipality, start_date=start, end_date=end,
                                             end_reason="03" if i % 4 == 0 else "01", hulpvorm=hulpvorm))
                person += 1
                lines = [("total", ""), ("provider", PROVIDERS[name]), ("hulpvorm", hulpvorm)]
                for unit in {municipality, "friesland"}:
                    for period in (str(year), f"{year}-H1", f"{year}-Q{quarter}"):
                        for dim, category in lines:
                            key = (unit, period, dim, category)
                            truth[key] = truth.get(key, 0) + 1
                if municipality != "GM0080":
                    for period in (str(year), f"{year}-H1", f"{year}-Q{quarter}"):
                        truth[("rest", period, "total", "")] = truth.get(("rest", period, "total", ""), 0) + 1
        if records:
            assert post(api, provider, records).status_code == 200
    publish()

    headers = token_for("municipality", "GM0080")
    periods = [str(year), f"{year}-H1", f"{year}-H2", *(f"{year}-Q{q}" for q in range(1, 5))]
    dims = ["provider", "hulpvorm", "product_category", "age_band", "sex"]
    published: dict[tuple[str, str, str, str], int | None] = {}
    rounding = 0
    for unit, path, extra in (("friesland", "/v1/reports/regions/friesland", ["municipality"]),
                              ("GM0080", "/v1/reports/municipalities/GM0080", [])):
        for period in periods:
            for by in [None, *dims, *extra]:
                response = api.get(path, params={"period": period, **({"by": by} if by else {})}, headers=headers)
                assert response.status_code == 200, response.text
                report = response.json()
                rounding = report["rounding_base"]
                for cell in report["cells"]:
                    if cell["indicator"] != "1":
                        continue
                    dim, category = next(iter(cell["dimensions"].items()), ("total", ""))
                    key = (category, period, "total", "") if dim == "municipality" else (unit, period, dim, category)
                    value = None if cell["suppressed"] else cell["denominator"]
                    assert published.get(key, value) == value, f"{key} differs between reports"
                    published[key] = value
    withheld = [k for k, v in published.items() if v is None]
    assert any(0 < truth.get(k, 0) < 10 for k in withheld), "a cell below the threshold must be withheld"

    # the reader's unknowns: everything published or withheld, and the rest of the region
    # (the other members together) per period, dimension and category
    lines = {(k[2], k[3]) for k in published if k[0] in ("friesland", "GM0080")}
    variables = set(published)
    variables |= {("rest", p, d, c) for p in periods for d, c in lines}
    index = {k: i for i, k in enumerate(sorted(variables))}
    rows: list[dict[int, float]] = []

    def relation(total, parts) -> None:
        if total in index and all(p in index for p in parts):
            row = {index[total]: -1.0}
            for p in parts:
                row[index[p]] = row.get(index[p], 0.0) + 1.0
            rows.append(row)

    for unit in ("friesland", "GM0080", "rest"):
        for period in periods:
            for dim in dims:
                relation((unit, period, "total", ""),
                         [k for k in index if k[:3] == (unit, period, dim)])
        for dim, category in lines:
            for whole, parts in ((str(year), [f"{year}-H1", f"{year}-H2"]),
                                 (f"{year}-H1", [f"{year}-Q1", f"{year}-Q2"]),
                                 (f"{year}-H2", [f"{year}-Q3", f"{year}-Q4"])):
                relation((unit, whole, dim, category), [(unit, p, dim, category) for p in parts])
    members = [m for m in FRIESLAND_PLAN if m != "GM0080"]
    for period in periods:
        for dim, category in lines:
            relation(("friesland", period, dim, category),
                     [("GM0080", period, dim, category), ("rest", period, dim, category)])
        relation(("rest", period, "total", ""), [(m, period, "total", "") for m in members])
    for member in members:
        for whole, parts in ((str(year), [f"{year}-H1", f"{year}-H2"]), (f"{year}-H1", [f"{year}-Q1", f"{year}-Q2"]),
                             (f"{year}-H2", [f"{year}-Q3", f"{year}-Q4"])):
            relation((member, whole, "total", ""), [(member, p, "total", "") for p in parts])
    a_eq = np.zeros((len(rows), len(index)))
    for r, row in enumerate(rows):
        for column, value in row.items():
            a_eq[r, column] = value
    half = rounding // 2
    bounds = []
    for key in sorted(index):
        value = published.get(key)
        if value is not None:
            bounds.append((max(0, value - half), value + half))
        else:  # withheld (known not to be empty) or the unpublished rest of the region
            bounds.append((1 if key in published else 0, None))
    checked = 0
    for key in withheld:
        c = np.zeros(len(index))
        c[index[key]] = 1
        low = linprog(c, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        high = linprog(-c, A_eq=a_eq, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        assert low.status == 0, key
        width = (-high.fun if high.status == 0 else float("inf")) - low.fun
        needed = 10 if 0 < truth.get(key, 0) < 10 else 1
        assert width >= needed, f"withheld cell {key} can be narrowed to [{low.fun:.1f}, {-high.fun:.1f}]"
        checked += 1
    assert checked >= 2


def _true_amsterdam_denominators(year: str) -> dict[tuple[str, str, str], int]:
    """The ended trajectories per report cell in Amsterdam, as the `loaded` fixture made them."""
    truth: dict[tuple[str, str, str], int] = {}
    for name, count in (("A", 30), ("B", 9), ("C", 15)):
        for i in range(count):
            quarter = 1 + i % 2
            periods = (year, f"{year}-H1", f"{year}-Q{quarter}")
            cells = [("total", ""), ("provider", PROVIDERS[name]), ("hulpvorm", "02" if i % 3 else "03"),
                     ("product_category", "45"), ("age_band", "12-15"), ("sex", "V")]
            for period in periods:
                for dim, category in cells:
                    truth[(period, dim, category)] = truth.get((period, dim, category), 0) + 1
    return truth


def test_mean_mark_interval_and_response_rate_against_hand_computation(api, token_for, year, publish) -> None:
    """Groningen (GM0014): 20 ended trajectories, 16 answered with marks 5..9 (four each), 4 not."""
    headers = token_for("provider", PROVIDERS["A"])
    people = Population(api, headers)
    records = []
    for i in range(20):
        start, end = quarter_dates(year, 1, i)
        record = people.record(1000 + i, municipality="GM0014", start_date=start, end_date=end)
        record["outcomes"] = {"satisfaction": {"mark": 5 + i % 5, "informant": "youth"}} if i < 16 else {}
        if i >= 16:
            record.pop("outcomes")
        records.append(record)
    # i < 16 gives marks 5,6,7,8,9 with i % 5: counts 4,3,3,3,3 (i = 0..15)
    assert post(api, headers, records).status_code == 200
    publish()
    report = api.get("/v1/reports/municipalities/GM0014", params={"period": f"{year}-Q1"},
                     headers=token_for("municipality", "GM0014")).json()
    mean = next(c for c in report["cells"] if c["indicator"] == "2" and not c["dimensions"])
    marks = [5 + i % 5 for i in range(16)]
    expected_mean = sum(marks) / 16  # 6.8125
    sd = (sum((m - expected_mean) ** 2 for m in marks) / 15) ** 0.5
    half = 2.131449545559323 * sd / 16 ** 0.5  # t(0.975, 15)
    assert not mean["suppressed"]
    # counts are rounded to multiples of 5, so the mean and its interval are shown with one decimal
    assert mean["value"] == round(expected_mean, 1)
    assert mean["ci_low"] == round(expected_mean - half, 1) and mean["ci_high"] == round(expected_mean + half, 1)
    assert mean["responses"] == 15  # 16, shown rounded to a multiple of 5
    assert mean["response_rate"] == 75.0  # from the shown counts: 15 of 20 (exactly: 16 of 20)
    share = next(c for c in report["cells"] if c["indicator"] == "2.satisfied" and not c["dimensions"])
    assert share["numerator"] == 10 and share["denominator"] == 15  # 9 of 16, rounded
    assert share["value"] == round(100 * 10 / 15, 1)  # from the shown counts, not 9 / 16


def test_with_rounding_no_shown_figure_narrows_the_counts_beyond_the_rounding(api, token_for, loaded) -> None:
    """Counts are shown rounded to multiples of 5. Every share, interval and response rate must
    follow from the shown counts alone, so that every integer pair (d, n) in the rounding box of a
    cell stays possible. Had the share been computed from the exact counts (as before releases),
    the attacker would keep only the pairs whose exact share matches: for some cell of this data
    that narrows the box, which the last assertion shows."""
    from app.reports.statistics import wilson

    def rounded(x: int) -> int:
        return ((2 * x + 5) // 10) * 5

    headers = token_for("municipality", "GM0363")
    narrowed_by_exact_share = 0
    checked = 0
    for period in (str(loaded), f"{loaded}-H1", f"{loaded}-Q1", f"{loaded}-Q2"):
        for by in (None, "provider", "hulpvorm", "sex"):
            report = api.get("/v1/reports/municipalities/GM0363",
                             params={"period": period, **({"by": by} if by else {})}, headers=headers).json()
            population = {tuple(c["dimensions"].items()): c for c in report["cells"] if c["indicator"] == "1"}
            for cell in report["cells"]:
                if cell["suppressed"] or cell["numerator"] is None:
                    continue
                d, n = cell["denominator"], cell["numerator"]
                assert cell["value"] == round(100 * n / d, 1), cell
                interval = wilson(n, d)
                assert (cell["ci_low"], cell["ci_high"]) == (round(100 * interval.low, 1),
                                                            round(100 * interval.high, 1)), cell
                if cell["response_rate"] is not None:
                    everyone = population[tuple(cell["dimensions"].items())]["denominator"]
                    assert cell["response_rate"] == round(100 * cell["responses"] / everyone, 1), cell
                box = [(dd, nn) for dd in range(max(1, d - 2), d + 3) for nn in range(max(0, n - 2), n + 3)
                       if nn <= dd and rounded(dd) == d and rounded(nn) == n]
                assert box, cell
                exact_reading = [(dd, nn) for dd, nn in box if round(100 * nn / dd, 1) == cell["value"]]
                narrowed_by_exact_share += len(exact_reading) < len(box)
                checked += 1
    assert checked >= 10
    assert narrowed_by_exact_share > 0  # what a share from the exact counts would have given away
