"""The analyst's pages and the provider's mirror report over real HTTP: what a person sees.

Data (tests/test_reports_api.py ``load_records``): Amsterdam (GM0363) has providers A (30 ended
trajectories), B (9: below the threshold of 10) and C (15) in the first half of last year;
provider A also has 12 in Utrecht. Every page is read by a logged-in person (password + TOTP),
and its figures are compared with what the API serves from the same release.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import db
from app.models import AuditEntry, ConsentRecord, OutcomeRecord
from app.reports.cut import ReportCellOut
from app.reports.registry import load_registry
from app.web import report_model
from tests.test_reports_api import PROVIDERS, load_records
from tests.test_web_login import login, make_account

STORY = "Wachtlijst in het eerste kwartaal door personeelstekort; de uitval lag daardoor hoger."

Client = Callable[[str, str], TestClient]


@pytest.fixture
def year() -> int:
    return date.today().year - 1


def load_note_and_publish(api: TestClient, token_for, publish) -> int:  # type: ignore[no-untyped-def]
    year = load_records(api, token_for, date.today().year - 1)
    story = api.post("/v1/notes", json={"municipality": "GM0363", "period": f"{year}-Q1", "text": STORY},
                     headers=token_for("provider", PROVIDERS["C"]))
    assert story.status_code == 201, story.text
    publish()
    return year


@pytest.fixture
def seed():  # type: ignore[no-untyped-def]
    return load_note_and_publish


@pytest.fixture
def loaded(seeded) -> int:  # type: ignore[no-untyped-def]
    """The records of ``load_records`` and provider C's note, published (once per worker, copied per test)."""
    return seeded


@pytest.fixture
def client_for(app: FastAPI, api: TestClient) -> Iterator[Client]:
    """A logged-in browser-like client per (org_type, org_id): its own cookies, one account each."""
    made: list[TestClient] = []

    def make(org_type: str, org_id: str) -> TestClient:
        client = TestClient(app, base_url="https://testserver")
        account = make_account(app, org_type, org_id, email=f"{org_type}-{org_id}-{len(made)}@example.nl")
        assert login(client, account).status_code == 303
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags out, entities decoded, whitespace folded."""
    body = re.sub(r"<(script|style|title|desc)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of table ``table_id`` as the cells' text."""
    found = re.search(rf'<table[^>]*id="{table_id}".*?<tbody[^>]*>(.*?)</tbody>', page, flags=re.S)
    assert found, f"no table {table_id}"
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), flags=re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
        rows.append([text_of(c) for c in cells])
    return rows


def csv_rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")), delimiter=";"))


def api_report(api: TestClient, token_for, path: str, **params: str) -> dict:  # type: ignore[no-untyped-def]
    response = api.get(path, params=params, headers=token_for("municipality", "GM0363"))
    assert response.status_code == 200, response.text
    return response.json()


# ---- the municipality's pages ------------------------------------------------------------------
def test_the_overview_shows_every_indicator_of_the_latest_release(
    api: TestClient, token_for, loaded: int, client_for: Client, app: FastAPI
) -> None:
    web = client_for("municipality", "GM0363")
    page = web.get("/gemeente/GM0363")
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert "Gemeente Amsterdam: jeugdhulp, " + str(loaded) in seen  # the latest period: the whole year
    for indicator in load_registry().for_framework("jeugdhulp"):
        assert indicator.name_nl in seen
    # the same figures, release and next date as the API's report of that period
    report = api_report(api, token_for, "/v1/reports/municipalities/GM0363", period=str(loaded))
    assert report["release"]["id"] in seen
    next_release = date.fromisoformat(report["release"]["next_release"])
    assert f"volgende publicatie is gepland op {next_release.day} " in seen
    dropout = next(c for c in report["cells"] if c["indicator"] == "1" and not c["dimensions"])
    row = next(r for r in table_rows(page.text, "overzicht") if r[0] == "Uitval")
    assert row[1] == report_model.number_nl(dropout["value"]) + "%"
    assert row[3] == str(dropout["denominator"])
    assert "minder dan 10" in seen
    # the provider's story, next to the figures
    assert STORY in seen and "Aanbieder " + PROVIDERS["C"] in seen
    # the page view is an audit entry naming the release, without figures
    with db.session_scope(app.state.runtime.sessions) as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "page.municipality.overview")
                                ).scalars().one()
        assert entry.result == "success" and entry.org_id == "GM0363"
        assert entry.detail is not None and entry.detail["release"] == report["release"]["id"]


def test_the_provider_breakdown_shows_withheld_cells_as_such_and_the_csv_is_the_table(
    api: TestClient, token_for, loaded: int, client_for: Client
) -> None:
    web = client_for("municipality", "GM0363")
    params = {"naar": "provider", "indicator": "1", "periode": str(loaded)}
    page = web.get("/gemeente/GM0363/uitsplitsing", params=params)
    assert page.status_code == 200, page.text
    rows = table_rows(page.text, "uitsplitsing")
    by_code = {r[0]: r for r in rows}
    small = by_code[f"Aanbieder {PROVIDERS['B']}"]  # 9 trajectories: withheld, not 0
    assert small[1] == "afgeschermd" and small[3] == ""
    assert "minder dan 10 personen" in small[5]
    assert not any(r[1] == "0" or r[1] == "0,0%" for r in rows if r[1] == "afgeschermd")
    # the API withholds the same cells
    report = api_report(api, token_for, "/v1/reports/municipalities/GM0363", period=str(loaded), by="provider")
    withheld = {c["dimensions"]["provider"] for c in report["cells"]
                if c["indicator"] == "1" and c["dimensions"] and c["suppressed"]}
    assert {code for code, r in zip(
        [PROVIDERS[k] for k in "ABC"], [by_code.get(f"Aanbieder {PROVIDERS[k]}") for k in "ABC"], strict=True)
        if r and r[1] == "afgeschermd"} == withheld
    # the CSV holds exactly the table's rows: the same labels, values (as numbers), counts and notes
    lines = csv_rows(web.get("/gemeente/GM0363/uitsplitsing", params={**params, "formaat": "csv"}))
    assert [line["Aanbieder"] for line in lines] == [r[0] for r in rows]
    for line, row in zip(lines, rows, strict=True):
        shown = row[1].removesuffix("%")
        assert line["Waarde"] == shown
        assert line["Aantal (noemer)"] == row[3] and line["Toelichting"] == row[5]
        assert line["Periode"] == str(loaded) and line["Publicatie"] == report["release"]["id"]
    # the other breakdowns render, each with its own categories
    for by, label in (("hulpvorm", "(03)"), ("sex", "Gemeente Amsterdam"), ("age_band", "Totaal"),
                      ("product_category", "Totaal")):
        other = web.get("/gemeente/GM0363/uitsplitsing", params={"naar": by, "periode": str(loaded)})
        assert other.status_code == 200 and label in text_of(other.text), by


def test_the_indicator_page_draws_the_periods_with_gaps_not_zeros(
    loaded: int, client_for: Client
) -> None:
    web = client_for("municipality", "GM0363")
    page = web.get("/gemeente/GM0363/indicator/1", params={"per": "kwartaal"})
    assert page.status_code == 200, page.text
    svg = re.search(r"<svg.*?</svg>", page.text, flags=re.S)
    assert svg, "no chart"
    chart = svg.group(0)
    assert 'role="img"' in chart and 'aria-labelledby="grafiek-1-titel grafiek-1-beschrijving"' in chart
    assert "<title id=\"grafiek-1-titel\">Uitval per kwartaal</title>" in chart
    assert "style=" not in chart and "<script" not in page.text
    rows = table_rows(page.text, "reeks")
    assert [r[0] for r in rows] == [f"{q}e kwartaal {loaded}" for q in range(1, 5)]
    # the second half-year has no trajectories: no point at 0, a labelled gap
    assert rows[2][1] in ("geen trajecten", "afgeschermd")
    assert rows[2][1] != "0" and rows[2][1] != "0,0%"
    assert chart.count("<circle") == sum(1 for r in rows if r[2])  # a point (with whisker) per shown value
    assert rows[2][1] in chart  # the gap says why, in the chart too
    year_page = web.get("/gemeente/GM0363/indicator/1", params={"per": "jaar"})
    assert [r[0] for r in table_rows(year_page.text, "reeks")] == [str(loaded)]
    lines = csv_rows(web.get("/gemeente/GM0363/indicator/1", params={"per": "kwartaal", "formaat": "csv"}))
    assert [line["Periode"] for line in lines] == [str(loaded)] * 4
    assert [line["Code"] for line in lines] == [f"{loaded}-Q{q}" for q in range(1, 5)]


def test_the_funnel_plot_lists_providers_by_code_and_says_it_is_no_league_table(
    api: TestClient, token_for, loaded: int, client_for: Client
) -> None:
    web = client_for("municipality", "GM0363")
    page = web.get("/gemeente/GM0363/aanbieders/1", params={"periode": f"{loaded}-H1"})
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert "Dit is geen ranglijst" in seen
    rows = table_rows(page.text, "aanbieders")
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # by AGB, never by rate
    report = api_report(api, token_for, "/v1/reports/municipalities/GM0363", period=f"{loaded}-H1", by="provider")
    cells = {c["dimensions"].get("provider", "total"): c for c in report["cells"] if c["indicator"] == "1"}
    total = cells.pop("total")
    from app.reports.statistics import funnel_position

    dots = 0
    for row in rows:
        cell = cells[row[0].removeprefix("Aanbieder ")]
        if cell["suppressed"]:
            assert row[1] == "" and row[2] == "afgeschermd" and "minder dan 10" in row[4] and "geen stip" in row[4]
            continue
        dots += 1
        expected = funnel_position(cell["value"] / 100, cell["denominator"], total["value"] / 100)
        assert row[4] == report_model.POSITION_NL[str(expected)]
    chart = re.search(r"<svg.*?</svg>", page.text, flags=re.S)
    assert chart and chart.group(0).count("<circle") == dots
    assert "95%-grens" in chart.group(0) and "99,8%-grens" in chart.group(0)
    lines = csv_rows(web.get("/gemeente/GM0363/aanbieders/1", params={"periode": f"{loaded}-H1", "formaat": "csv"}))
    assert [line["Aanbieder"] for line in lines] == [r[0] for r in rows]
    assert [line["Ligging"] for line in lines] == [r[4] if "stip" not in r[4] else "" for r in rows]
    # a mean mark has no funnel plot, and says why
    mark = web.get("/gemeente/GM0363/aanbieders/2", params={"periode": f"{loaded}-H1"})
    assert mark.status_code == 200 and "geen trechterdiagram" in text_of(mark.text)


def test_the_agenda_page_holds_the_providers_figures_story_and_questions(
    loaded: int, client_for: Client
) -> None:
    web = client_for("municipality", "GM0363")
    page = web.get(f"/gemeente/GM0363/gesprek/{PROVIDERS['C']}", params={"periode": f"{loaded}-H1"})
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert f"Gesprek over de cijfers: Gemeente Amsterdam en Aanbieder {PROVIDERS['C']}" in seen
    assert STORY in seen and "Vragen voor het gesprek" in seen and "Afspraken" in seen
    rows = table_rows(page.text, "gesprek-cijfers")
    assert rows[0][0] == "Uitval" and rows[0][2]  # the provider's figure (or "afgeschermd")
    assert '<link rel="stylesheet" href="/static/print.css" media="print">' in page.text
    # another provider's agenda carries no story of C
    other = web.get(f"/gemeente/GM0363/gesprek/{PROVIDERS['A']}", params={"periode": f"{loaded}-H1"})
    assert STORY not in text_of(other.text)


def test_a_period_not_yet_published_is_a_friendly_page(loaded: int, client_for: Client) -> None:
    web = client_for("municipality", "GM0363")
    this_year = date.today().year
    page = web.get("/gemeente/GM0363", params={"periode": f"{this_year}-Q4"})
    assert page.status_code == 409
    seen = text_of(page.text)
    assert "nog niet gepubliceerd" in seen and f"14 februari {this_year + 1}" in seen
    assert f"{loaded}" in seen  # what is published instead, as links
    assert "Traceback" not in page.text
    nothing = web.get("/gemeente/GM0363", params={"kader": "jeugdreclassering"})
    assert nothing.status_code == 409 and "Er zijn nog geen cijfers over jeugdreclassering" in text_of(nothing.text)


# ---- who may see what ------------------------------------------------------------------------
def test_another_municipality_a_provider_and_the_officer_cannot_open_the_pages(
    api: TestClient, loaded: int, client_for: Client, app: FastAPI
) -> None:
    amsterdam = client_for("municipality", "GM0363")
    for path in ("/gemeente/GM0344", "/gemeente/GM0344/uitsplitsing", "/gemeente/GM0344/indicator/1",
                 "/gemeente/GM0344/aanbieders/1", f"/gemeente/GM0344/gesprek/{PROVIDERS['A']}",
                 "/regio/amsterdam-amstelland", "/regio/friesland", f"/aanbieder/{PROVIDERS['A']}"):
        answer = amsterdam.get(path)
        assert answer.status_code in (403, 404), path
        assert "Utrecht" not in text_of(answer.text) or answer.status_code == 403
    assert amsterdam.get("/gemeente/GM0344").status_code == 404
    assert amsterdam.get(f"/aanbieder/{PROVIDERS['A']}").status_code == 403
    provider = client_for("provider", PROVIDERS["A"])
    for path in ("/gemeente/GM0363", "/gemeente/GM0363/uitsplitsing?naar=provider", "/regio/friesland"):
        assert provider.get(path).status_code == 403, path
    assert provider.get(f"/aanbieder/{PROVIDERS['B']}").status_code == 404
    officer = client_for("privacy_officer", "TTP")
    assert officer.get("/gemeente/GM0363").status_code == 403
    anonymous = TestClient(app, base_url="https://testserver")
    bounced = anonymous.get("/gemeente/GM0363", follow_redirects=False)
    assert bounced.status_code == 303 and bounced.headers["location"].startswith("/inloggen")


def test_no_page_shows_a_pseudonym_or_record_content(
    api: TestClient, loaded: int, client_for: Client, app: FastAPI
) -> None:
    with db.session_scope(app.state.runtime.sessions) as session:
        secrets = {p for p in session.execute(select(OutcomeRecord.pseudonym)).scalars()}
        secrets |= {p for p in session.execute(select(ConsentRecord.pseudonym)).scalars()}
    assert secrets
    web = client_for("municipality", "GM0363")
    provider = client_for("provider", PROVIDERS["A"])
    pages = [web.get(path, params={"periode": str(loaded)}) for path in (
        "/gemeente/GM0363", "/gemeente/GM0363/uitsplitsing", "/gemeente/GM0363/indicator/1",
        "/gemeente/GM0363/aanbieders/1", f"/gemeente/GM0363/gesprek/{PROVIDERS['C']}")]
    pages += [provider.get(path, params={"periode": str(loaded)}) for path in (
        f"/aanbieder/{PROVIDERS['A']}", f"/aanbieder/{PROVIDERS['A']}/uitsplitsing")]
    for page in pages:
        assert page.status_code == 200, page.url
        assert not any(s in page.text for s in secrets), page.url
        assert "r-" + "0-0" not in page.text  # a record id of the data
        assert "style=" not in page.text and "<script" not in page.text


# ---- the provider's mirror report --------------------------------------------------------------
def test_the_provider_reads_its_mirror_report_across_its_municipalities(
    api: TestClient, token_for, loaded: int, client_for: Client
) -> None:
    web = client_for("provider", PROVIDERS["A"])
    page = web.get(f"/aanbieder/{PROVIDERS['A']}", params={"periode": str(loaded)})
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert f"Aanbieder {PROVIDERS['A']}: jeugdhulp" in seen and "spiegelrapportage" in seen
    breakdown = web.get(f"/aanbieder/{PROVIDERS['A']}/uitsplitsing",
                        params={"naar": "municipality", "periode": str(loaded)})
    assert breakdown.status_code == 200
    labels = [r[0] for r in table_rows(breakdown.text, "uitsplitsing")]
    assert labels == ["Totaal", "Utrecht (GM0344)", "Amsterdam (GM0363)"]
    own = api.get(f"/v1/reports/providers/{PROVIDERS['A']}", params={"period": str(loaded)},
                  headers=token_for("provider", PROVIDERS["A"])).json()
    total = next(c for c in own["cells"] if c["indicator"] == "1" and not c["dimensions"])
    assert table_rows(breakdown.text, "uitsplitsing")[0][3] == str(total["denominator"])
    agenda = web.get(f"/aanbieder/{PROVIDERS['A']}/gesprek/GM0363", params={"periode": str(loaded)})
    assert agenda.status_code == 200
    assert f"Gesprek over de cijfers: Gemeente Amsterdam en Aanbieder {PROVIDERS['A']}" in text_of(agenda.text)
    chart = web.get(f"/aanbieder/{PROVIDERS['A']}/indicator/1", params={"per": "halfjaar"})
    assert chart.status_code == 200 and "<svg" in chart.text


# ---- a region ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_member_of_an_agreed_region_reads_the_region_by_municipality(
    api: TestClient, token_for, year: int, publish, client_for: Client
) -> None:
    from tests.test_records_api import Population, post
    from tests.test_reports_api import quarter_dates

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
    web = client_for("municipality", "GM0080")
    page = web.get("/regio/friesland", params={"periode": str(year)})
    assert page.status_code == 200, page.text
    assert "Regio Friesland: jeugdhulp" in text_of(page.text)
    by_municipality = web.get("/regio/friesland/uitsplitsing", params={"naar": "municipality", "periode": str(year)})
    rows = {r[0]: r for r in table_rows(by_municipality.text, "uitsplitsing")}
    assert rows["Heerenveen (GM0074)"][1] == "afgeschermd"
    assert "minder dan 10" in rows["Heerenveen (GM0074)"][5]
    funnel = web.get("/regio/friesland/aanbieders/1", params={"periode": str(year)})
    assert funnel.status_code == 200 and "Dit is geen ranglijst" in text_of(funnel.text)
    # Amsterdam is not a member
    assert client_for("municipality", "GM0363").get("/regio/friesland").status_code == 404


# ---- the rows themselves ---------------------------------------------------------------------------
def test_a_withheld_cell_is_a_row_that_says_so_and_never_zero() -> None:
    indicator = next(i for i in load_registry().indicators if i.id == "1")
    row = report_model.row_of(ReportCellOut(dimensions={}, indicator="1", suppressed=True, threshold=15),
                              indicator, label="Aanbieder 1", code="1")
    assert (row.value_text, row.n_text, row.ci_text) == ("afgeschermd", "", "")
    assert "minder dan 15 personen" in row.note
    text = report_model.csv_text([row], first_column="Aanbieder")
    line = next(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert line["Waarde"] == "afgeschermd" and line["Aantal (noemer)"] == "" and "minder dan 15" in line["Toelichting"]
    shown = report_model.row_of(ReportCellOut(dimensions={}, indicator="1", suppressed=False, denominator=40,
                                              numerator=10, value=25.0, ci_low=14.2, ci_high=40.2, threshold=10),
                                indicator, label="Totaal", code="totaal")
    assert (shown.value_text, shown.ci_text, shown.n_text) == ("25,0%", "14,2 – 40,2%", "40")
    banded = report_model.row_of(ReportCellOut(dimensions={}, indicator="1", suppressed=False, denominator=40,
                                               band="<= 5.3%", threshold=10), indicator, label="x", code="x")
    assert banded.value_text == "hoogstens 5,3%"


# ---- JB/JR: the process context beside the figures --------------------------------------------------
@pytest.mark.slow
def test_jb_figures_show_the_institutions_process_context_and_its_mirror_opens_on_jb(
    api: TestClient, token_for, year: int, publish, client_for: Client, app: FastAPI
) -> None:
    import copy

    from app.records.schemas import EXAMPLE_RECORDS
    from app.reports import process_context
    from app.reports.periods import Period
    from tests.test_records_api import Population, post
    from tests.test_reports_api import quarter_dates

    institution = "40000007"
    headers = token_for("provider", institution)
    people = Population(api, headers)
    records = []
    for n in range(14):
        record = copy.deepcopy(EXAMPLE_RECORDS["jeugdbescherming"])
        pseudonym, consent_id = people.person(5000 + n, "GM0363")
        start, end = quarter_dates(year, 1, n)
        record.update(record_id=f"jb-{n}", pseudonym=pseudonym, consent_id=consent_id, municipality="GM0363",
                      start_date=start, end_date=end)
        records.append(record)
    assert post(api, headers, records).status_code == 200
    context_text = "Veel wisselingen van jeugdbeschermer door verloop in het team."
    with app.state.runtime.sessions() as session:
        process_context.save(session, provider_id=institution, municipality="GM0363",
                             period=Period.parse(f"{year}-Q1"), fields={"working_relationship": context_text})
        session.commit()
    publish()
    web = client_for("municipality", "GM0363")
    page = web.get("/gemeente/GM0363", params={"kader": "jeugdbescherming", "periode": str(year)})
    assert page.status_code == 200, page.text
    seen = text_of(page.text)
    assert "Context van het proces (JB/JR)" in seen and "Werkrelatie" in seen and context_text in seen
    agenda = web.get(f"/gemeente/GM0363/gesprek/{institution}",
                     params={"kader": "jeugdbescherming", "periode": str(year)})
    assert context_text in text_of(agenda.text)
    assert "samenwerking in de keten" in text_of(agenda.text)  # the JB/JR questions
    # jeugdhulp figures carry no JB/JR context
    jeugdhulp = web.get("/gemeente/GM0363", params={"periode": str(year), "kader": "jeugdhulp"})
    assert jeugdhulp.status_code == 409 and context_text not in text_of(jeugdhulp.text)
    # without a chosen framework the page opens on the one that has figures (here only JB)
    assert "Gemeente Amsterdam: jeugdbescherming" in text_of(web.get("/gemeente/GM0363").text)
    # the institution's mirror report opens on its own framework, not on an empty jeugdhulp page
    mirror = client_for("provider", institution).get(f"/aanbieder/{institution}")
    assert mirror.status_code == 200, mirror.text
    assert f"Aanbieder {institution}: jeugdbescherming" in text_of(mirror.text)
    assert context_text in text_of(mirror.text)


def test_charts_escape_their_text_and_carry_no_style_or_script() -> None:
    from app.web import charts

    hostile = '<script>alert(1)</script>" onload="x'
    chart = charts.period_chart("c", hostile, hostile, [charts.PeriodPoint(hostile, "shown", 20.0, 10.0, 30.0),
                                                        charts.PeriodPoint("2025-Q2", "suppressed")],
                                charts.PERCENT, "percentage")
    funnel = charts.funnel_chart("f", hostile, hostile, 0.2, [charts.FunnelPoint(hostile, 50, 0.3)])
    for svg in (str(chart), str(funnel)):
        assert "<script" not in svg and 'onload="' not in svg and "style=" not in svg
        assert "&lt;script&gt;" in svg
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    assert "afgeschermd" in str(chart)  # the withheld period is a labelled gap
