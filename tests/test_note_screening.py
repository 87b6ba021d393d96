"""Screening free text for personal data (app.reports.note_screening): pure, no app, no database."""

from __future__ import annotations

import doctest
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.reports import note_screening
from app.reports.note_screening import (
    ADDRESS,
    BIRTH_DATE,
    BSN,
    EMAIL,
    PHONE,
    Finding,
    elfproef,
    message_en,
    message_nl,
    screen,
)

TODAY = date(2026, 12, 2)
ISSUE_EXAMPLE = "Jan de Vries (BSN 111222333, Damstraat 1)"


def kinds(text: str) -> list[str]:
    return [f.kind for f in screen(text, today=TODAY)]


def independent_elfproef(number: str) -> bool:
    """The eleven-test written out again, apart from the code under test."""
    return sum(int(d) * w for d, w in zip(number, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True)) % 11 == 0


def test_the_issues_example_is_refused_for_its_bsn_and_its_address() -> None:
    # 111222333 passes the elfproef: 9+8+7+12+10+8+9+6-3 = 66 = 6 * 11.
    assert independent_elfproef("111222333")
    found = screen(ISSUE_EXAMPLE, today=TODAY)
    assert [(f.kind, f.position) for f in found] == [(BSN, 19), (ADDRESS, 30)]
    assert ISSUE_EXAMPLE[found[0].start:found[0].end] == "111222333"
    assert ISSUE_EXAMPLE[found[1].start:found[1].end] == "Damstraat 1"


def test_the_message_names_kind_and_position_and_never_the_value() -> None:
    found = screen(ISSUE_EXAMPLE, today=TODAY)
    dutch, english = message_nl(found), message_en(found)
    assert dutch == ("Uw tekst lijkt een BSN (positie 19) en een adres met huisnummer (positie 30) te bevatten. "
                     "Haal persoonsgegevens weg en probeer het opnieuw.")
    assert "position 19" in english and "position 30" in english
    for message in (dutch, english, repr(found)):
        assert "111222333" not in message and "Damstraat" not in message
    assert message_nl([Finding(13, 22, BSN)]) == (
        "Uw tekst lijkt een BSN te bevatten (positie 14). Haal persoonsgegevens weg en probeer het opnieuw.")
    assert "posities 1 en 20" in message_nl([Finding(0, 9, BSN), Finding(19, 28, BSN)])


def test_doctests() -> None:
    assert doctest.testmod(note_screening).failed == 0


@pytest.mark.parametrize("text", [
    "111222333", "111 222 333", "111.222.333", "111-22-2333", "1112.22.333", "12 111 222 333",
    "BSN: 111222334",  # fails the elfproef, but it is called a BSN
    "burgerservicenummer 12345678", "sofinummer 011122233",
    "１１１２２２３３３",  # fullwidth digits
])
def test_bsns_are_refused(text: str) -> None:
    assert BSN in kinds(text)


@pytest.mark.parametrize("text", [
    "111222334",  # fails the elfproef and is not called a BSN
    "AGB 12345678", "1234567890", "1.234.567 euro", "0800-0432",
])
def test_numbers_that_are_no_bsn_pass(text: str) -> None:
    assert BSN not in kinds(text)


@pytest.mark.parametrize("text", [
    "12-03-2014", "12/3/2014", "12.03.14", "2014-03-12", "12 maart 2014", "12 mrt. 2014", "3e juni 2009",
    "geboren op 1 mei 2025", "geb. 01-01-1970", "geboortedatum: 2024-02-29", "2-2-2022, geboren in Utrecht",
])
def test_dates_of_birth_are_refused(text: str) -> None:
    assert kinds(text) == [BIRTH_DATE]


@pytest.mark.parametrize("text", [
    "sinds 1 maart 2025 hebben we een wachtlijst", "per 01-07-2026 een nieuw team", "sinds januari 2015",
    "de Jeugdwet van 2015", "in 2025-Q2 steeg de uitval", "geboren in een gezin met zorgen", "op 31-02-2014",
])
def test_dates_a_story_needs_pass(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize("text", [
    "1234 AB 12", "1234AB 12a", "1234 AB, 12-2", "1234ab 7", "Damstraat 1", "Van Goghstraat 12a",
    "woont op 12, 1234 AB Amsterdam", "Stationsplein 3 b",
])
def test_addresses_are_refused(text: str) -> None:
    assert kinds(text) == [ADDRESS]


@pytest.mark.parametrize("text", [
    "in 2025 JB, 14 trajecten", "de arbeidsmarkt 2025", "1234 AB", "postcodegebied 3500", "Q1 2025 12 jongeren",
])
def test_text_that_only_resembles_an_address_passes(text: str) -> None:
    assert kinds(text) == []


@pytest.mark.parametrize("text", [
    "jan.devries@example.nl", "mail naar j+x@zorg-aanbieder.co.uk", "jan (at) example.nl"])
def test_email_addresses_are_refused(text: str) -> None:
    assert kinds(text) == [EMAIL]


@pytest.mark.parametrize("text", [
    "06-12345678", "06 1234 5678", "0612345678", "+31 6 1234 5678", "+316 12345678", "0031 6 12345678",
    "020-1234567", "030 123 45 67", "(020) 123 45 67", "+31 (0)20 123 4567", "+32 2 123 45 67",
])
def test_phone_numbers_are_refused(text: str) -> None:
    assert kinds(text) == [PHONE]


@pytest.mark.parametrize("text", ["bel de Kindertelefoon 0800-0432", "op 01-03-2025 10 kinderen"])
def test_service_numbers_and_dates_are_no_phone_numbers(text: str) -> None:
    assert PHONE not in kinds(text)


def test_findings_are_ordered_and_one_per_place() -> None:
    text = "Bel 06-12345678 of mail a@b.nl; geboren 12-03-2014; 1234 AB 12."
    found = screen(text, today=TODAY)
    assert [f.kind for f in found] == [PHONE, EMAIL, BIRTH_DATE, ADDRESS]
    assert found == sorted(found)


# ---- properties ----------------------------------------------------------------------------------
@st.composite
def valid_bsns(draw: st.DrawFn) -> str:
    first = draw(st.lists(st.integers(0, 9), min_size=8, max_size=8))
    last = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), first, strict=True)) % 11
    assume(last != 10 and any([*first, last]))
    number = "".join(map(str, [*first, last]))
    assert independent_elfproef(number)
    return number


WORDS = ("de", "het", "een", "jeugdhulp", "wachtlijst", "gemeente", "uitval", "gezin", "jongere", "team",
         "kwartaal", "cliënten", "samenwerking", "wijkteam", "behandeling", "is", "hoger", "lager", "door",
         "personeelstekort", "sinds", "maart", "geboren", "straat", "weg", "plein", "Utrecht", "Zwolle",
         "ambulant", "verblijf", "JB", "JR", "geb", "BSN", "tel", "mail", "at")
prose = st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join)
separators = st.lists(st.sampled_from(["", " ", ".", "-", "\u00a0"]), min_size=8, max_size=8)


@given(valid_bsns(), separators, prose, prose)
def test_every_valid_bsn_is_refused_in_any_separator_style(number: str, seps: list[str], before: str,
                                                           after: str) -> None:
    styled = number[0] + "".join(sep + digit for sep, digit in zip(seps, number[1:], strict=True))
    text = f"{before} {styled} {after}"
    found = [f for f in screen(text, today=TODAY) if f.kind == BSN]
    assert found, text
    assert any(f.start <= text.index(styled) and text.index(styled) + len(styled) <= f.end for f in found)


@given(prose)
def test_dutch_prose_without_numbers_passes(text: str) -> None:
    assert screen(text, today=TODAY) == []


@given(st.dates(date(TODAY.year - 25, 1, 1), date(TODAY.year - 4, 12, 31)),
       st.sampled_from(["{d:02d}-{m:02d}-{y}", "{d}/{m}/{y}", "{y}-{m:02d}-{d:02d}", "{d} {month} {y}",
                        "{d:02d}.{m:02d}.{y}"]),
       prose)
def test_every_date_in_the_birth_years_is_refused(day: date, form: str, before: str) -> None:
    months = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
              "oktober", "november", "december"]
    written = form.format(d=day.day, m=day.month, y=day.year, month=months[day.month - 1])
    assert BIRTH_DATE in kinds(f"{before} {written}.")


@given(st.dates(date(TODAY.year - 2, 1, 1), TODAY), prose)
def test_recent_dates_pass_unless_called_a_birth_date(day: date, before: str) -> None:
    written = f"{day.day:02d}-{day.month:02d}-{day.year}"
    assume("geb" not in before)  # a birth word nearby: refused by design
    assert kinds(f"{before} sinds {written}") == []
    assert kinds(f"geboren op {written}") == [BIRTH_DATE]


@given(st.lists(st.integers(0, 9), min_size=9, max_size=9))
def test_elfproef_agrees_with_its_definition(number: list[int]) -> None:
    assert elfproef(number) == (independent_elfproef("".join(map(str, number))) and any(number))
