"""The privacy configuration: every DPIA-relevant choice in one TOML file.

The service loads this file at start and refuses to run on an unsafe or incomplete one. Each
problem is reported as ``<key>: <rule>`` so that the operator knows what to fix. The file's SHA-256
is what the audit log records at every start, so a privacy officer can tell which configuration
was in force when.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: No configuration may lower the minimum cell size below this floor (DOMAIN.md, our choice).
MINIMUM_CELL_SIZE_FLOOR = 10

LEGAL_BASES = {
    "GDPR art. 6(1)(a)": "toestemming",
    "GDPR art. 9(2)(a)": "uitdrukkelijke toestemming voor bijzondere persoonsgegevens (gezondheidsgegevens)",
    "GDPR art. 6(1)(c)": "wettelijke verplichting",
    "GDPR art. 6(1)(e)": "taak van algemeen belang",
    "GDPR art. 9(2)(h)": "gezondheidszorg of sociale diensten",
    "GDPR art. 9(2)(j)": "statistiek en onderzoek, met passende waarborgen",
}

_GM_CODE = re.compile(r"^GM\d{4}$")


class PrivacyConfigurationError(Exception):
    """The privacy configuration cannot be used; ``problems`` lists each ``key: rule``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"privacy configuration {source} is not usable:\n{lines}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Section):
    name: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    address: str | None = None
    chamber_of_commerce: str | None = None


class Purpose(_Section):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$")
    description: str = Field(min_length=1)
    legal_bases: list[str] = Field(min_length=1)

    @field_validator("legal_bases")
    @classmethod
    def _known_bases(cls, value: list[str]) -> list[str]:
        unknown = [b for b in value if b not in LEGAL_BASES]
        if unknown:
            raise ValueError(f"unknown legal basis {unknown[0]!r}; use one of {sorted(LEGAL_BASES)}")
        return value


class DataCategories(_Section):
    processed: list[str] = Field(min_length=1)
    never_accepted: list[str] = Field(min_length=1)


class Recipient(_Section):
    name: str = Field(min_length=1)
    receives: str = Field(min_length=1)


class Disclosure(_Section):
    minimum_cell_size: int
    rounding_base: int = Field(default=5, ge=0, le=10)
    small_count: int = Field(default=3, ge=1, le=9)
    municipality_thresholds: dict[str, int] = Field(default_factory=dict)

    @field_validator("minimum_cell_size")
    @classmethod
    def _floor(cls, value: int) -> int:
        if value < MINIMUM_CELL_SIZE_FLOOR:
            raise ValueError(
                f"must be at least {MINIMUM_CELL_SIZE_FLOOR} (the floor no configuration can lower); got {value}"
            )
        return value

    @model_validator(mode="after")
    def _raise_only(self) -> Disclosure:
        for code, threshold in self.municipality_thresholds.items():
            if threshold < self.minimum_cell_size:
                raise ValueError(
                    f"municipality_thresholds.{code} = {threshold}: a municipality may only raise its "
                    f"threshold, not lower it below minimum_cell_size = {self.minimum_cell_size}"
                )
        return self


class Regions(_Section):
    reporting_agreed: list[str] = Field(default_factory=list)


class Retention(_Section):
    records_months: int = Field(ge=1, le=120)
    audit_years: int = Field(ge=1, le=30)


class Linkage(_Section):
    new_start_window_months: int = Field(default=6, ge=1, le=24)


class Indicators(_Section):
    satisfaction_cutoff: int = Field(default=7, ge=1, le=10)


#: When a published quarter may be published again with late records, corrections and withdrawals.
REVISION_POINTS = ("next_release", "year_end")


class Publication(_Section):
    """The publication calendar: when releases are made and when a period may change again.

    ``cadence``: a release every quarter or every month. ``settle_days``: a period is first
    published this many days after its end (late records and pending linkage settle first).
    ``revisions``: a published quarter changes again only at these points: ``next_release``
    (the first release after its first publication) and ``year_end`` (the release that first
    publishes its year); at any other release its figures are those already published.
    """

    cadence: str = "quarterly"
    settle_days: int = Field(default=45, ge=0, le=365)
    revisions: list[str] = Field(default_factory=lambda: list(REVISION_POINTS))

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, value: str) -> str:
        if value not in ("quarterly", "monthly"):
            raise ValueError(
                f"must be 'quarterly' or 'monthly', got {value!r}: releases protect the change since the last "
                "one by holding back small changes, so a finer cadence only makes more changes wait")
        return value

    @field_validator("revisions")
    @classmethod
    def _revisions(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in REVISION_POINTS]
        if unknown:
            raise ValueError(f"unknown revision point {unknown[0]!r}; use any of {list(REVISION_POINTS)}")
        if len(set(value)) != len(value):
            raise ValueError("a revision point is listed twice")
        return value


class Limits(_Section):
    """Limits on what one machine client may ask (OWASP API4) and its client-secret lifecycle.

    The rates and the report cap are counted per process (in memory): with N API processes a
    client may reach N times each. The lockout after failed client authentications is kept in the
    database, so it holds across every process and pod. See README.md "Limits".
    """

    #: Token requests per client id and minute (a bucket of this size refilled evenly).
    token_requests_per_minute: int = Field(default=30, ge=1, le=600)
    #: Writes (consents, record batches, notes; POST/PUT/DELETE) per client and minute.
    write_requests_per_minute: int = Field(default=6000, ge=1, le=60_000)
    #: Report requests one client may have running at once.
    concurrent_reports: int = Field(default=4, ge=1, le=64)
    #: Failed client authentications in a row (per client id) that lock it ...
    failed_authentications: int = Field(default=10, ge=3, le=100)
    #: ... for this long; even the right secret is refused meanwhile.
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: After ``ttp clients rotate-secret`` the old secret keeps working this long.
    secret_rotation_grace_hours: int = Field(default=24, ge=0, le=30 * 24)


class PrivacyConfiguration(_Section):
    """The validated privacy configuration (see ``deploy/privacy.example.toml``)."""

    version: str = Field(min_length=1)
    controller: Party
    processor: Party
    data_protection_officer: Party
    purposes: list[Purpose] = Field(min_length=1)
    data_categories: DataCategories
    recipients: list[Recipient] = Field(min_length=1)
    disclosure: Disclosure
    regions: Regions = Regions()
    retention: Retention
    linkage: Linkage = Linkage()
    indicators: Indicators = Indicators()
    publication: Publication = Publication()
    limits: Limits = Limits()

    @model_validator(mode="after")
    def _consent_purpose(self) -> PrivacyConfiguration:
        if not any(p.id == "outcome-monitoring" for p in self.purposes):
            raise ValueError("purposes: the purpose 'outcome-monitoring' must be listed (consents name it)")
        for purpose in self.purposes:
            if purpose.id == "outcome-monitoring" and "GDPR art. 9(2)(a)" not in purpose.legal_bases:
                raise ValueError(
                    "purposes.outcome-monitoring.legal_bases: must include 'GDPR art. 9(2)(a)' "
                    "(health data flow only with explicit consent)"
                )
        return self

    def threshold_for(self, municipality: str) -> int:
        return self.disclosure.municipality_thresholds.get(municipality, self.disclosure.minimum_cell_size)

    def purpose_ids(self) -> list[str]:
        return [p.id for p in self.purposes]


@dataclass(frozen=True)
class LoadedConfiguration:
    """A configuration together with where it came from and the SHA-256 of its bytes."""

    configuration: PrivacyConfiguration
    source: str
    sha256: str
    text: str


def _format_location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif parts:
            parts.append(f".{item}")
        else:
            parts.append(str(item))
    return "".join(parts)


def _problems_from(error: ValidationError) -> list[str]:
    problems = []
    for err in error.errors():
        loc = _format_location(tuple(err["loc"]))
        kind: str = err["type"]
        message: str = err["msg"].removeprefix("Value error, ")
        if kind == "missing":
            problems.append(f"{loc}: missing (required)")
        elif kind == "extra_forbidden":
            problems.append(f"{loc}: unknown key (not a privacy configuration setting; check its spelling)")
        elif loc:
            problems.append(f"{loc}: {message}")
        else:
            problems.append(message)
    return problems


def parse(
    text: str,
    *,
    source: str = "<text>",
    known_municipalities: Collection[str],
    known_regions: Collection[str],
) -> LoadedConfiguration:
    """Parse and validate configuration text; raises :class:`PrivacyConfigurationError`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PrivacyConfigurationError(source, [f"not valid TOML: {exc}"]) from None
    try:
        configuration = PrivacyConfiguration.model_validate(raw)
    except ValidationError as exc:
        raise PrivacyConfigurationError(source, _problems_from(exc)) from None

    problems: list[str] = []
    for code in configuration.disclosure.municipality_thresholds:
        if not _GM_CODE.fullmatch(code):
            problems.append(f"disclosure.municipality_thresholds.{code}: not a municipality code (GM + 4 digits)")
        elif code not in known_municipalities:
            problems.append(
                f"disclosure.municipality_thresholds.{code}: unknown municipality code "
                "(not in the CBS municipal division the service uses)"
            )
    for index, region in enumerate(configuration.regions.reporting_agreed):
        if region not in known_regions:
            problems.append(f"regions.reporting_agreed[{index}]: unknown jeugdzorgregio {region!r}")
    if problems:
        raise PrivacyConfigurationError(source, problems)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedConfiguration(configuration=configuration, source=source, sha256=digest, text=text)


def load(
    path: Path | None,
    *,
    known_municipalities: Collection[str],
    known_regions: Collection[str],
) -> LoadedConfiguration:
    """Load the configuration file at ``path``; ``None`` means none was given (refused)."""
    if path is None:
        raise PrivacyConfigurationError(
            "(none)", ["TTP_PRIVACY_CONFIG: must name a privacy configuration file in production"]
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PrivacyConfigurationError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    return parse(text, source=str(path), known_municipalities=known_municipalities, known_regions=known_regions)

