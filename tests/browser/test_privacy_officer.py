"""The privacy officer in Chromium: logs in, verifies the audit log and reads the result; filters
the log; downloads the checkpoint; every page passes axe (WCAG 2.1 A/AA) and is photographed."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

PAGES = {
    "/privacy": ("Privacy officer", "privacy-start"),
    "/privacy/auditlog": ("Auditlog", "privacy-auditlog"),
    "/privacy/verificatie": ("Verificatie van het auditlog", "privacy-verificatie-formulier"),
    "/privacy/checkpoint": ("Controlepunt van het auditlog", "privacy-controlepunt"),
    "/privacy/configuratie": ("Privacyconfiguratie", "privacy-configuratie"),
    "/privacy/dpia": ("DPIA-bijlage", "privacy-dpia"),
    "/privacy/register": ("Verwerkingsregister (artikel 30 AVG)", "privacy-register"),
    "/privacy/publicaties": ("Publicatieregister", "privacy-publicaties"),
    "/privacy/bewaartermijn": ("Bewaartermijn", "privacy-bewaartermijn"),
}


def test_the_privacy_officer_verifies_the_log_and_reads_that_it_is_intact(page, login_as, check_accessibility,
                                                                          screenshot) -> None:
    login_as(page, "privacy")
    expect(page).to_have_url(re.compile(r"/privacy$"))
    page.get_by_role("navigation", name="Hoofdmenu").get_by_role("link", name="Verificatie").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verificatie van het auditlog")
    page.get_by_role("button", name="Verifieer het auditlog").click()
    result = page.get_by_role("status").filter(has_text="Het auditlog is intact")
    expect(result).to_contain_text(re.compile(
        r"Het auditlog is intact: [\d.]+ regels, laatste controlepunt #\d+ van \d{1,2} \w+ \d{4} \d\d:\d\d, "
        r"handtekening geldig\."))
    expect(page.get_by_text(re.compile(r"publicaties: van elke publicatie zijn de hash"))).to_be_visible()
    check_accessibility(page)
    screenshot(page, "privacy-verificatie")
    # the start page now tells when the log was last verified
    page.get_by_role("link", name="Overzicht").click()
    expect(page.get_by_text(re.compile(r"\(op deze pagina's\): intact"))).to_be_visible()


def test_the_officer_filters_the_log_and_downloads_the_checkpoint(page, login_as) -> None:
    login_as(page, "privacy")
    page.goto("/privacy/auditlog")
    page.get_by_label("Soort organisatie").select_option(label="Privacy officer")
    page.get_by_label("Resultaat").select_option(label="Gelukt")
    page.get_by_role("button", name="Toon regels").click()
    expect(page).to_have_url(re.compile(r"soort=privacy_officer.*resultaat=success"))
    expect(page.get_by_role("status")).to_contain_text("voldoen aan het filter")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text("Privacy officer")
    expect(rows.first).to_contain_text("Gelukt")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV", exact=True).click()
    assert csv_download.value.suggested_filename.endswith(".csv")

    page.goto("/privacy/checkpoint")
    expect(page.get_by_role("heading", level=2, name=re.compile(r"Laatste controlepunt: #\d+"))).to_be_visible()
    expect(page.get_by_text("De handtekening is geldig")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"Download controlepunt")).click()
    document = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert {"size", "root_hash", "timestamp", "key_id", "signature", "public_key", "signed_payload"} <= set(document)


def test_every_privacy_page_is_accessible_and_photographed(page, login_as, check_accessibility, screenshot) -> None:
    login_as(page, "privacy")
    for path, (heading, name) in PAGES.items():
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        check_accessibility(page)
        screenshot(page, name)


def test_a_municipality_user_cannot_open_the_officers_pages(page, login_as) -> None:
    login_as(page, "gemeente")
    for path in ("/privacy", "/privacy/auditlog", "/privacy/verificatie"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("Geen toegang")
