"""Logging in, in Chromium: password, then the TOTP code; a wrong code; logging out; the keyboard only."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import expect

from tests.browser.conftest import MUNICIPALITY, fill_login, totp_code

START_PAGE = re.compile(rf"/gemeente/{MUNICIPALITY}$")
ORGANISATION = f"Gemeente Amsterdam ({MUNICIPALITY})"
WRONG = "Inloggen is niet gelukt: het e-mailadres, het wachtwoord of de code klopt niet."


def test_password_and_code_reach_the_start_page_showing_the_organisation(page, new_account, screenshot) -> None:
    account = new_account("gemeente")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/inloggen"))  # a stranger is sent to the login page
    expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
    fill_login(page, account)
    expect(page).to_have_url(START_PAGE)
    header = page.get_by_role("banner")
    expect(header).to_contain_text(ORGANISATION)
    expect(header).to_contain_text(account.email)
    expect(header.get_by_role("button", name="Uitloggen")).to_be_visible()
    screenshot(page, "ingelogd-startpagina")


def test_a_wrong_code_is_refused_in_dutch_and_the_right_one_then_works(page, new_account) -> None:
    account = new_account("gemeente")
    right = pyotp.TOTP(account.totp_secret).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    fill_login(page, account, code=wrong)
    expect(page).to_have_url(re.compile(r"/inloggen/code"))
    expect(page.get_by_role("alert")).to_contain_text(WRONG)
    expect(page.get_by_role("banner")).not_to_contain_text(ORGANISATION)  # not logged in
    # the same half-finished login, now with the right code
    page.get_by_label("Code", exact=True).fill(totp_code(account.totp_secret))
    page.get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(START_PAGE)


def test_a_wrong_password_is_refused_without_asking_for_a_code(page, new_account, screenshot) -> None:
    account = new_account("gemeente")
    page.goto("/inloggen")
    page.get_by_label("E-mailadres").fill(account.email)
    page.get_by_label("Wachtwoord").fill(account.password + "x")
    page.get_by_role("button", name="Verder").click()
    expect(page.get_by_role("alert")).to_contain_text(WRONG)
    expect(page).not_to_have_url(re.compile(r"/inloggen/code"))
    expect(page.get_by_label("E-mailadres")).to_have_value(account.email)  # kept; the password is not
    expect(page.get_by_label("Wachtwoord")).to_have_value("")
    screenshot(page, "inloggen-fout")


def test_logout_ends_the_session_and_a_used_code_does_not_log_in_again(page, new_account) -> None:
    account = new_account("gemeente")
    code = totp_code(account.totp_secret)
    fill_login(page, account, code=code)
    expect(page).to_have_url(START_PAGE)
    page.get_by_role("button", name="Uitloggen").click()
    expect(page).to_have_url(re.compile(r"/inloggen\?uitgelogd=1"))
    expect(page.get_by_role("status")).to_have_text("U bent uitgelogd.")
    page.goto(f"/gemeente/{MUNICIPALITY}")
    expect(page).to_have_url(re.compile(r"/inloggen\?volgende="))  # the page is behind the login again
    expect(page.get_by_role("banner")).not_to_contain_text(ORGANISATION)
    # the code that was used is not accepted a second time (someone who saw it cannot use it)
    fill_login(page, account, code=code)
    expect(page.get_by_role("alert")).to_contain_text(WRONG)
    expect(page).to_have_url(re.compile(r"/inloggen/code"))


def _tab_to(page, selector: str, presses: int = 10) -> None:
    """Press Tab until ``selector`` has the focus (a keyboard user's way there); fails otherwise."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"{selector} never got the focus in {presses} presses of Tab on {page.url}")


def test_the_login_can_be_done_with_the_keyboard_only(page, new_account) -> None:
    account = new_account("gemeente")
    page.goto("/inloggen")
    page.keyboard.press("Tab")  # the first stop is the skip link
    expect(page.locator(":focus")).to_have_text("Direct naar de inhoud")
    _tab_to(page, "#email")
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/inloggen/code"))
    if not page.evaluate("document.activeElement && document.activeElement.id === 'code'"):
        _tab_to(page, "#code")
    page.keyboard.type(totp_code(account.totp_secret))
    page.keyboard.press("Enter")
    expect(page).to_have_url(START_PAGE)
    expect(page.get_by_role("banner")).to_contain_text(ORGANISATION)
