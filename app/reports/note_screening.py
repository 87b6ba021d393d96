"""Screen free text for personal data before it is stored (a provider's story, its JB/JR context).

The text is shown to municipalities, so it must not identify a child or a parent. This module
finds what *looks like* personal data and says what and where, never what: a :class:`Finding`
holds a kind and a position, not the value, so that a refusal can be logged and shown without
repeating the personal data it refuses. It is pure (no web, no database) and errs on the side of
refusing: a false refusal costs the writer a rephrasing, a false acceptance puts a child's data
in front of a municipality.

What is refused, and why these choices:

``bsn``
    Nine digits that pass the elfproef (``9*d1 + 8*d2 + ... + 2*d8 - 1*d9`` divisible by 11),
    written together or with a space, dot, dash (or a no-break/zero-width space) between any
    digits: ``111222333``, ``111 222 333``, ``1112.22.333``. One in eleven random 9-digit
    numbers passes, so an amount such as ``123.456.789`` may be refused: rare in a story, and
    cheap to rephrase. Also refused, whatever the elfproef says, is any number of 8 or 9 digits
    right after the word BSN, burgerservicenummer, sofinummer or sofi (``BSN 111222334`` with a
    typo is still a BSN by intent). An 8-digit number on its own is *not* refused: BSNs below
    100000000 are sometimes written without their leading zero, but AGB codes (which stories
    name legitimately) are 8 digits too; next to the word BSN it is refused as above.
``geboortedatum``
    A full date (day, month and year) in a common Dutch form: ``12-03-2014``, ``12/3/2014``,
    ``12.03.14``, ``2014-03-12``, ``12 maart 2014``, ``12 mrt. 2014``. A story legitimately
    names dates ("sinds 1 maart 2025 hebben we een wachtlijst"), so not every date is refused.
    A date is refused when (a) a birth word (geboren, geb., geboortedatum, geboortedag, DOB,
    born, verjaardag, jarig) stands within 40 characters before it or ``geboren`` right after
    it, whatever the year; or (b) its year lies 4 to 25 years before the current year: the
    birth years of the children and young adults in youth care (age bands 0-3 to 18+), while
    the periods a story is about are the last few years. The price of (b) is that "op
    1 januari 2015 (Jeugdwet)" is refused in 2026; "sinds januari 2015" or "sinds 2015" passes
    (no day, so no date of birth). A birth date of a child under 4 without a birth word is not
    caught: (b) cannot tell it from the dates a story is about.
``adres``
    A postcode with house number (``1234 AB 12``, ``1234AB 12a``, ``1234 AB, 12-2``, and the
    number before it: ``12, 1234 AB``) and a street with house number (``Damstraat 1``,
    ``Van Goghstraat 12a``: a word ending in straat, laan, weg, plein, gracht, kade, singel,
    dijk, dreef, steeg, hof or markt, capitalised as street names are, then a number). A postcode on its own is not
    refused: "2025 JB" (a year and jeugdbescherming) would look like one.
``e-mail``
    Anything shaped like an e-mail address (``naam@domein.nl``).
``telefoonnummer``
    A Dutch number of ten digits starting with 0 (``06-12345678``, ``020-1234567``,
    ``(020) 123 45 67``), or +31/0031 and nine digits (``+31 6 1234 5678``, ``+31 (0)20 ...``),
    or any other number starting with + and a country code (8 to 15 digits). Short service
    numbers (``0800-0432``, the Kindertelefoon) are not personal and pass.

A digit here is any Unicode decimal digit (fullwidth ``１`` too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

BSN = "bsn"
BIRTH_DATE = "geboortedatum"
ADDRESS = "adres"
EMAIL = "e-mail"
PHONE = "telefoonnummer"
KINDS = (BSN, BIRTH_DATE, ADDRESS, EMAIL, PHONE)

#: What each kind is called in a sentence, in Dutch and in English.
DUTCH = {BSN: "een BSN", BIRTH_DATE: "een geboortedatum", ADDRESS: "een adres met huisnummer",
         EMAIL: "een e-mailadres", PHONE: "een telefoonnummer"}
ENGLISH = {BSN: "a BSN", BIRTH_DATE: "a date of birth", ADDRESS: "an address with house number",
           EMAIL: "an e-mail address", PHONE: "a phone number"}

#: Youth in care are 0 to about 23; a full date with a year this many years back looks like a birth date.
BIRTH_YEARS_BACK = (4, 25)


@dataclass(frozen=True, order=True)
class Finding:
    """What was found and where (0-based ``start``/``end`` in the text); never the value itself."""

    start: int
    end: int
    kind: str

    @property
    def position(self) -> int:
        """The 1-based character position, for people."""
        return self.start + 1


# ---- building blocks ---------------------------------------------------------------------------
_SEP = "[ .\\-\u00a0\u2009\u202f\u200b\u200c\u200d\u2060\ufeff]"
_D = r"\d"

_BSN_RUN = re.compile(rf"(?<!\d){_D}(?:{_SEP}?{_D}){{8}}(?!\d)")
_BSN_WORD = re.compile(r"\b(?:bsn|burgerservicenummer|burger\s*service\s*nummer|sofi(?:nummer)?)\b[\s:.#=-]*"
                       r"(?:nr\.?\s*|nummer\s*)?"
                       rf"((?<!\d){_D}(?:{_SEP}?{_D}){{7,8}}(?!\d))", re.IGNORECASE)

_MONTHS = {
    "januari": 1, "jan": 1, "februari": 2, "feb": 2, "febr": 2, "maart": 3, "mrt": 3, "mar": 3, "april": 4, "apr": 4,
    "mei": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "augustus": 8, "aug": 8, "september": 9, "sep": 9,
    "sept": 9, "oktober": 10, "okt": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}
_MONTH_WORD = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_DMY = re.compile(r"(?<![\d/.\-])(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})(?![\d/\-]|\.\d)")
_DATE_YMD = re.compile(r"(?<![\d/.\-])(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?![\d/\-]|\.\d)")
_DATE_WORDS = re.compile(rf"(?<!\d)(\d{{1,2}})(?:e|ste|de)?\s+({_MONTH_WORD})\.?\s+('?\d{{4}}|'\d{{2}})(?!\d)",
                         re.IGNORECASE)
_BIRTH_BEFORE = re.compile(r"(?:\bgeboren\b|\bgeb\b\.?|\bgeboorte\w*|\bdob\b|\bborn\b|\bverjaardag\b|\bjarig\b)",
                           re.IGNORECASE)
_BIRTH_AFTER = re.compile(r"^\W{0,3}(?:geboren|geb\b)", re.IGNORECASE)

_POSTCODE = r"[1-9]\d{3}(?:\s?[A-Z]{2}|[a-z]{2})(?![A-Za-z])"
_HOUSE_NUMBER = r"\d{1,5}(?:\s?[a-zA-Z](?![a-zA-Z])|-\d{1,4})?"
_POSTCODE_THEN_NUMBER = re.compile(rf"(?<![\dA-Za-z]){_POSTCODE}[\s,]{{1,3}}(?:(?:nr|no|huisnummer)\.?\s*)?"
                                   rf"{_HOUSE_NUMBER}(?!\d)")
_NUMBER_THEN_POSTCODE = re.compile(rf"(?<![\d/.\-]){_HOUSE_NUMBER},?\s+{_POSTCODE}")
_STREET_SUFFIX = "straat|straatweg|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg|hof|markt"
_STREET = re.compile(rf"\b[A-ZÀ-Þ][a-zà-ÿ'\-]+(?:{_STREET_SUFFIX})\s+{_HOUSE_NUMBER}(?![\d:.,]\d)")

_EMAIL = re.compile(r"[\w.%+\-']+\s?(?:@|\(at\)|\[at\])\s?[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}\b")

_PSEP = r"[\s.\-/)(]{0,3}"
_PHONE_NATIONAL = re.compile(rf"(?<![\d+])\(?0(?!0)(?:{_PSEP}\d){{9}}(?!\d)")
_PHONE_NL = re.compile(rf"(?<![\w+])(?:\+|00)\s?31{_PSEP}(?:\(0\){_PSEP})?(?:\d{_PSEP}){{8}}\d(?!\d)")
_PHONE_INTERNATIONAL = re.compile(rf"(?<![\w+])\+\s?[1-9](?:{_PSEP}\d){{7,14}}(?!\d)")


def digits(text: str) -> list[int]:
    """The decimal digits in ``text`` (any script), in order."""
    return [int(c) for c in text if c.isdecimal()]


def elfproef(number: list[int]) -> bool:
    """Whether nine digits pass the BSN eleven-test (weights 9..2 and -1 on the last digit).
    All zeros passes the arithmetic but is no BSN."""
    if len(number) != 9 or not any(number):
        return False
    return sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2, -1), number, strict=True)) % 11 == 0


# ---- the finders ----------------------------------------------------------------------------------
def _bsns(text: str) -> Iterator[Finding]:
    # Every start that follows a non-digit (finditer alone would miss "111222333" in "12 111 222 333",
    # whose first candidate "12 1112223" fails).
    for start in range(len(text)):
        if text[start].isdecimal() and (start == 0 or not text[start - 1].isdecimal()):
            match = _BSN_RUN.match(text, start)
            if match and elfproef(digits(match.group())):
                yield Finding(match.start(), match.end(), BSN)
    for match in _BSN_WORD.finditer(text):
        yield Finding(match.start(1), match.end(1), BSN)


def _date(day: int, month: int, year: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(raw: str, today: date) -> int:
    raw = raw.lstrip("'")
    year = int(raw)
    if len(raw) == 2:  # 14 -> 2014, 98 -> 1998: the century that puts it at or before this year
        year += 2000 if 2000 + year <= today.year else 1900
    return year


def _dates(text: str, today: date) -> Iterator[tuple[int, int, date]]:
    for match in _DATE_DMY.finditer(text):
        if (found := _date(int(match[1]), int(match[3]), _year(match[4], today))) is not None:
            yield match.start(), match.end(), found
    for match in _DATE_YMD.finditer(text):
        if (found := _date(int(match[4]), int(match[3]), int(match[1]))) is not None:
            yield match.start(), match.end(), found
    for match in _DATE_WORDS.finditer(text):
        month = _MONTHS[match[2].lower()]
        if (found := _date(int(match[1]), month, _year(match[3], today))) is not None:
            yield match.start(), match.end(), found


def _birth_dates(dates: list[tuple[int, int, date]], text: str, today: date) -> Iterator[Finding]:
    low, high = today.year - BIRTH_YEARS_BACK[1], today.year - BIRTH_YEARS_BACK[0]
    for start, end, day in dates:
        near_word = (_BIRTH_BEFORE.search(text, max(0, start - 40), start) is not None
                     or _BIRTH_AFTER.match(text[end:end + 12]) is not None)
        if near_word or low <= day.year <= high:
            yield Finding(start, end, BIRTH_DATE)


_YEAR_AND_FRAMEWORK = re.compile(r"20\d\d\s?J[BR]\b")


def _addresses(text: str) -> Iterator[Finding]:
    for pattern in (_POSTCODE_THEN_NUMBER, _NUMBER_THEN_POSTCODE, _STREET):
        for match in pattern.finditer(text):
            if pattern is not _STREET and _YEAR_AND_FRAMEWORK.search(match.group()):
                continue  # "in 2025 JB, 14 trajecten": a year and jeugdbescherming, not a postcode
            yield Finding(match.start(), match.end(), ADDRESS)


def _emails(text: str) -> Iterator[Finding]:
    for match in _EMAIL.finditer(text):
        yield Finding(match.start(), match.end(), EMAIL)


def _phones(text: str) -> Iterator[Finding]:
    for pattern in (_PHONE_NATIONAL, _PHONE_NL, _PHONE_INTERNATIONAL):
        for match in pattern.finditer(text):
            count = len(digits(match.group()))
            if pattern is not _PHONE_INTERNATIONAL or 8 <= count <= 15:
                yield Finding(match.start(), match.end(), PHONE)


def screen(text: str, *, today: date | None = None) -> list[Finding]:
    """Everything in ``text`` that looks like personal data, ordered by position; empty: the text
    may be stored. ``today`` sets which years are birth years (default: today)."""
    today = today or date.today()
    dates = list(_dates(text, today))
    phones = [p for p in _phones(text) if not any(s < p.end and p.start < e for s, e, _ in dates)]
    found = [
        # A mobile number after +31 has nine digits that may pass the elfproef: it is a phone number.
        *(b for b in _bsns(text) if not any(p.start <= b.start and b.end <= p.end for p in phones)),
        *_birth_dates(dates, text, today), *_addresses(text), *_emails(text), *phones,
    ]
    # Overlapping findings of one kind are one finding (several patterns may find the same number).
    merged: list[Finding] = []
    for finding in sorted(found, key=lambda f: (KINDS.index(f.kind), f.start, -f.end)):
        last = merged[-1] if merged else None
        if last is not None and last.kind == finding.kind and finding.start < last.end:
            merged[-1] = Finding(last.start, max(last.end, finding.end), last.kind)
        else:
            merged.append(finding)
    return sorted(merged)


# ---- messages ------------------------------------------------------------------------------------
def _grouped(findings: list[Finding]) -> list[tuple[str, list[int]]]:
    kinds: dict[str, list[int]] = {}
    for finding in sorted(findings):
        kinds.setdefault(finding.kind, []).append(finding.position)
    return sorted(kinds.items(), key=lambda item: KINDS.index(item[0]))


def _join(parts: list[str], word: str) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + f" {word} " + parts[-1]


def message_nl(findings: list[Finding]) -> str:
    """A Dutch sentence for the writer: what was found where, and what to do.

    >>> message_nl([Finding(13, 22, BSN)])
    'Uw tekst lijkt een BSN te bevatten (positie 14). Haal persoonsgegevens weg en probeer het opnieuw.'
    """
    grouped = _grouped(findings)

    def where(positions: list[int]) -> str:
        return ("positie " if len(positions) == 1 else "posities ") + _join([str(p) for p in positions], "en")

    if len(grouped) == 1:
        kind, positions = grouped[0]
        found = f"{DUTCH[kind]} te bevatten ({where(positions)})"
    else:
        found = _join([f"{DUTCH[kind]} ({where(positions)})" for kind, positions in grouped], "en") + " te bevatten"
    return f"Uw tekst lijkt {found}. Haal persoonsgegevens weg en probeer het opnieuw."


def message_en(findings: list[Finding]) -> str:
    """The same in English, for the API's problem ``detail``."""
    parts = []
    for kind, positions in _grouped(findings):
        where = "position" if len(positions) == 1 else "positions"
        parts.append(f"{ENGLISH[kind]} ({where} {_join([str(p) for p in positions], 'and')})")
    return f"the text looks like it holds {_join(parts, 'and')}; remove personal data and send it again"
