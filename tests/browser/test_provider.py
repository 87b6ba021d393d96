"""The provider in Chromium: its uploads, a story refused for a BSN and then a clean one written,
seen and withdrawn, and the JB/JR process context; axe-core on every page, a screenshot of each."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import GI, MUNICIPALITY, PROVIDER

WITH_BSN = "Jan de Vries (BSN 111222333, Damstraat 1) kwam in maart op de wachtlijst."
CLEAN = "In het eerste kwartaal groeide de wachtlijst door personeelstekort; de uitval steeg daardoor."
REFUSED = ("Uw tekst lijkt een BSN (positie 19) en een adres met huisnummer (positie 30) te bevatten. "
           "Haal persoonsgegevens weg en probeer het opnieuw.")


def test_the_uploads_page_shows_batches_and_counts(page, login_as, check_accessibility, screenshot) -> None:
    login_as(page, "aanbieder")
    page.goto(f"/aanbieder/{PROVIDER}/aanleveringen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aanleveringen")
    expect(page.get_by_role("table", name="Aanleveringen, de nieuwste eerst")).to_be_visible()
    expect(page.get_by_role("table", name=f"Amsterdam ({MUNICIPALITY})")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "aanbieder-aanleveringen")


def test_a_story_with_a_bsn_is_refused_and_a_clean_one_is_shown(page, login_as, check_accessibility,
                                                                screenshot) -> None:
    login_as(page, "aanbieder")
    page.goto(f"/aanbieder/{PROVIDER}/verhalen")
    expect(page.get_by_role("heading", level=1)).to_have_text("Verhaal achter de cijfers")
    check_accessibility(page)
    screenshot(page, "aanbieder-verhalen")

    page.get_by_label("Gemeente").select_option(MUNICIPALITY)
    period = page.get_by_label("Periode").input_value()
    page.get_by_label("Uw verhaal").fill(WITH_BSN)
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    expect(page.get_by_label("Uw verhaal")).to_have_value(WITH_BSN)  # kept, to be corrected
    expect(page.get_by_label("Uw verhaal")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Periode")).to_have_value(period)
    expect(page.get_by_text("U heeft nog geen verhalen geschreven.")).to_be_visible()  # nothing stored
    check_accessibility(page)
    screenshot(page, "aanbieder-verhaal-geweigerd")

    page.get_by_label("Uw verhaal").fill(CLEAN)
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("Uw verhaal is opgeslagen.")
    stories = page.get_by_role("table", name="Verhalen die gemeenten nu zien")
    expect(stories).to_contain_text(CLEAN)
    expect(stories).to_contain_text(f"Amsterdam ({MUNICIPALITY})")
    check_accessibility(page)
    screenshot(page, "aanbieder-verhaal-opgeslagen")

    # Withdrawn again, so other tests on this shared store see no story of ours.
    page.get_by_role("button", name=re.compile(r"^Verhaal intrekken: Amsterdam")).click()
    expect(page.get_by_role("status")).to_contain_text("Uw verhaal is ingetrokken.")
    expect(page.get_by_text("U heeft nog geen verhalen geschreven.")).to_be_visible()


def test_a_jbjr_provider_gives_its_process_context(page, login_as, check_accessibility, screenshot) -> None:
    login_as(page, "gi")
    page.goto(f"/aanbieder/{GI}/context")
    expect(page.get_by_role("heading", level=1)).to_have_text("Procescontext bij uw JB/JR-cijfers")
    page.get_by_label("Kwesties").fill("Wachtlijst van zes weken; bel 06-12345678 voor het rooster.")
    page.get_by_label("Gebruikte methoden").fill("Deltamethode en LIJ.")
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("alert")).to_contain_text("Kwesties lijkt persoonsgegevens te bevatten")
    expect(page.get_by_label("Kwesties")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    page.get_by_label("Kwesties").fill("Wachtlijst van zes weken.")
    page.get_by_role("button", name="Opslaan").click()
    expect(page.get_by_role("status")).to_contain_text("Uw procescontext is opgeslagen.")
    expect(page.get_by_role("row", name=re.compile("Kwesties"))).to_contain_text("Wachtlijst van zes weken.")
    check_accessibility(page)
    screenshot(page, "aanbieder-procescontext")
    page.get_by_role("button", name=re.compile(r"^Procescontext intrekken")).first.click()
    expect(page.get_by_role("status")).to_contain_text("Uw procescontext is ingetrokken.")
