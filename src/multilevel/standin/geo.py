"""The geo dimension of the synthetic cubes: NUTS 0-3 codes of several NUTS versions plus aggregates.

Which codes hold data in which year follows Eurostat's practice: a reference year is published in the NUTS
version in force for it (2013 up to 2017, 2016 for 2018-2020, 2021 for 2021-2023, 2024 from 2024), so a code
that exists only in one version appears only in that version's years. Candidate and EFTA countries have no
NUTS 2013 codes in the reference list; their 2016 statistical regions stand in for the earlier years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

GEO_CODES_FILE = Path(__file__).resolve().parent / "geo_codes.txt"

# Aggregates and "not regionalised" codes seen in the real content constraint of demo_r_d2jan:
# code -> (label, first year, last year).
AGGREGATES: dict[str, tuple[str, int, int]] = {
    "EU27_2020": ("European Union - 27 countries (from 2020)", 1900, 2100),
    "EU28": ("European Union - 28 countries (2013-2020)", 1900, 2019),
    "EU27_2007": ("European Union - 27 countries (2007-2013)", 1900, 2019),
    "EFTA": ("European Free Trade Association", 1900, 2100),
    "DE_TOT": ("Germany (including former GDR)", 1900, 2100),
}
NOT_REGIONALISED: dict[str, str] = {
    "FRX": "France - not regionalised (NUTS 1)",
    "FRXX": "France - not regionalised (NUTS 2)",
    "HUX": "Hungary - not regionalised (NUTS 1)",
    "HUXX": "Hungary - not regionalised (NUTS 2)",
    "ALX": "Albania - not regionalised (NUTS 1)",
    "ALXX": "Albania - not regionalised (NUTS 2)",
}
# English labels of level-0 codes, as the Statistics API gives them (the NUTS list has national spellings).
COUNTRY_NAMES = {
    "AL": "Albania",
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CH": "Switzerland",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "EL": "Greece",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IS": "Iceland",
    "IT": "Italy",
    "LI": "Liechtenstein",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "ME": "Montenegro",
    "MK": "North Macedonia",
    "MT": "Malta",
    "NL": "Netherlands",
    "NO": "Norway",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "RS": "Serbia",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "TR": "Türkiye",
    "UK": "United Kingdom",
    "XK": "Kosovo*",
}
# The United Kingdom left the EU on 31 January 2020; Eurostat's regional demography stops at 2019 for it.
COUNTRY_LAST_YEAR = {"UK": 2019}

_NUTS_PATTERN = re.compile(r"^[A-Z]{2}[0-9A-Z]{0,3}$")
LEVEL_NAMES = {0: "country", 1: "nuts1", 2: "nuts2", 3: "nuts3"}


def nuts_version_for_year(year: int) -> str:
    """The NUTS version Eurostat uses to publish reference year ``year``."""
    if year <= 2017:
        return "2013"
    if year <= 2020:
        return "2016"
    if year <= 2023:
        return "2021"
    return "2024"


def geo_level(code: str) -> str:
    """``country``, ``nuts1``, ``nuts2``, ``nuts3`` or ``aggregate``, as the API's ``geoLevel`` names it."""
    if code in AGGREGATES or not _NUTS_PATTERN.match(code):
        return "aggregate"
    return LEVEL_NAMES[len(code) - 2]


@dataclass(frozen=True)
class GeoList:
    """Codes, labels and a (code x year) validity mask for a list of reference years."""

    codes: list[str]
    labels: dict[str, str]
    years: list[int]
    valid: np.ndarray  # bool, shape (len(codes), len(years))
    levels: np.ndarray  # int, 0-3 for NUTS levels, -1 for aggregates


@dataclass(frozen=True)
class _Row:
    code: str
    level: int
    versions: frozenset[str]
    name: str


@lru_cache(maxsize=1)
def _read_rows() -> tuple[_Row, ...]:
    rows = []
    for line in GEO_CODES_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, level, versions, name = line.split("\t")
        rows.append(_Row(code, int(level), frozenset(versions.split(",")), name))
    return tuple(rows)


def build_geo_list(years: list[int], countries: set[str] | None = None, aggregates: bool = True) -> GeoList:
    """The geo codes of ``countries`` (all when None) and their years; aggregates first, then codes."""
    rows = [r for r in _read_rows() if countries is None or r.code[:2] in countries]
    eu_countries = {r.code[:2] for r in rows if "2013" in r.versions}
    codes: list[str] = []
    labels: dict[str, str] = {}
    valid_rows: list[list[bool]] = []
    levels: list[int] = []
    if aggregates:
        for code, (label, first, last) in AGGREGATES.items():
            if countries is not None and code not in ("EU27_2020",):
                continue
            codes.append(code)
            labels[code] = label
            valid_rows.append([first <= y <= last for y in years])
            levels.append(-1)
    for row in rows:
        country = row.code[:2]
        last = COUNTRY_LAST_YEAR.get(country, 9999)
        versions = set(row.versions)
        if country not in eu_countries and "2016" in versions:
            versions.add("2013")  # no NUTS 2013 list for non-EU countries: their 2016 regions stand in
        if row.level == 0:
            ok = [y <= last for y in years]  # countries outlive NUTS versions (2024 has no level-0 rows)
        else:
            ok = [nuts_version_for_year(y) in versions and y <= last for y in years]
        codes.append(row.code)
        labels[row.code] = COUNTRY_NAMES.get(row.code, row.name) if row.level == 0 else row.name
        valid_rows.append(ok)
        levels.append(row.level)
    if countries is None:
        for code, label in NOT_REGIONALISED.items():
            codes.append(code)
            labels[code] = label
            valid_rows.append([True] * len(years))
            levels.append(len(code) - 2)
    valid = np.array(valid_rows, dtype=bool).reshape(len(codes), len(years))
    keep = valid.any(axis=1)
    codes = [c for c, k in zip(codes, keep, strict=True) if k]
    return GeoList(
        codes=codes,
        labels={c: labels[c] for c in codes},
        years=list(years),
        valid=valid[keep],
        levels=np.array(levels)[keep],
    )
