"""Code lists and instrument parameters as versioned reference data.

The lists live under ``app/data/`` (``codelists-2025.toml`` with ``gemeenten-2025.csv``, and
``rom-instruments.toml``); this module reads them once (cached) into immutable objects:

>>> cl = load_codelists()
>>> cl.version, cl.hulpvorm["02"], cl.municipalities["GM0363"].region
('2025.1', 'Jeugdhulp zonder verblijf: ambulant, op locatie van de aanbieder', 'Amsterdam-Amstelland')
>>> cl.end_reason_to_bij("32"), cl.end_reason_to_bij("03"), cl.end_reason_to_bij("99")
('03', '03', None)

Every lookup is a read-only mapping from code to Dutch label, in the order of the data file.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_CODELISTS = DATA_DIR / "codelists-2025.toml"
DEFAULT_ROM_INSTRUMENTS = DATA_DIR / "rom-instruments.toml"

_MUNICIPALITY_COLUMNS = ("gemeentecode", "gemeentenaam", "provincie", "jeugdzorgregio")


class CodeListError(ValueError):
    """A reference data file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Municipality:
    code: str  # CBS code, "GM" + 4 digits
    name: str
    province: str
    region: str  # jeugdzorgregio


@dataclass(frozen=True)
class MeasureType:
    code: str  # "OTS", "voogdij", "JR"
    framework: str  # "jeugdbescherming" or "jeugdreclassering"
    label: str


@dataclass(frozen=True)
class CodeLists:
    """One dated version of every code list the record schemas and indicators use."""

    version: str
    valid_from: date
    municipalities: Mapping[str, Municipality]
    regions: Mapping[str, tuple[str, ...]]  # jeugdzorgregio -> municipality codes (sorted)
    frameworks: Mapping[str, str]
    hulpvorm: Mapping[str, str]
    product_category: Mapping[str, str]
    end_reason: Mapping[str, str]  # BiJ 01..05, the stored code
    end_reason_ijw: Mapping[str, str]  # iJw JZ588 code -> BiJ code
    measure_type: Mapping[str, MeasureType]
    end_reason_measure: Mapping[str, Mapping[str, str]]  # measure type -> code -> label
    jr_risk_change: Mapping[str, str]  # BiJ code 41/42/43 -> indicator value lower/equal/higher
    continuation: Mapping[str, str]
    referrer: Mapping[str, str]
    continue_without_help: Mapping[str, str]
    informant: Mapping[str, str]
    acceptance: Mapping[str, str]
    age_band: Mapping[str, str]
    sex: Mapping[str, str]

    def end_reason_to_bij(self, code: str) -> str | None:
        """The BiJ end reason for a BiJ (01..05) or iJw JZ588 (31..35) code; None if neither."""
        if code in self.end_reason:
            return code
        return self.end_reason_ijw.get(code)

    def measure_types_for(self, framework: str) -> tuple[str, ...]:
        """The measure types of a framework ("jeugdbescherming" -> ("OTS", "voogdij"))."""
        return tuple(m.code for m in self.measure_type.values() if m.framework == framework)

    def region_of(self, municipality: str) -> str | None:
        found = self.municipalities.get(municipality)
        return found.region if found else None


@dataclass(frozen=True)
class RomInstrument:
    """Parameters of one ROM instrument for the reliable change index (indicator 3.3)."""

    name: str
    sd: float  # SD1: standard deviation of the pre-scores in the norm group
    reliability: float  # r, 0 <= r < 1
    higher_is_better: bool
    label: str = ""
    min_score: float | None = None
    max_score: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sd) and self.sd > 0):
            raise CodeListError(f"ROM instrument {self.name}: sd must be a number greater than 0")
        if not (math.isfinite(self.reliability) and 0 <= self.reliability < 1):
            raise CodeListError(f"ROM instrument {self.name}: reliability must be from 0 to below 1")
        if (
            self.min_score is not None
            and self.max_score is not None
            and not self.min_score < self.max_score
        ):
            raise CodeListError(f"ROM instrument {self.name}: min_score must be below max_score")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CodeListError(f"{path.name}: cannot read: {exc}") from exc


def _labels(doc: Mapping[str, Any], key: str, source: str) -> Mapping[str, str]:
    table = doc.get(key)
    if not isinstance(table, dict) or not table:
        raise CodeListError(f"{source}: table [{key}] is missing or empty")
    for code, label in table.items():
        if not isinstance(label, str):
            raise CodeListError(f"{source}: [{key}] {code!r} must have a text label")
    return MappingProxyType(dict(table))


def _read_municipalities(path: Path) -> dict[str, Municipality]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != _MUNICIPALITY_COLUMNS:
                raise CodeListError(f"{path.name}: header must be {','.join(_MUNICIPALITY_COLUMNS)}")
            result: dict[str, Municipality] = {}
            for row in reader:
                code = row["gemeentecode"]
                if code in result:
                    raise CodeListError(f"{path.name}: municipality {code} appears twice")
                if not (len(code) == 6 and code.startswith("GM") and code[2:].isdigit()):
                    raise CodeListError(f"{path.name}: {code!r} is not a GM + 4 digits code")
                result[code] = Municipality(
                    code=code,
                    name=row["gemeentenaam"],
                    province=row["provincie"],
                    region=row["jeugdzorgregio"],
                )
    except OSError as exc:
        raise CodeListError(f"{path.name}: cannot read: {exc}") from exc
    return result


@lru_cache(maxsize=8)
def load_codelists(path: Path = DEFAULT_CODELISTS) -> CodeLists:
    """Load one version of the code lists (cached: the same object on every call)."""
    doc = _read_toml(path)
    src = path.name
    version = doc.get("version")
    valid_from = doc.get("valid_from")
    if not isinstance(version, str) or not isinstance(valid_from, date):
        raise CodeListError(f"{src}: needs a text `version` and a date `valid_from`")

    municipalities = _read_municipalities(path.parent / str(doc.get("municipalities_file", "")))
    regions: dict[str, list[str]] = {}
    for m in municipalities.values():
        regions.setdefault(m.region, []).append(m.code)

    end_reason = _labels(doc, "end_reason", src)
    ijw: dict[str, str] = {}
    for code, entry in dict(doc.get("end_reason_ijw", {})).items():
        if not isinstance(entry, dict) or entry.get("bij") not in end_reason:
            raise CodeListError(f"{src}: [end_reason_ijw] {code!r} must map to a BiJ end reason")
        ijw[code] = entry["bij"]

    frameworks = _labels(doc, "frameworks", src)
    measures: dict[str, MeasureType] = {}
    for code, entry in dict(doc.get("measure_type", {})).items():
        if not isinstance(entry, dict) or entry.get("framework") not in frameworks:
            raise CodeListError(f"{src}: [measure_type] {code!r} must name a framework")
        measures[code] = MeasureType(code=code, framework=entry["framework"], label=str(entry["label"]))

    end_reason_measure_doc = doc.get("end_reason_measure", {})
    if set(end_reason_measure_doc) != set(measures):
        raise CodeListError(f"{src}: [end_reason_measure] needs one list per measure type")
    end_reason_measure = {m: _labels(end_reason_measure_doc, m, src) for m in measures}

    risk: dict[str, str] = {}
    for code, entry in dict(doc.get("jr_risk_change", {})).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise CodeListError(f"{src}: [jr_risk_change] {code!r} needs a value")
        risk[code] = entry["value"]

    return CodeLists(
        version=version,
        valid_from=valid_from,
        municipalities=MappingProxyType(municipalities),
        regions=MappingProxyType({r: tuple(sorted(codes)) for r, codes in sorted(regions.items())}),
        frameworks=frameworks,
        hulpvorm=_labels(doc, "hulpvorm", src),
        product_category=_labels(doc, "product_category", src),
        end_reason=end_reason,
        end_reason_ijw=MappingProxyType(ijw),
        measure_type=MappingProxyType(measures),
        end_reason_measure=MappingProxyType(end_reason_measure),
        jr_risk_change=MappingProxyType(risk),
        continuation=_labels(doc, "continuation", src),
        referrer=_labels(doc, "referrer", src),
        continue_without_help=_labels(doc, "continue_without_help", src),
        informant=_labels(doc, "informant", src),
        acceptance=_labels(doc, "acceptance", src),
        age_band=_labels(doc, "age_band", src),
        sex=_labels(doc, "sex", src),
    )


def _optional_float(value: Any, name: str, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodeListError(f"ROM instrument {name}: {key} must be a number")
    return float(value)


@lru_cache(maxsize=8)
def load_rom_instruments(path: Path = DEFAULT_ROM_INSTRUMENTS) -> Mapping[str, RomInstrument]:
    """Load ROM instrument parameters (cached). The shipped file holds example values."""
    doc = _read_toml(path)
    table = doc.get("instruments")
    if not isinstance(table, dict) or not table:
        raise CodeListError(f"{path.name}: table [instruments] is missing or empty")
    result: dict[str, RomInstrument] = {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("higher_is_better"), bool):
            raise CodeListError(f"ROM instrument {name}: needs sd, reliability and higher_is_better")
        sd = _optional_float(entry.get("sd"), name, "sd")
        reliability = _optional_float(entry.get("reliability"), name, "reliability")
        if sd is None or reliability is None:
            raise CodeListError(f"ROM instrument {name}: needs sd, reliability and higher_is_better")
        result[name] = RomInstrument(
            name=name,
            sd=sd,
            reliability=reliability,
            higher_is_better=entry["higher_is_better"],
            label=str(entry.get("label", "")),
            min_score=_optional_float(entry.get("min_score"), name, "min_score"),
            max_score=_optional_float(entry.get("max_score"), name, "max_score"),
        )
    return MappingProxyType(result)
