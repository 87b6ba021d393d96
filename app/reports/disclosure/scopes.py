"""Scopes: smaller parts of a family in which the perturbation step looks first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import cast

from app.reports.disclosure.indexed import IndexedFamily
from app.reports.disclosure.tables import TOTAL, sort_key


class Scopes:
    """Smaller parts of a family to look for a perturbation in first.

    A perturbation of a part, with every cell outside it held still, is a perturbation of the
    whole family, so a small LP that finds one is as good a certificate as the large one. It
    may withhold more than the family's best would (see :mod:`.perturbation` for when the
    whole family is solved as well). For a cell of a breakdown (a
    :class:`~.tables.CellKey` with a dimension), in order:

    1. its breakdown in its own unit, the regions it belongs to and the largest fellow members
       of those regions (a cycle through another member's cells is the usual way round a
       published region cell);
    2. every cell of the units of 1 (totals move too: the only way when the breakdown's cells
       are small);
    3. its breakdown in every unit;
    4. the whole family.

    For a region's cell, the units of 1 are the region and the members whose cells add up to
    it. A total starts at 2; keys of another shape go straight to 4.
    """

    FELLOWS = 3

    def __init__(self, family: IndexedFamily) -> None:
        self.family = family
        self._cells: dict[Hashable, list[int]] = defaultdict(list)
        units: dict[tuple[Hashable, Hashable], list[int]] = defaultdict(list)
        size: dict[Hashable, int] = defaultdict(int)
        for i, key in enumerate(family.keys):
            if family.d[i] <= 0:
                continue
            self._cells[None].append(i)
            dimension = _slice(key)
            if dimension is not None:
                self._cells[(dimension,)].append(i)
            if isinstance(key, tuple) and key:
                units[(dimension, key[0])].append(i)
                units[(ALL, key[0])].append(i)
                if dimension is None:
                    size[key[0]] = max(size[key[0]], int(family.d[i]))
        self._units = units
        regions: dict[Hashable, set[Hashable]] = defaultdict(set)  # member unit -> its regions
        members: dict[Hashable, set[Hashable]] = defaultdict(set)  # region -> member units
        for total, parts in family.equations:
            region = _unit(family.keys[total])
            for part in parts:
                member = _unit(family.keys[part])
                if region is not None and member is not None and member != region:
                    regions[member].add(region)
                    members[region].add(member)
        self._members = members
        self._local: dict[Hashable, tuple[Hashable, ...]] = {}
        for unit in sorted({u for (_, u) in units}, key=sort_key):
            if unit in members:  # a region: its scope depends on the cell (see of())
                continue
            fellows = sorted(
                {m for r in regions.get(unit, ()) for m in members[r]} - {unit},
                key=lambda m: (-size.get(m, 0), sort_key(m)),
            )[: self.FELLOWS]
            self._local[unit] = tuple(sorted({unit, *regions.get(unit, ()), *fellows}, key=sort_key))

    def region_total(self, cell: int) -> bool:
        """Is this a region's total (of some period), the figure a region report leads with?"""
        key = self.family.keys[cell]
        return _unit(key) in self._members and _slice(key) is None

    def of(self, cell: int) -> list[Hashable]:
        key = self.family.keys[cell]
        unit = _unit(key)
        local: tuple[Hashable, ...] | None
        if unit in self._members:  # a region's cell: the region and the members that add up to it
            index, d = self.family.index, self.family.d
            adding = [m for m in self._members[unit]
                      if (other := _with_unit(key, m)) in index and d[index[other]] > 0]
            local = tuple(sorted({unit, *adding}, key=sort_key))
        else:
            local = self._local.get(unit)
        dimension = _slice(key)
        scopes: list[Hashable] = []
        if dimension is not None:
            scopes += [(dimension, local)] if local else []
        scopes += [(ALL, local)] if local else []
        return scopes + ([(dimension,)] if dimension is not None else []) + [None]

    def cells(self, scope: Hashable) -> list[int]:
        if scope not in self._cells:  # None and (dimension,) are filled in by __init__: (dimension, units) from of()
            dimension, units = cast(tuple[Hashable, tuple[Hashable, ...]], scope)
            self._cells[scope] = sorted(c for u in units for c in self._units.get((dimension, u), ()))
        return self._cells[scope]


#: a scope over every breakdown (and the totals) of some units
ALL = "*all*"


def _with_unit(key: Hashable, unit: Hashable) -> Hashable:
    assert isinstance(key, tuple)  # only a cell with a unit (see _unit) gets here
    return key._replace(unit=unit) if hasattr(key, "_replace") else (unit, *key[1:])


def _unit(key: Hashable) -> Hashable:
    return key[0] if isinstance(key, tuple) and key else None


def _slice(key: Hashable) -> Hashable:
    """The breakdown a cell belongs to (``None`` for totals and keys of another shape)."""
    dimension = getattr(key, "dimension", None)
    return None if dimension in (None, TOTAL) else dimension
