"""A synthetic, realistic demo population: providers, consents and outcome records.

Pure and deterministic: :func:`generate` uses nothing but its seed, the provider key it is given
and "today" (no database, no web app, no clock, no global random state), so the same arguments
give the same population. ``ttp demo seed`` registers the consents and sends the records over the
public API; ``bench/ingest.py`` uses the same population to measure ingestion.

What it models (all invented; every name and number is fictional):

- Five jeugdzorgregio's with **all** their member municipalities: Amsterdam-Amstelland (with
  Amsterdam, GM0363, by far the biggest), Friesland (the region that agreed to regional reports in
  ``deploy/privacy.example.toml``, with the Wadden islands), Groningen, Twente and Zuid-Limburg.
  Youths are spread by a rough population (after one youth in every municipality), so Vlieland,
  Ameland and Terschelling get a handful of trajectories (cells below the threshold of 10) while
  Amsterdam gets over a fifth of them. Schiermonnikoog is the one deliberate exception (0.8% of
  the youths, far above its share of the population): at the default size its yearly counts of
  ended trajectories land between 10 and 20, where its raised threshold (20) suppresses what the
  default (10) would show.
- Fourteen providers (:data:`PROVIDER_PROFILES`): ten jeugdhulp providers of very different sizes
  and care profiles (a large ambulant one, residential care, foster care, youth mental health, two
  neighbourhood teams, day treatment, network care, crisis care, a smaller practice) and four
  certified institutions (GI) doing jeugdbescherming and jeugdreclassering, three regional and one
  national.
- Per youth a chain of one to four trajectories: a follow-up starts after the previous one ended,
  often within six months (the "geen nieuwe start" linkage), at the same or another provider; an
  OTS that was converted to guardianship (end reason 03) continues as voogdij the next day; a
  measure ends at the youth's 18th birthday.
- Records: about 85% jeugdhulp, 10% jeugdbescherming (OTS, voogdij) and 5% jeugdreclassering (by
  a GI only); start dates from 2024-01-01 to today, about 70% ended (never in the future); end
  reasons in both code systems (BiJ 01-05 and iJw 31-35, per provider habit), about 15% of ended
  jeugdhulp dropping out (BiJ 03 / iJw 32); satisfaction marks mostly 6-9 with about 40% missing;
  "zonder hulp verder" answers; ROM pre/post scores (instruments from
  ``app/data/rom-instruments.toml``) and GAS goals for some individual care; age band and sex
  sometimes missing. Outcome answers exist only for ended trajectories.
- Consents: one per youth and provider, registered by that provider, given by whom the Jeugdwet
  requires at the youth's age then, on or before the first trajectory's start there; about half
  open-ended, the others valid until a date after today.

Synthetic BSNs pass the elfproef but never leave this module: only their stage-1 pseudonyms
(``pseudonymise_bsn`` with the provider key passed in) appear in the output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from app.records.codelists import CodeLists, RomInstrument, load_codelists, load_rom_instruments
from app.records.schemas import MAX_GOALS
from pseudonymisation import PseudonymKey, pseudonymise_bsn

__all__ = [
    "DEMO_REGIONS",
    "FIRST_START",
    "PROVIDER_PROFILES",
    "DemoConsent",
    "DemoPopulation",
    "DemoProvider",
    "DemoRecord",
    "batches",
    "generate",
]

ProviderKind = Literal["jeugdhulp", "gi"]

#: The earliest trajectory start in the demo data.
FIRST_START = date(2024, 1, 1)

#: The jeugdzorgregio's the demo covers, every member municipality included.
DEMO_REGIONS: tuple[str, ...] = ("Amsterdam-Amstelland", "Friesland", "Groningen", "Twente", "Zuid-Limburg")

# Rough number of inhabitants (order of magnitude of 2024), the weight of a municipality. A member
# of a demo region missing here (a merger in a newer code list) gets _DEFAULT_POPULATION.
MUNICIPALITY_POPULATION: dict[str, int] = {
    # Amsterdam-Amstelland
    "GM0358": 33_000, "GM0362": 96_000, "GM0363": 930_000, "GM0384": 32_000, "GM0437": 15_000,
    "GM0451": 31_000,
    # Friesland
    "GM0059": 28_000, "GM0060": 3_800, "GM0072": 16_000, "GM0074": 52_000, "GM0080": 127_000,
    "GM0085": 26_000, "GM0086": 30_000, "GM0088": 950, "GM0090": 57_000, "GM0093": 5_000, "GM0096": 1_200,
    "GM0098": 26_000, "GM0737": 32_000, "GM1891": 19_000, "GM1900": 92_000, "GM1940": 53_000,
    "GM1949": 47_000, "GM1970": 45_000,
    # Groningen
    "GM0014": 240_000, "GM0037": 32_000, "GM0047": 28_000, "GM0765": 12_000, "GM1895": 39_000,
    "GM1950": 26_000, "GM1952": 61_000, "GM1966": 48_000, "GM1969": 65_000, "GM1979": 46_000,
    # Twente
    "GM0141": 74_000, "GM0147": 24_000, "GM0153": 161_000, "GM0158": 24_000, "GM0163": 36_000,
    "GM0164": 82_000, "GM0168": 23_000, "GM0173": 32_000, "GM0183": 22_000, "GM0189": 25_000,
    "GM1700": 34_000, "GM1735": 35_000, "GM1742": 39_000, "GM1774": 26_000,
    # Zuid-Limburg
    "GM0882": 37_000, "GM0888": 16_000, "GM0899": 28_000, "GM0917": 87_000, "GM0928": 45_000,
    "GM0935": 122_000, "GM0938": 19_000, "GM0965": 10_000, "GM0971": 25_000, "GM0981": 10_000,
    "GM0986": 12_000, "GM0994": 16_000, "GM1729": 14_000, "GM1883": 91_000, "GM1903": 25_000,
    "GM1954": 35_000,
}
_DEFAULT_POPULATION = 25_000
_SCHIERMONNIKOOG = "GM0088"
#: Schiermonnikoog's share of the youths (not of its population: see the module docstring).
_SCHIERMONNIKOOG_SHARE = 0.008


# ---- providers -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ProviderProfile:
    """How one demo provider works: size, regions, care profile, habits and (invented) quality."""

    agb: str
    name: str
    kind: ProviderKind
    prefix: str  # for record ids and consent references
    size: float  # relative weight among the providers that can take a youth
    regions: tuple[str, ...] | None  # None: every demo region
    hulpvorm: Mapping[str, float] = field(default_factory=dict)  # jeugdhulp providers only
    products: Mapping[str, Mapping[str | None, float]] = field(default_factory=dict)  # hulpvorm -> weights
    rom: float = 0.0  # share of ended individual trajectories with ROM pre and post
    instruments: tuple[str, ...] = ()
    goals: float = 0.0  # share of ended individual trajectories with GAS goals
    ijw_codes: float = 0.0  # share of end reasons sent as iJw JZ588 codes
    dropout: float = 1.0  # multiplies the base drop-out chance
    satisfaction: float = 0.0  # shifts the satisfaction marks
    duration: float = 1.0  # multiplies trajectory durations


PROVIDER_PROFILES: tuple[ProviderProfile, ...] = (
    ProviderProfile(
        "98301012", "Jeugdzorg Zeewind", "jeugdhulp", "ZWD", 30, None,
        hulpvorm={"02": 0.72, "03": 0.08, "04": 0.20},
        products={"02": {"45": 0.85, "50": 0.12, None: 0.03}},
        rom=0.35, instruments=("SDQ", "ZRM"), goals=0.45, ijw_codes=0.9, dropout=1.0, satisfaction=0.0,
    ),
    ProviderProfile(
        "98301029", "Stichting Horizonbrug Jeugd", "jeugdhulp", "HZB", 9,
        ("Friesland", "Groningen", "Twente"),
        hulpvorm={"14": 0.55, "13": 0.15, "12": 0.30},
        rom=0.40, instruments=("HoNOSCA", "CBCL"), goals=0.55, ijw_codes=0.0, dropout=1.3, satisfaction=-0.4,
        duration=1.1,
    ),
    ProviderProfile(
        "98301036", "Pleegzorg De Lindeboom", "jeugdhulp", "LDB", 7, None,
        hulpvorm={"11": 0.82, "12": 0.18},
        rom=0.05, instruments=("SDQ",), goals=0.30, ijw_codes=1.0, dropout=0.5, satisfaction=0.3,
    ),
    ProviderProfile(
        "98301043", "Kinder- en Jeugdpsychiatrie De Waterlelie", "jeugdhulp", "WTL", 13,
        ("Amsterdam-Amstelland", "Groningen", "Zuid-Limburg"),
        hulpvorm={"02": 0.9, "03": 0.1},
        products={"02": {"52": 0.45, "54": 0.35, "51": 0.20}, "03": {"41": 0.8, "54": 0.2}},
        rom=0.75, instruments=("SDQ", "CBCL", "HoNOSCA"), goals=0.25, ijw_codes=0.0, dropout=1.2,
        satisfaction=0.1,
    ),
    ProviderProfile(
        "98301050", "Jeugdteam Amstelkring", "jeugdhulp", "AMK", 16, ("Amsterdam-Amstelland",),
        hulpvorm={"01": 0.85, "04": 0.15},
        rom=0.0, goals=0.0, ijw_codes=0.0, dropout=0.8, satisfaction=0.2, duration=0.8,
    ),
    ProviderProfile(
        "98301067", "Gebiedsteam Jeugd Waddenkust", "jeugdhulp", "WDK", 9, ("Friesland",),
        hulpvorm={"01": 0.70, "04": 0.30},
        rom=0.0, goals=0.20, ijw_codes=0.5, dropout=0.7, satisfaction=0.4, duration=0.8,
    ),
    ProviderProfile(
        "98301074", "Dagbehandeling De Kikkerbrug", "jeugdhulp", "KKB", 4, ("Groningen", "Twente"),
        hulpvorm={"03": 1.0},
        rom=0.45, instruments=("CBCL",), goals=0.65, ijw_codes=1.0, dropout=0.9, satisfaction=0.2,
    ),
    ProviderProfile(
        "98301081", "Netwerkhulp Ommeland", "jeugdhulp", "OML", 6, ("Groningen", "Friesland"),
        hulpvorm={"04": 0.70, "02": 0.30},
        rom=0.30, instruments=("ZRM",), goals=0.50, ijw_codes=0.0, dropout=1.1, satisfaction=-0.1,
    ),
    ProviderProfile(
        "98301098", "Crisisdienst Jeugd Vierstroom", "jeugdhulp", "VRS", 3, None,
        hulpvorm={"02": 0.55, "14": 0.45},
        products={"02": {"46": 1.0}, "14": {"46": 1.0}},
        rom=0.0, goals=0.0, ijw_codes=0.3, dropout=1.5, satisfaction=-0.3,
    ),
    ProviderProfile(
        "98301104", "Jeugdpraktijk Dinkelhoek", "jeugdhulp", "DKH", 8, ("Twente", "Zuid-Limburg"),
        hulpvorm={"02": 1.0},
        products={"02": {"45": 0.5, "54": 0.4, "51": 0.1}},
        rom=0.55, instruments=("SDQ", "ZRM"), goals=0.35, ijw_codes=1.0, dropout=1.0, satisfaction=0.0,
    ),
    ProviderProfile(
        "98302010", "Jeugdbescherming Noordster", "gi", "NST", 10, ("Friesland", "Groningen"),
        dropout=1.0, satisfaction=0.0,
    ),
    ProviderProfile(
        "98302027", "Jeugdbescherming en Jeugdreclassering Amstelpoort", "gi", "AMP", 10,
        ("Amsterdam-Amstelland",), satisfaction=-0.2,
    ),
    ProviderProfile(
        "98302034", "Gecertificeerde Instelling Oostvelden", "gi", "OVD", 10, ("Twente", "Zuid-Limburg"),
        satisfaction=0.2,
    ),
    ProviderProfile(
        "98302041", "Landelijke Jeugdbescherming De Wegwijzer", "gi", "WGW", 3, None, satisfaction=0.1,
    ),
)

# Product category per hulpvorm when the provider has no own mapping (None: left out).
_DEFAULT_PRODUCTS: dict[str, dict[str | None, float]] = {
    "01": {None: 0.70, "45": 0.20, "50": 0.10},
    "02": {"45": 0.9, "50": 0.07, None: 0.03},
    "03": {"41": 0.92, None: 0.08},
    "04": {"45": 0.6, "50": 0.35, None: 0.05},
    "11": {"44": 0.85, "43": 0.1, None: 0.05},
    "12": {"43": 0.55, "44": 0.4, None: 0.05},
    "13": {"43": 0.97, None: 0.03},
    "14": {"43": 0.75, "44": 0.2, None: 0.05},
}

# Median duration in days of a trajectory or measure, and the spread (log-normal sigma).
_DURATION: dict[str, tuple[float, float]] = {
    "01": (150, 0.6), "02": (240, 0.6), "03": (300, 0.5), "04": (180, 0.6),
    "11": (600, 0.6), "12": (500, 0.6), "13": (200, 0.5), "14": (360, 0.6),
    "crisis": (35, 0.5), "OTS": (430, 0.5), "voogdij": (1100, 0.5), "JR": (300, 0.4),
}

_BIJ_TO_IJW = {"01": "31", "02": "34", "03": "32", "04": "33", "05": "35"}
_END_REASON = {"01": 0.60, "02": 0.15, "03": 0.15, "04": 0.05, "05": 0.05}
_OTS_END = {"01": 0.33, "02": 0.30, "03": 0.06, "04": 0.08, "05": 0.05, "06": 0.02, "07": 0.16}
_VOOGDIJ_END = {"11": 0.25, "12": 0.15, "13": 0.30, "14": 0.15, "15": 0.15}
_JR_END = {"21": 0.55, "22": 0.15, "23": 0.12, "24": 0.08, "25": 0.10}
_MARK = {1: 1, 2: 1, 3: 2, 4: 3, 5: 6, 6: 14, 7: 27, 8: 28, 9: 13, 10: 5}
_CONTINUE = {
    "planned": {"01": 0.15, "02": 0.25, "03": 0.12, "04": 0.48},
    "early": {"01": 0.40, "02": 0.22, "03": 0.20, "04": 0.18},
}
_REFERRER = {"01": 0.45, "02": 0.24, "03": 0.08, "04": 0.06, "05": 0.08, "06": 0.03, "08": 0.03, None: 0.03}
_GOAL_SCORE = {-2: 0.06, -1: 0.17, 0: 0.40, 1: 0.26, 2: 0.11}
# Age in whole years at the start of the first trajectory, per framework.
_AGE_START: dict[str, dict[int, float]] = {
    "jeugdhulp": {**{a: 1.0 for a in range(0, 4)}, **{a: 2.6 for a in range(4, 12)}, **{a: 3.8 for a in range(12, 16)},
                  16: 3.6, 17: 3.2, 18: 1.2, 19: 0.8, 20: 0.5, 21: 0.3, 22: 0.2},
    "jeugdbescherming": {**{a: 2.0 for a in range(0, 4)}, **{a: 2.8 for a in range(4, 12)},
                         **{a: 3.0 for a in range(12, 16)}, 16: 2.0, 17: 1.0},
    "jeugdreclassering": {12: 1, 13: 3, 14: 7, 15: 11, 16: 15, 17: 15, 18: 8, 19: 5, 20: 3, 21: 2, 22: 1},
}
_FIRST_FRAMEWORK = {"jeugdhulp": 0.835, "jeugdbescherming": 0.105, "jeugdreclassering": 0.06}
_CHAIN_LENGTH = {1: 0.78, 2: 0.16, 3: 0.045, 4: 0.015}
_NEXT_FRAMEWORK = {
    "jeugdhulp": {"jeugdhulp": 0.93, "jeugdbescherming": 0.045, "jeugdreclassering": 0.025},
    "jeugdbescherming": {"jeugdbescherming": 0.35, "jeugdhulp": 0.65},
    "jeugdreclassering": {"jeugdreclassering": 0.40, "jeugdhulp": 0.60},
}
_NEW_START_WITHIN_SIX_MONTHS = 0.5  # share of follow-ups that start within 183 days of the end


# ---- the output ----------------------------------------------------------------------------------
@dataclass
class DemoProvider:
    agb: str  # AGB code, 8 digits
    name: str
    kind: ProviderKind  # "gi": a certified institution doing jeugdbescherming and jeugdreclassering


@dataclass
class DemoConsent:
    provider: str  # AGB code of the provider that registers it
    body: dict[str, Any]  # exactly the POST /v1/consents body


@dataclass
class DemoRecord:
    provider: str  # AGB code of the provider that sends it
    consent_ref: str  # the provider's consent reference; the seeder maps it to a consent id
    body: dict[str, Any]  # the record as POST /v1/records/batches takes it, "consent_id" still ""

    def with_consent_id(self, consent_id: str) -> dict[str, Any]:
        """A copy of the body with the consent id the registration returned filled in."""
        return {**self.body, "consent_id": consent_id}


@dataclass
class DemoPopulation:
    seed: int
    today: date
    providers: list[DemoProvider]
    consents: list[DemoConsent]
    records: list[DemoRecord]

    def provider(self, agb: str) -> DemoProvider:
        for provider in self.providers:
            if provider.agb == agb:
                return provider
        raise KeyError(agb)


def batches(records: Sequence[DemoRecord], size: int = 1000) -> list[list[DemoRecord]]:
    """The records grouped per provider (in order of first appearance) into lists of at most ``size``."""
    if size < 1:
        raise ValueError("size must be at least 1")
    per_provider: dict[str, list[DemoRecord]] = {}
    for record in records:
        per_provider.setdefault(record.provider, []).append(record)
    return [items[i:i + size] for items in per_provider.values() for i in range(0, len(items), size)]


# ---- helpers -------------------------------------------------------------------------------------
def _pick(rng: random.Random, weights: Mapping[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _synthetic_bsn(rng: random.Random) -> str:
    """A random 9-digit number that passes the elfproef (and is not a reserved number)."""
    while True:
        digits = [rng.randrange(10) for _ in range(8)]
        check = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if check == 10 or (not any(digits) and check == 0):
            continue
        return "".join(map(str, digits)) + str(check)


def _birthday(birth: date, years: int) -> date:
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:  # 29 February
        return birth.replace(year=birth.year + years, day=28)


def _age(birth: date, on: date) -> int:
    years = on.year - birth.year
    return years - 1 if (on.month, on.day) < (birth.month, birth.day) else years


def _age_band(age: int) -> str:
    if age <= 3:
        return "0-3"
    if age <= 11:
        return "4-11"
    if age <= 15:
        return "12-15"
    if age <= 17:
        return "16-17"
    return "18+"


def _duration(rng: random.Random, key: str, factor: float) -> int:
    median, sigma = _DURATION[key]
    return max(7, min(2500, round(median * factor * math.exp(rng.gauss(0, sigma)))))


def _clip(value: float, low: float | None, high: float | None) -> float:
    if low is not None:
        value = max(low, value)
    if high is not None:
        value = min(high, value)
    return value


@dataclass
class _Youth:
    bsn: str
    municipality: str
    region: str
    birth: date
    sex: str | None
    guardianship: bool = False


@dataclass
class _Trajectory:
    youth: _Youth
    profile: ProviderProfile
    framework: str
    start: date
    end: date | None
    end_reason: str | None  # BiJ / measure code (before any iJw translation)
    body: dict[str, Any]


class _Generator:
    def __init__(self, seed: int, today: date, codelists: CodeLists,
                 instruments: Mapping[str, RomInstrument]) -> None:
        if today < FIRST_START + timedelta(days=60):
            raise ValueError(f"today must be at least two months after {FIRST_START}")
        self.rng = random.Random(seed)
        self.today = today
        self.codelists = codelists
        self.instruments = instruments
        self.municipality_weights = self._municipality_weights()
        self.unseen = sorted(self.municipality_weights, reverse=True)
        self.used_bsns: set[str] = set()
        self.record_numbers: dict[str, int] = {}

    def _municipality_weights(self) -> dict[str, float]:
        weights: dict[str, float] = {}
        for region in DEMO_REGIONS:
            for code in self.codelists.regions.get(region, ()):
                weights[code] = float(MUNICIPALITY_POPULATION.get(code, _DEFAULT_POPULATION))
        if _SCHIERMONNIKOOG in weights:
            others = sum(w for c, w in weights.items() if c != _SCHIERMONNIKOOG)
            weights[_SCHIERMONNIKOOG] = others * _SCHIERMONNIKOOG_SHARE / (1 - _SCHIERMONNIKOOG_SHARE)
        return weights

    # -- youths and chains ---------------------------------------------------------------------
    def youth(self, framework: str, start: date) -> _Youth:
        rng = self.rng
        bsn = _synthetic_bsn(rng)
        while bsn in self.used_bsns:
            bsn = _synthetic_bsn(rng)
        self.used_bsns.add(bsn)
        if self.unseen:  # one youth in every municipality first, then by weight
            municipality = self.unseen.pop()
        else:
            municipality = _pick(rng, self.municipality_weights)
        age = _pick(rng, _AGE_START[framework])
        birth = start - timedelta(days=int((age + rng.random()) * 365.25))
        while _age(birth, start) != age:  # leap-day rounding: nudge into the intended year
            birth += timedelta(days=1 if _age(birth, start) > age else -1)
        sex = _pick(rng, {"V": 0.46, "M": 0.52, "O": 0.02})
        return _Youth(bsn=bsn, municipality=municipality, region=self.codelists.municipalities[municipality].region,
                      birth=birth, sex=sex if rng.random() > 0.12 else None)

    def providers_for(self, youth: _Youth, framework: str) -> list[ProviderProfile]:
        kind = "jeugdhulp" if framework == "jeugdhulp" else "gi"
        return [p for p in PROVIDER_PROFILES
                if p.kind == kind and (p.regions is None or youth.region in p.regions)]

    def choose_provider(self, youth: _Youth, framework: str, previous: ProviderProfile | None) -> ProviderProfile:
        candidates = self.providers_for(youth, framework)
        if previous is not None and previous in candidates:
            if self.rng.random() < 0.4:
                return previous
            if len(candidates) > 1:
                candidates = [p for p in candidates if p is not previous]
        return _pick(self.rng, {p: p.size for p in candidates})

    def chain(self) -> list[_Trajectory]:
        rng = self.rng
        span = (self.today - FIRST_START).days
        framework = _pick(rng, _FIRST_FRAMEWORK)
        start = FIRST_START + timedelta(days=rng.randrange(span + 1))
        youth = self.youth(framework, start)
        length = _pick(rng, _CHAIN_LENGTH)
        measure = None
        if framework == "jeugdbescherming":
            measure = "voogdij" if rng.random() < 0.2 else "OTS"
            youth.guardianship = measure == "voogdij"
        trajectories = [self.trajectory(youth, self.choose_provider(youth, framework, None), framework, start,
                                        measure=measure)]
        while len(trajectories) < length:
            previous = trajectories[-1]
            if previous.end is None:
                break
            age = _age(youth.birth, previous.end)
            if previous.framework == "jeugdbescherming" and previous.body.get("measure_type") == "OTS" \
                    and previous.end_reason == "03":  # OTS converted into guardianship
                framework, measure, start = "jeugdbescherming", "voogdij", previous.end + timedelta(days=1)
                provider = previous.profile
                youth.guardianship = True
            else:
                framework = _pick(rng, _NEXT_FRAMEWORK[previous.framework])
                if framework == "jeugdbescherming" and age >= 17:
                    framework = "jeugdhulp"
                if framework == "jeugdreclassering" and not 12 <= age <= 22:
                    framework = "jeugdhulp"
                if framework == "jeugdhulp" and age >= 22:
                    break
                measure = ("voogdij" if rng.random() < 0.15 else "OTS") if framework == "jeugdbescherming" else None
                if rng.random() < _NEW_START_WITHIN_SIX_MONTHS:
                    gap = rng.randint(1, 183)
                else:
                    gap = rng.randint(184, 700)
                start = previous.end + timedelta(days=gap)
                provider = self.choose_provider(youth, framework, previous.profile)
            if start > self.today:
                break
            trajectories.append(self.trajectory(youth, provider, framework, start, measure=measure,
                                                after=previous))
        return trajectories

    # -- one trajectory ------------------------------------------------------------------------
    def record_id(self, profile: ProviderProfile, label: str, start: date) -> str:
        number = self.record_numbers.get(profile.agb, 0) + 1
        self.record_numbers[profile.agb] = number
        return f"{profile.prefix}-{label}-{start.year}-{number:06d}"

    def _end(self, start: date, days: int) -> date | None:
        end = start + timedelta(days=days)
        return end if end <= self.today else None

    def trajectory(self, youth: _Youth, profile: ProviderProfile, framework: str, start: date, *,
                   measure: str | None = None, after: _Trajectory | None = None) -> _Trajectory:
        if framework == "jeugdhulp":
            return self.jeugdhulp(youth, profile, start, after)
        return self.measure(youth, profile, framework, measure or "JR", start)

    def _common(self, youth: _Youth, record_id: str, framework: str, start: date) -> dict[str, Any]:
        return {
            "record_id": record_id,
            "framework": framework,
            "pseudonym": "",  # filled in by generate() with the stage-1 pseudonym
            "consent_id": "",
            "municipality": youth.municipality,
            "start_date": start.isoformat(),
        }

    def _breakdown(self, body: dict[str, Any], youth: _Youth, start: date) -> None:
        if self.rng.random() > 0.10:
            body["age_band"] = _age_band(_age(youth.birth, start))
        if youth.sex is not None:
            body["sex"] = youth.sex

    def _informant(self, youth: _Youth, on: date) -> str:
        youth_share = 0.65 if _age(youth.birth, on) >= 12 else 0.05
        return "youth" if self.rng.random() < youth_share else "parent"

    def _mark(self, shift: float) -> int:
        return int(_clip(round(_pick(self.rng, _MARK) + shift + self.rng.gauss(0, 0.3)), 1, 10))

    def jeugdhulp(self, youth: _Youth, profile: ProviderProfile, start: date,
                  after: _Trajectory | None) -> _Trajectory:
        rng = self.rng
        hulpvorm = _pick(rng, profile.hulpvorm)
        product = _pick(rng, profile.products.get(hulpvorm) or _DEFAULT_PRODUCTS[hulpvorm])
        crisis = product == "46"
        reasons = dict(_END_REASON)
        reasons["03"] *= profile.dropout
        reason = _pick(rng, reasons)
        factor = profile.duration * (0.5 if reason in ("03", "04") else 1.0)
        end = self._end(start, _duration(rng, "crisis" if crisis else hulpvorm, factor))
        # Care for young adults (verlengde jeugdhulp) ends by 23.
        end_of_youth_care = _birthday(youth.birth, 23) - timedelta(days=1)
        if end_of_youth_care < start:
            end_of_youth_care = start
        if (end or self.today) > end_of_youth_care:
            end, reason = end_of_youth_care, "01"

        body = self._common(youth, self.record_id(profile, "traj", start), "jeugdhulp", start)
        if end is not None:
            body["end_date"] = end.isoformat()
        body["hulpvorm"] = hulpvorm
        if product is not None:
            body["product_category"] = product
        if end is not None:
            body["end_reason"] = _BIJ_TO_IJW[reason] if rng.random() < profile.ijw_codes else reason
        referrer = self._referrer(hulpvorm, crisis, after)
        if referrer is not None:
            body["referrer"] = referrer
        self._breakdown(body, youth, start)
        if end is not None:
            outcomes = self._jeugdhulp_outcomes(youth, profile, end, reason, individual=hulpvorm != "01" and not crisis)
            if outcomes:
                body["outcomes"] = outcomes
        return _Trajectory(youth, profile, "jeugdhulp", start, end, reason if end else None, body)

    def _referrer(self, hulpvorm: str, crisis: bool, after: _Trajectory | None) -> str | None:
        rng = self.rng
        if hulpvorm == "01":
            return "06" if rng.random() < 0.6 else None  # free access: no referral
        if hulpvorm == "13":
            return "08" if rng.random() < 0.7 else "04"  # closed care needs a court authorisation
        if after is not None and after.framework != "jeugdhulp" and rng.random() < 0.6:
            return "04"
        if crisis:
            return _pick(rng, {"01": 0.4, "02": 0.2, "04": 0.2, "05": 0.1, "08": 0.1})
        return _pick(rng, _REFERRER)

    def _jeugdhulp_outcomes(self, youth: _Youth, profile: ProviderProfile, end: date, reason: str, *,
                            individual: bool) -> dict[str, Any]:
        rng = self.rng
        early = reason in ("03", "04")
        outcomes: dict[str, Any] = {}
        if rng.random() < (0.40 if early else 0.66):
            outcomes["satisfaction"] = {"mark": self._mark(profile.satisfaction - (1.5 if early else 0.0)),
                                        "informant": self._informant(youth, end)}
        if rng.random() < (0.35 if early else 0.58):
            outcomes["continue_without_help"] = {
                "code": _pick(rng, _CONTINUE["early" if reason != "01" else "planned"]),
                "informant": self._informant(youth, end),
            }
        if individual and profile.instruments and rng.random() < profile.rom * (0.5 if early else 1.0):
            outcomes["rom"] = self._rom(_pick(rng, {name: 1.0 for name in profile.instruments
                                                    if name in self.instruments} or {"SDQ": 1.0}), early)
        if individual and rng.random() < profile.goals * (0.6 if early else 1.0):
            goals = []
            for _ in range(_pick(rng, {1: 0.1, 2: 0.3, 3: 0.35, 4: 0.15, MAX_GOALS: 0.1})):
                score = int(_clip(_pick(rng, _GOAL_SCORE) - (1 if early and rng.random() < 0.5 else 0), -2, 2))
                goal: dict[str, Any] = {"score": score}
                if rng.random() < 0.2:
                    goal["weight"] = rng.choice((1, 2, 3))
                goals.append(goal)
            outcomes["goals"] = goals
        return outcomes

    def _rom(self, name: str, early: bool) -> dict[str, Any]:
        rng = self.rng
        instrument = self.instruments[name]
        # Clinical intake scores sit above the norm group's mean; most clients improve somewhat.
        centre = {"SDQ": 19.0, "CBCL": 66.0, "HoNOSCA": 17.0, "ZRM": 30.0}.get(name, 0.0)
        low, high = instrument.min_score, instrument.max_score
        if name == "CBCL":
            low, high = 30.0, 100.0
        pre = round(_clip(rng.gauss(centre, instrument.sd * 0.8), low, high))
        improvement = rng.gauss(0.45 if not early else 0.05, 0.7) * instrument.sd
        post = pre + improvement if instrument.higher_is_better else pre - improvement
        return {"instrument": name, "pre": pre, "post": round(_clip(post, low, high))}

    def measure(self, youth: _Youth, profile: ProviderProfile, framework: str, measure: str,
                start: date) -> _Trajectory:
        rng = self.rng
        reasons = {"OTS": _OTS_END, "voogdij": _VOOGDIJ_END, "JR": _JR_END}[measure]
        reason = _pick(rng, reasons)
        end = self._end(start, _duration(rng, measure, 0.6 if reason in ("22", "23", "05", "14") else 1.0))
        if framework == "jeugdbescherming":  # a child protection measure ends at majority
            majority = _birthday(youth.birth, 18)
            if majority <= (end or self.today) and majority >= start:
                end, reason = majority, ("04" if measure == "OTS" else "11")
        if framework == "jeugdbescherming" and end is not None and reason in ("04", "11") \
                and _age(youth.birth, end) < 18:
            reason = "07" if measure == "OTS" else "15"  # majority was not reached: another reason

        label = {"OTS": "ots", "voogdij": "vgd", "JR": "jr"}[measure]
        body = self._common(youth, self.record_id(profile, label, start), framework, start)
        body["measure_type"] = measure
        if end is not None:
            body["end_date"] = end.isoformat()
            body["end_reason"] = reason
            if rng.random() < 0.65:
                if reason in ("03", "23"):
                    body["continuation"] = "scale_up"
                else:
                    body["continuation"] = _pick(rng, {"continuation": 0.25, "scale_down": 0.6, "scale_up": 0.15})
        self._breakdown(body, youth, start)
        if end is not None:
            outcomes = self._measure_outcomes(youth, profile, framework, end, reason)
            if outcomes:
                body["outcomes"] = outcomes
        return _Trajectory(youth, profile, framework, start, end, reason if end else None, body)

    def _measure_outcomes(self, youth: _Youth, profile: ProviderProfile, framework: str, end: date,
                          reason: str) -> dict[str, Any]:
        rng = self.rng
        worse = reason in ("03", "22", "23")
        outcomes: dict[str, Any] = {}
        if rng.random() < 0.45:
            outcomes["client_experience"] = {"mark": self._mark(profile.satisfaction - 0.8 - (1.0 if worse else 0)),
                                             "informant": self._informant(youth, end)}
        if framework == "jeugdbescherming":
            if rng.random() < 0.6:
                threat_start = _pick(rng, {5: 1, 6: 2, 7: 3, 8: 3, 9: 2, 10: 1})
                change = rng.gauss(-0.5 if worse else 2.2, 1.8)
                outcomes["threat"] = {"start": threat_start,
                                      "end": int(_clip(round(threat_start - change), 1, 10))}
            if rng.random() < 0.5:
                acceptance: dict[str, str] = {}
                for part, weights in (("goals", {"yes": 0.5, "partly": 0.35, "no": 0.15}),
                                      ("help", {"yes": 0.5, "partly": 0.35, "no": 0.15}),
                                      ("role", {"yes": 0.35, "partly": 0.4, "no": 0.25})):
                    if rng.random() < 0.85:
                        acceptance[part] = _pick(rng, weights)
                if acceptance:
                    outcomes["acceptance"] = acceptance
        elif rng.random() < 0.55:
            risk_start = rng.randint(8, 30)
            change = rng.gauss(-1.0 if worse else 3.0, 4.0)
            outcomes["lij_risk"] = {"start": risk_start, "end": max(0, round(risk_start - change))}
        return outcomes


def _given_by(age: int, guardianship: bool, rng: random.Random) -> str:
    if age < 12:
        return "guardian" if guardianship or rng.random() < 0.03 else "parents"
    if age < 16:
        return "youth_and_parents"
    return "youth"


def generate(
    records: int = 5000,
    *,
    seed: int = 2025,
    provider_key: PseudonymKey,
    today: date,
    codelists: CodeLists | None = None,
    rom_instruments: Mapping[str, RomInstrument] | None = None,
) -> DemoPopulation:
    """A synthetic population of exactly ``records`` records, the same for the same arguments.

    ``provider_key`` is the stage-1 key the providers of the scheme share; ``today`` bounds every
    date (no start, end or consent lies after it; every consent is still valid on it).
    """
    if records < 0:
        raise ValueError("records must not be negative")
    codelists = codelists or load_codelists()
    instruments = rom_instruments if rom_instruments is not None else load_rom_instruments()
    gen = _Generator(seed, today, codelists, instruments)
    rng = gen.rng

    trajectories: list[_Trajectory] = []
    while len(trajectories) < records:
        trajectories.extend(gen.chain()[: records - len(trajectories)])

    order = {p.agb: i for i, p in enumerate(PROVIDER_PROFILES)}
    pseudonyms: dict[str, str] = {}
    consent_refs: dict[tuple[str, str], str] = {}  # (provider, bsn) -> consent_ref
    consents: list[tuple[date, DemoConsent]] = []
    consent_numbers: dict[str, int] = {}
    demo_records: list[DemoRecord] = []
    for item in trajectories:
        youth, profile = item.youth, item.profile
        pseudonym = pseudonyms.get(youth.bsn)
        if pseudonym is None:
            pseudonym = pseudonyms[youth.bsn] = pseudonymise_bsn(youth.bsn, provider_key)
        ref = consent_refs.get((profile.agb, youth.bsn))
        if ref is None:
            number = consent_numbers.get(profile.agb, 0) + 1
            consent_numbers[profile.agb] = number
            ref = consent_refs[(profile.agb, youth.bsn)] = f"{profile.prefix}-TOE-{number:06d}"
            # Chains run forward in time, so this is the youth's first trajectory at this provider.
            given_at = max(item.start - timedelta(days=rng.choice((0, 0, 0, 1, 3, 7, 14, 21, 28))), youth.birth)
            age = _age(youth.birth, given_at)
            valid_until = None
            if rng.random() < 0.5:
                valid_until = _birthday(given_at, rng.randint(2, 5))
                if valid_until <= today:
                    valid_until = today + timedelta(days=rng.randint(30, 730))
            body = {
                "consent_ref": ref,
                "pseudonym": pseudonym,
                "given_by": _given_by(age, youth.guardianship, rng),
                "age_at_consent": age,
                "purpose": "outcome-monitoring",
                "municipalities": [youth.municipality],
                "given_at": given_at.isoformat(),
                "valid_until": valid_until.isoformat() if valid_until else None,
            }
            consents.append((given_at, DemoConsent(provider=profile.agb, body=body)))
        item.body["pseudonym"] = pseudonym
        demo_records.append(DemoRecord(provider=profile.agb, consent_ref=ref, body=item.body))

    consents.sort(key=lambda c: (order[c[1].provider], c[0], c[1].body["consent_ref"]))
    demo_records.sort(key=lambda r: (order[r.provider], r.body["start_date"], r.body["record_id"]))
    providers = [DemoProvider(agb=p.agb, name=p.name, kind=p.kind) for p in PROVIDER_PROFILES]
    return DemoPopulation(seed=seed, today=today, providers=providers, consents=[c for _, c in consents],
                          records=demo_records)
