"""A publication mode of the stand-in: some countries' regions are served only in current NUTS codes.

By default the stand-in publishes each reference year in the NUTS version in force for it (``geo``). Eurostat's
regional demography does not work that way for a country whose regions changed: it re-publishes the whole series
under the newest codes, so one ``geo`` column mixes versions. Norway today: NO08-NO0B (codes of NUTS 2021/2024) and
the new NUTS 3 regions NO083-NO094 for every year, next to codes that never changed (NO02, NO06, NO07, NO060), no
NO03/NO04/NO05, and a retired code kept for the years of its own version, labelled with it ("Oslo og Akershus
(NUTS 2016)": a 2017 figure under a 2016 code). Eurostat's own code list for demo_r_d2jan shows the same shape.

``StandIn(current_codes={"NO"})`` or ``multilevel standin --current-codes NO`` serves the demography cubes that way
for the countries named (others as before). The cubes span 2017-2024, so old reference years exist too.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from multilevel.standin.cube import BaseCube
from multilevel.standin.demography import SMALL_COUNTRIES, make_pjangrp3, make_pjanind3
from multilevel.standin.geo import COUNTRY_LAST_YEAR, GeoList, _read_rows, build_geo_list

CURRENT_VERSION = "2024"
YEARS = list(range(2017, 2025))
# Retired codes Eurostat keeps in the geo column for the reference years of their own version, labelled with it.
RETIRED = {"NO01": "2016"}
_LAST_YEAR_OF = {"2013": 2017, "2016": 2020, "2021": 2023, "2024": 9999}
GENERATORS = {"demo_r_pjangrp3": make_pjangrp3, "demo_r_pjanind3": make_pjanind3}


def countries_of(codes: Iterable[str]) -> frozenset[str]:
    """The country codes given (upper case), each checked against the stand-in's NUTS code list."""
    known = {r.code for r in _read_rows() if r.level == 0}
    chosen = frozenset(c.strip().upper() for c in codes if c.strip())
    unknown = sorted(chosen - known)
    if unknown:
        raise ValueError(
            f"current-codes countries {', '.join(unknown)} are not in the stand-in's NUTS list: use two-letter "
            f"NUTS country codes such as NO, IE, HR"
        )
    return chosen


def geo_list(years: list[int], countries: set[str] | None, current_only: frozenset[str]) -> GeoList:
    """The geo codes of ``countries`` (all when None); those of ``current_only`` in current codes only."""
    base = build_geo_list(years, countries)
    rows = {r.code: r for r in _read_rows()}
    valid = base.valid.copy()
    labels = dict(base.labels)
    for i, code in enumerate(base.codes):
        row = rows.get(code)
        if row is None or row.level == 0 or code[:2] not in current_only:
            continue
        last = COUNTRY_LAST_YEAR.get(code[:2], 9999)
        if CURRENT_VERSION in row.versions:
            valid[i] = [y <= last for y in years]  # back-cast: every year under the current code
        elif code in RETIRED:
            version = RETIRED[code]
            valid[i] = [y <= min(last, _LAST_YEAR_OF[version]) for y in years]
            labels[code] = f"{row.name} (NUTS {version})"
        else:
            valid[i] = False  # Eurostat dropped it: its territory is only in the current codes
    keep = valid.any(axis=1)
    codes = [c for c, k in zip(base.codes, keep, strict=True) if k]
    return GeoList(
        codes=codes,
        labels={c: labels[c] for c in codes},
        years=list(years),
        valid=valid[keep],
        levels=np.asarray(base.levels)[keep],
    )


@lru_cache(maxsize=8)
def base_cube(code: str, size: str, current_only: frozenset[str]) -> BaseCube:
    """The demography cube ``code`` with ``current_only`` countries in current codes (made once per process)."""
    countries = None if size == "full" else set(SMALL_COUNTRIES) | set(current_only)
    cube = GENERATORS[code](size, geo_list(YEARS, countries, current_only))
    cube.values.flags.writeable = False
    cube.status.flags.writeable = False
    return cube


__all__ = ["CURRENT_VERSION", "RETIRED", "YEARS", "base_cube", "countries_of", "geo_list"]
