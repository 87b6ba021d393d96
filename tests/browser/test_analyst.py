"""A municipality analyst in real Chromium: log in (password + TOTP), the overview, a chart over
the periods, the funnel plot, a breakdown with a withheld cell, the CSV download. Each step
asserts what the person sees, runs axe (WCAG 2.1 A/AA) and takes a screenshot for docs/."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import INDICATOR, MUNICIPALITY, PROVIDER, REGION


def test_an_analyst_reads_the_figures_the_chart_the_funnel_a_breakdown_and_downloads_the_csv(
    page: Any, login_as: Callable[[Any, str], None], check_accessibility: Callable[[Any], None],
    screenshot: Callable[[Any, str], Any],
) -> None:
    login_as(page, "gemeente")
    expect(page).to_have_url(re.compile(rf"/gemeente/{MUNICIPALITY}$"))

    # the overview: every indicator, the release it comes from and the next publication
    expect(page.get_by_role("heading", level=1)).to_contain_text("Gemeente Amsterdam: jeugdhulp")
    table = page.locator("table#overzicht")
    expect(table.get_by_role("rowheader", name="Uitval")).to_be_visible()
    expect(page.locator(".ttp-report-release")).to_contain_text("Bron: publicatie rel-")
    expect(page.locator(".ttp-report-release")).to_contain_text("De volgende publicatie is gepland op")
    check_accessibility(page)
    screenshot(page, "analist-overzicht")

    # a chart over the periods: an SVG with a title and a description, and the table beside it
    table.get_by_role("link", name="Uitval").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Uitval")
    chart = page.get_by_role("img", name="Uitval per kwartaal")
    expect(chart).to_be_visible()
    expect(page.locator("table#reeks tbody tr").first).to_be_visible()
    expect(page.locator("table#reeks")).to_contain_text("kwartaal")
    check_accessibility(page)
    screenshot(page, "analist-indicator-per-kwartaal")

    # the funnel plot: not a league table, providers by AGB, their position in words
    page.get_by_role("link", name=re.compile("trechterdiagram")).click()
    expect(page.get_by_text("Dit is geen ranglijst.")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("aanbieders rond het eigen percentage"))).to_be_visible()
    positions = page.locator("table#aanbieders tbody tr td:nth-child(5)").all_inner_texts()
    assert positions and any("grenzen" in p or "grens" in p or "afgeschermd" in p for p in positions)
    names = page.locator("table#aanbieders tbody th").all_inner_texts()
    assert names == sorted(names), "the providers are listed by code, not by their figure"
    check_accessibility(page)
    screenshot(page, "analist-trechterdiagram")

    # a breakdown with a withheld cell: shown as "afgeschermd" with the reason, never 0
    page.goto(f"/regio/{REGION}/uitsplitsing?naar=municipality&indicator={INDICATOR}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("naar gemeente")
    withheld = page.locator("table#uitsplitsing tbody tr.ttp-report-row--suppressed").first
    expect(withheld).to_contain_text("afgeschermd")
    expect(withheld).to_contain_text("minder dan 10 personen")
    check_accessibility(page)
    screenshot(page, "analist-uitsplitsing-afgeschermd")
    shown_rows = [[cell.strip() for cell in row] for row in (
        r.locator("th, td").all_inner_texts() for r in page.locator("table#uitsplitsing tbody tr").all())]

    # the CSV: exactly the rows of the table
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download deze tabel als CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = open(download.path(), encoding="utf-8-sig").read()
    lines = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [line["Gemeente"] for line in lines] == [row[0] for row in shown_rows]
    assert [line["Waarde"] for line in lines] == [row[1].removesuffix("%") for row in shown_rows]
    assert any(line["Waarde"] == "afgeschermd" and "minder dan 10" in line["Toelichting"] for line in lines)


def test_the_agenda_for_a_quality_conversation_prints_without_navigation(
    page: Any, login_as: Callable[[Any, str], None], check_accessibility: Callable[[Any], None],
    screenshot: Callable[[Any, str], Any],
) -> None:
    login_as(page, "gemeente")
    page.goto(f"/gemeente/{MUNICIPALITY}/gesprek/{PROVIDER}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Aanbieder {PROVIDER}")
    expect(page.get_by_role("heading", name="3. Vragen voor het gesprek")).to_be_visible()
    check_accessibility(page)
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Hoofdmenu")).to_be_hidden()
    expect(page.locator("table#gesprek-cijfers")).to_be_visible()
    screenshot(page, "analist-gespreksagenda-afdruk")
