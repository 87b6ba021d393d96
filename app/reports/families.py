"""Families: what one protection run covers, and who may read which part of it.

Suppression protects nothing if it is judged one table at a time (DESIGN.md, "Who already knows
what"). So a report is never protected on its own: the *family* it belongs to is — everything
any party can obtain for one year and framework from the same data:

- a municipality in a region that agreed to regional reports: every member municipality and the
  region, with every breakdown, every quarter, half-year and year;
- any other municipality: itself, with every breakdown and period;
- a provider (its mirror report): itself across municipalities, with every breakdown and period.

The region rule lives here and nowhere else: a municipality reads its region's report only when
the privacy configuration records the region as agreed, and then its own report is part of the
region's family (a member can subtract its own cells from the region's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.privacy.configuration import PrivacyConfiguration
from app.records.codelists import CodeLists

AREA_DIMENSIONS = ("provider", "hulpvorm", "product_category", "age_band", "sex")
PROVIDER_DIMENSIONS = ("municipality", "hulpvorm", "product_category", "age_band", "sex")


def region_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class Family:
    """What one protection run covers."""

    key: str
    kind: str  # "area" | "provider"
    municipalities: tuple[str, ...]
    regions: Mapping[str, tuple[str, ...]]  # region slug -> members (an agreed region only)
    provider: str | None = None

    @property
    def dimensions(self) -> tuple[str, ...]:
        return PROVIDER_DIMENSIONS if self.kind == "provider" else AREA_DIMENSIONS

    @property
    def units(self) -> tuple[str, ...]:
        """The municipalities (or the provider) whose store cells the family is made of."""
        return (self.provider,) if self.kind == "provider" and self.provider else self.municipalities


def agreed_region(municipality: str, codelists: CodeLists, configuration: PrivacyConfiguration) -> str | None:
    """The region ``municipality`` belongs to, when that region agreed to regional reports."""
    region = codelists.region_of(municipality)
    return region if region and region in configuration.regions.reporting_agreed else None


def area_family(municipality: str, codelists: CodeLists, configuration: PrivacyConfiguration) -> Family:
    """The family a municipality's own report belongs to (its agreed region's, or its own)."""
    region = agreed_region(municipality, codelists, configuration)
    if region is not None:
        members = tuple(codelists.regions[region])
        return Family(f"region:{region}", "area", members, {region_slug(region): members})
    return Family(f"municipality:{municipality}", "area", (municipality,), {})


def region_family(member: str, region_id: str, codelists: CodeLists,
                  configuration: PrivacyConfiguration) -> Family | None:
    """The family of region ``region_id`` as its member ``member`` reads it; None when ``member``
    may not (not its region, or the region did not agree)."""
    region = agreed_region(member, codelists, configuration)
    if region is None or region_slug(region) != region_id:
        return None
    return area_family(member, codelists, configuration)


def provider_family(agb: str) -> Family:
    return Family(f"provider:{agb}", "provider", (), {}, provider=agb)
