"""Data cubes the stand-in serves: two seeded synthetic demography datasets and real JSON-stat fixture files.

A cube is dense: one float64 array of values (NaN = no value) and one small-int array of status codes (index
into ``flags``; 0 = no status) over the full cartesian product of its dimensions. A cell is an *observation*
when it has a value or a status (``:`` and ``|C`` cells carry a status and no value, as in the real
Statistics API). Cells with neither are absent, e.g. a NUTS 2013 region in a year published in NUTS 2021.

Generating the full-size cubes takes about a second, so they are generated once per process and shared
(``base_cube``); a ``Cube`` copies its arrays only when it is first revised.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from multilevel.standin.geo import build_geo_list

logger = logging.getLogger(__name__)

BRUSSELS = ZoneInfo("Europe/Brussels")
TIMESTAMP_FORMAT = (
    "%Y-%m-%dT%H:%M:%S%z"  # 2025-12-04T23:00:00+0100: no colon in the offset, as Eurostat writes it
)
SIZES = ("small", "full")
FLAG_LABELS = {
    "p": "provisional",
    "e": "estimated",
    "b": "break in time series",
    "ep": "estimated, provisional",
    "u": "low reliability",
    "d": "definition differs (see metadata)",
    ":": "not available",
    "|C": "confidential",
}
HLTH_FIXTURE = "statsapi_jsonstat_hlth_ehis_hc8_full.json"


@dataclass(frozen=True)
class Dimension:
    """One dimension of a cube: id, label, category codes in cube order and their labels."""

    id: str
    label: str
    codes: list[str]
    labels: dict[str, str]

    @property
    def index(self) -> dict[str, int]:
        """Position of each code in the cube."""
        return {c: i for i, c in enumerate(self.codes)}


@dataclass
class BaseCube:
    """Generated or loaded cube content, shared read-only between stand-in instances."""

    code: str  # lower case, as in the dataset configuration
    label: str
    dims: list[Dimension]
    values: np.ndarray
    status: np.ndarray
    flags: list[str]  # status code -> flag text; flags[0] == ""
    annotations: list[dict]  # the dataflow annotation list; dynamic types are rewritten on output
    dsd_version: str
    # (flat position, value) of observations blanked at generation, for revisions to publish as new ones
    reserve: list[tuple[int, float]] = field(default_factory=list)


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT)


def format_ts(moment: datetime) -> str:
    """Format a timestamp like Eurostat's annotations, in Brussels time."""
    return moment.astimezone(BRUSSELS).strftime(TIMESTAMP_FORMAT)


def next_publication(after: datetime) -> datetime:
    """The first Eurostat publication slot (11:00 or 23:00 Brussels time) strictly after ``after``."""
    local = after.astimezone(BRUSSELS)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for days in range(0, 3):
        for hour in (11, 23):
            slot = (day + timedelta(days=days, hours=hour)).replace(tzinfo=BRUSSELS)
            if slot > local:
                return slot
    raise AssertionError("unreachable: a slot always exists within two days")


class Cube:
    """A dataset as one stand-in instance serves it: base content plus revisions and update timestamps.

    All reads and writes go through the lock, so a revision never shows half-applied to a concurrent request.
    """

    def __init__(self, base: BaseCube):
        self.base = base
        self.code = base.code
        self.dims = base.dims
        self.values = base.values
        self.status = base.status
        self.flags = list(base.flags)
        self.version = 1
        self.lock = threading.RLock()
        self._owned = False
        self._reserve = list(base.reserve)
        self._overrides: dict[str, str] = {}
        self._obs_count: tuple[int, int] | None = None  # (version, count)
        dates = {a["type"]: a.get("date") for a in base.annotations}
        self.update_data = _parse_ts(dates["UPDATE_DATA"])
        self.update_structure = _parse_ts(dates["UPDATE_STRUCTURE"])

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the dimensions in cube order."""
        return tuple(len(d.codes) for d in self.dims)

    def dim(self, dim_id: str) -> Dimension:
        """The dimension named ``dim_id``; KeyError if the cube has none."""
        for d in self.dims:
            if d.id == dim_id:
                return d
        raise KeyError(dim_id)

    def obs_count(self) -> int:
        """Cells with a value or a status (what OBS_COUNT reports)."""
        with self.lock:
            if self._obs_count is None or self._obs_count[0] != self.version:
                n = int(np.count_nonzero(~np.isnan(self.values) | (self.status > 0)))
                self._obs_count = (self.version, n)
            return self._obs_count[1]

    def annotations(self) -> list[dict]:
        """The annotation list with the current UPDATE_DATA, UPDATE_STRUCTURE and OBS_COUNT."""
        dynamic = {
            "UPDATE_DATA": ("date", format_ts(self.update_data)),
            "UPDATE_STRUCTURE": ("date", format_ts(self.update_structure)),
            "OBS_COUNT": ("title", str(self.obs_count())),
        }
        for kind in ("DISSEMINATION_TIMESTAMP_DATA", "DISSEMINATION_TIMESTAMP_GLOBAL"):
            if kind in self._overrides:
                dynamic[kind] = ("date", self._overrides[kind])
        out = []
        for annotation in self.base.annotations:
            annotation = dict(annotation)
            if annotation["type"] in dynamic:
                key, value = dynamic[annotation["type"]]
                annotation[key] = value
            out.append(annotation)
        return out

    def present_codes(self) -> dict[str, list[str]]:
        """Per dimension, the codes that hold at least one observation (what the content constraint lists)."""
        with self.lock:
            present = ~np.isnan(self.values) | (self.status > 0)
        out = {}
        for axis, d in enumerate(self.dims):
            others = tuple(a for a in range(len(self.dims)) if a != axis)
            mask = present.any(axis=others)
            out[d.id] = [c for c, m in zip(d.codes, mask, strict=True) if m]
        return out

    def select(self, positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Copies of values and status of the sub-cube at ``positions`` (one index array per dimension)."""
        with self.lock:
            grid = np.ix_(*positions)
            return self.values[grid], self.status[grid], list(self.flags)

    def _own(self) -> None:
        if not self._owned:
            self.values = self.values.copy()
            self.status = self.status.copy()
            self._owned = True

    def _flag_code(self, flag: str) -> int:
        if flag not in self.flags:
            self.flags.append(flag)
        return self.flags.index(flag)

    def coordinates(self, flat: int) -> dict[str, str]:
        """``{dimension: code}`` of a flat (row-major) cube position."""
        idx = np.unravel_index(flat, self.shape)
        return {d.id: d.codes[int(i)] for d, i in zip(self.dims, idx, strict=True)}

    def revise(self, n: int = 5) -> dict:
        """Publish a revision: change ``n`` values (one also changes its flag), drop one observation, add one.

        Deterministic: the same sequence of calls on the same dataset changes the same cells. UPDATE_DATA
        moves to the next publication slot after the latest timestamp. Returns what changed, by cell
        coordinates.
        """
        if n < 1:
            raise ValueError(f"revise({self.code!r}, n={n}): n must be at least 1")
        with self.lock:
            self._own()
            rng = np.random.default_rng([zlib.crc32(self.code.encode()), self.version])
            flat_values = self.values.reshape(-1)
            flat_status = self.status.reshape(-1)
            with_value = np.flatnonzero(~np.isnan(flat_values))
            picked = rng.choice(with_value, size=min(n + 1, with_value.size), replace=False)
            changed, vanished = picked[:-1], int(picked[-1])
            for pos in changed:
                old = flat_values[pos]
                # population counts move by about 1 %, indicators (one decimal) by 0.1; never below zero
                step = max(1.0, round(abs(old) * 0.01)) if old == round(old) else 0.1
                sign = -1 if rng.random() < 0.5 and old >= step else 1
                flat_values[pos] = round(old + sign * step, 1)
            first = int(changed[0])
            flat_status[first] = self._flag_code("e") if self.flags[flat_status[first]] != "e" else 0
            flat_values[vanished] = np.nan
            flat_status[vanished] = 0
            if self._reserve:
                added, value = self._reserve.pop(0)
            else:  # e.g. a fixture file: fill any empty cell with a value taken from another cell
                absent = np.flatnonzero(np.isnan(flat_values) & (flat_status == 0))
                added = int(absent[rng.integers(absent.size)])
                value = float(flat_values[with_value[rng.integers(with_value.size)]])
            flat_values[added] = value
            flat_status[added] = self._flag_code("p")
            self.version += 1
            self.update_data = next_publication(max(self.update_data, self.update_structure))
            stamp = format_ts(self.update_data)
            self._overrides["DISSEMINATION_TIMESTAMP_DATA"] = stamp
            self._overrides["DISSEMINATION_TIMESTAMP_GLOBAL"] = stamp
            logger.info("standin revised %s to version %d (UPDATE_DATA %s)", self.code, self.version, stamp)
            return {
                "dataset": self.code,
                "version": self.version,
                "update_data": stamp,
                "changed": [self.coordinates(int(p)) for p in changed],
                "vanished": self.coordinates(vanished),
                "added": self.coordinates(int(added)),
            }

    def bump_structure(self) -> str:
        """Move UPDATE_STRUCTURE to the next publication slot after the latest timestamp; return it."""
        with self.lock:
            self.update_structure = next_publication(max(self.update_data, self.update_structure))
            logger.info("standin structure of %s updated %s", self.code, format_ts(self.update_structure))
            return format_ts(self.update_structure)


# --------------------------------------------------------------------------- synthetic cube helpers


def _annotations(
    code: str, esms: str, created: str, update_data: str, update_structure: str, years: list[str]
) -> list[dict]:
    """An annotation list in the shape of the real dataflow (see sdmx21_dataflow_demo_r_d2jan.json)."""
    upper = code.upper()
    return [
        {"type": "CREATED", "date": created},
        {"type": "DISSEMINATION_DOI_XML", "title": f"10.2908/{upper}"},
        {"type": "DISSEMINATION_OBJECT_TYPE", "title": "DATASET"},
        {"type": "DISSEMINATION_TIMESTAMP_DATA", "date": update_data},
        {"type": "DISSEMINATION_TIMESTAMP_GLOBAL", "date": update_data},
        {
            "type": "ESMS_HTML",
            "title": "Explanatory texts (metadata)",
            "href": f"https://ec.europa.eu/eurostat/cache/metadata/en/{esms}.htm",
        },
        {
            "type": "ESMS_SDMX",
            "title": "Explanatory texts (metadata)",
            "href": f"https://ec.europa.eu/eurostat/api/dissemination/files?file=metadata/{esms}.sdmx.zip",
        },
        {"type": "OBS_COUNT", "title": "0"},
        {"type": "OBS_PERIOD_OVERALL_LATEST", "title": years[-1]},
        {"type": "OBS_PERIOD_OVERALL_OLDEST", "title": years[0]},
        {"type": "SOURCE_INSTITUTIONS", "text": "Eurostat"},
        {"type": "UPDATE_DATA", "date": update_data},
        {"type": "UPDATE_STRUCTURE", "date": update_structure},
    ]


def _common_dims(geo, years) -> tuple[Dimension, Dimension, Dimension]:
    freq = Dimension("freq", "Time frequency", ["A"], {"A": "Annual"})
    geo_dim = Dimension("geo", "Geopolitical entity (reporting)", geo.codes, geo.labels)
    time_codes = [str(y) for y in years]
    time = Dimension("time", "Time", time_codes, {t: t for t in time_codes})
    return freq, geo_dim, time


def _apply_flags(
    rng: np.random.Generator,
    values: np.ndarray,
    status: np.ndarray,
    flags: list[str],
    valid: np.ndarray,
    extra_missing: np.ndarray | None = None,
) -> None:
    """Set flags in place. ``values``/``status`` end with axes (geo, time); ``valid`` is (geo, time).

    Flags are drawn per geo and year (a country flags a whole year's figures), most of all ``p`` in the latest
    year; ``:`` and ``|C`` cells lose their value, as the Statistics API sends them with no value entry.
    """
    g, t = valid.shape
    draw = rng.random((g, t))
    per_year = np.zeros((g, t), dtype=status.dtype)
    per_year[draw < 0.03] = flags.index("e")
    per_year[(draw >= 0.03) & (draw < 0.04)] = flags.index("b")
    per_year[(draw >= 0.04) & (draw < 0.045)] = flags.index("ep")
    per_year[(draw >= 0.045) & (draw < 0.06)] = flags.index("p")
    per_year[:, -1] = np.where(draw[:, -1] < 0.4, flags.index("p"), 0)
    status[...] = np.where(valid, per_year, 0)
    cell = rng.random(values.shape)
    missing = (cell < 0.004) & valid
    if extra_missing is not None:
        missing |= extra_missing & valid
    confidential = (cell > 0.999) & valid & ~missing
    values[missing | confidential | ~valid] = np.nan
    status[missing] = flags.index(":")
    status[confidential] = flags.index("|C")


def _reserve(
    rng: np.random.Generator, values: np.ndarray, status: np.ndarray, count: int = 32
) -> list[tuple[int, float]]:
    """Blank ``count`` observations so that revisions can add them back as new observations."""
    flat_v, flat_s = values.reshape(-1), status.reshape(-1)
    candidates = np.flatnonzero(~np.isnan(flat_v))
    picked = rng.choice(candidates, size=min(count, candidates.size), replace=False)
    kept = [(int(p), float(flat_v[p])) for p in picked]
    flat_v[picked] = np.nan
    flat_s[picked] = 0
    return kept


BASE_FLAGS = ["", "p", "e", "b", "ep", ":", "|C"]

AGE_GROUPS = [f"Y{lo}-{lo + 4}" for lo in range(5, 90, 5)]  # Y5-9 ... Y85-89
AGE_CODES = ["TOTAL", "Y_LT5", *AGE_GROUPS, "Y_GE85", "Y_GE90", "UNK"]
AGE_LABELS = {
    "TOTAL": "Total",
    "Y_LT5": "Less than 5 years",
    "Y_GE85": "85 years or over",
    "Y_GE90": "90 years or over",
    "UNK": "Unknown",
    **{g: f"From {g[1:].split('-')[0]} to {g.split('-')[1]} years" for g in AGE_GROUPS},
}
# share of each 5-year group (0-4 ... 85-89) and 90+ in a typical EU population, in percent
AGE_PROFILE = np.array(
    [4.6, 5.0, 5.1, 5.1, 5.3, 5.8, 6.3, 6.8, 7.0, 7.2, 7.3, 7.0, 6.5, 5.8, 5.0, 4.1, 2.9, 1.8, 1.0]
)
MALE_SHARE = np.array([0.513] * 11 + [0.50, 0.49, 0.48, 0.46, 0.43, 0.40, 0.35, 0.28])
AGGREGATE_POPULATION = {
    "EU27_2020": 4.47e8,
    "EU28": 5.13e8,
    "EU27_2007": 4.41e8,
    "EFTA": 1.46e7,
    "DE_TOT": 8.3e7,
}
LEVEL_POPULATION = {0: 9e6, 1: 2.5e6, 2: 1.1e6, 3: 2.6e5}

# sizes: years and countries per size. "full" is tuned to the real datasets' observation counts (2026):
# demo_r_pjangrp3 about 1.7 million, demo_r_pjanind3 about 1.3 million.
SMALL_COUNTRIES = {"EE", "MT", "ME"}  # EE: NUTS 3 codes change in 2021
YEARS = {
    ("demo_r_pjangrp3", "full"): list(range(2012, 2025)),
    ("demo_r_pjanind3", "full"): list(range(2007, 2025)),
    ("demo_r_pjangrp3", "small"): list(range(2019, 2025)),
    ("demo_r_pjanind3", "small"): list(range(2019, 2025)),
}


def _geo_population(rng: np.random.Generator, geo) -> np.ndarray:
    base = np.array(
        [
            AGGREGATE_POPULATION.get(code, LEVEL_POPULATION.get(int(level), 1e5))
            for code, level in zip(geo.codes, geo.levels, strict=True)
        ]
    )
    spread = np.where(geo.levels < 0, 1.0, np.exp(rng.normal(0.0, 0.5, len(geo.codes))))
    return base * spread


def make_pjangrp3(size: str) -> BaseCube:
    """Population on 1 January by broad age group, sex and NUTS 3 region (synthetic, seeded)."""
    years = YEARS[("demo_r_pjangrp3", size)]
    geo = build_geo_list(years, None if size == "full" else SMALL_COUNTRIES)
    rng = np.random.default_rng(20260301)
    n_geo, n_time = len(geo.codes), len(years)
    since = np.array(years, dtype=float) - 2018
    population = _geo_population(rng, geo)[:, None] * (1 + rng.normal(0.002, 0.006, n_geo))[:, None] ** since
    profile = AGE_PROFILE[None, None, :] * np.exp(rng.normal(0.0, 0.08, (n_geo, 1, AGE_PROFILE.size)))
    ageing = 1 + 0.012 * since[None, :, None] * np.linspace(-1, 1.5, AGE_PROFILE.size)[None, None, :]
    shares = profile * ageing
    shares /= shares.sum(axis=2, keepdims=True)
    fine = population[:, :, None] * shares  # (geo, time, 19 groups)
    unknown = np.where(rng.random((n_geo, n_time)) < 0.05, rng.poisson(3.0, (n_geo, n_time)), 0.0)
    by_sex = []
    for share in (MALE_SHARE, 1 - MALE_SHARE):
        groups = np.rint(fine * share)
        unk = np.rint(unknown * 0.5)
        total = groups.sum(axis=2) + unk
        ages = [
            total,
            *np.moveaxis(groups[:, :, :18], 2, 0),
            groups[:, :, 17] + groups[:, :, 18],
            groups[:, :, 18],
            unk,
        ]
        by_sex.append(np.stack(ages))  # (age, geo, time)
    males, females = by_sex
    values = np.stack([males + females, males, females])[None, None]  # (freq, unit, sex, age, geo, time)
    status = np.zeros(values.shape, dtype=np.int8)
    unk_missing = np.zeros(values.shape, dtype=bool)
    unk_missing[:, :, :, AGE_CODES.index("UNK")] = rng.random((n_geo, n_time)) < 0.3
    _apply_flags(rng, values, status, BASE_FLAGS, geo.valid, unk_missing)
    reserve = _reserve(rng, values, status)
    freq, geo_dim, time = _common_dims(geo, years)
    dims = [
        freq,
        Dimension("unit", "Unit of measure", ["NR"], {"NR": "Number"}),
        Dimension("sex", "Sex", ["T", "M", "F"], {"T": "Total", "M": "Males", "F": "Females"}),
        Dimension("age", "Age class", AGE_CODES, AGE_LABELS),
        geo_dim,
        time,
    ]
    return BaseCube(
        code="demo_r_pjangrp3",
        label="Population on 1 January by broad age group, sex and NUTS 3 region",
        dims=dims,
        values=values,
        status=status,
        flags=list(BASE_FLAGS),
        dsd_version="38.0",
        reserve=reserve,
        annotations=_annotations(
            "demo_r_pjangrp3",
            "reg_dem_esms",
            "2015-05-21T11:00:00+0200",
            "2026-02-26T23:00:00+0100",
            "2025-02-13T11:00:00+0100",
            time.codes,
        ),
    )


def _pc(lo: int, hi: int | None) -> tuple[str, str]:
    code = f"PC_Y{lo}_{'MAX' if hi is None else hi}"
    label = (
        f"Proportion of population aged {lo} years and more"
        if hi is None
        else (f"Proportion of population aged {lo}-{hi} years")
    )
    return code, label


# indicator -> (unit, label, mean, spread across regions, change per year, weight on the "old region" factor)
INDICATORS: dict[str, tuple[str, str, float, float, float, float]] = {
    "MEDAGEPOP": ("YR", "Median age of population", 43.5, 3.5, 0.25, 1.0),
    "DEPRATIO1": (
        "PC",
        "Age dependency ratio, 1st variant (population 0 to 14 years and 65 years and more "
        "to population 15 to 64 years)",
        55.0,
        6.0,
        0.3,
        0.6,
    ),
    "DEPRATIO2": (
        "PC",
        "Age dependency ratio, 2nd variant (population 0 to 19 years and 60 years and more "
        "to population 20 to 59 years)",
        85.0,
        9.0,
        0.6,
        0.6,
    ),
    "OLDDEP1": (
        "PC",
        "Old dependency ratio 1st variant (population 65 and over to population 15 to 64 years)",
        32.0,
        6.0,
        0.5,
        1.0,
    ),
    "OLDDEP2": (
        "PC",
        "Old dependency ratio 2nd variant (population 60 and over to population 20 to 59 years)",
        48.0,
        8.0,
        0.7,
        1.0,
    ),
    "YOUNGDEP1": (
        "PC",
        "Young dependency ratio 1st variant (population aged 0-14 to population 15-64 years)",
        23.0,
        3.0,
        -0.1,
        -1.0,
    ),
    "YOUNGDEP2": (
        "PC",
        "Young dependency ratio 2nd variant (population aged 0-19 to population 20-59 years)",
        37.0,
        4.5,
        -0.1,
        -1.0,
    ),
}
_PC_BANDS = [(lo, lo + 4) for lo in range(0, 85, 5)] + [
    (85, None),
    (0, 14),
    (0, 19),
    (15, 24),
    (15, 64),
    (20, 39),
    (20, 64),
    (25, 49),
    (40, 59),
    (50, 64),
    (60, None),
    (65, 79),
    (65, None),
    (80, None),
]
for _lo, _hi in _PC_BANDS:
    _code, _label = _pc(_lo, _hi)
    _width = 100 - _lo if _hi is None else _hi - _lo + 1
    _mean = 100.0 * _width / 82.0 * (1.4 if _hi is None else 1.0) if _lo < 60 else 100.0 * _width / 120.0
    _mean = min(_mean, 65.0)
    INDICATORS[_code] = (
        "PC",
        _label,
        round(_mean, 1),
        _mean * 0.12,
        (0.03 if _lo >= 60 else -0.02),
        (1.0 if _lo >= 60 else -0.6),
    )


def make_pjanind3(size: str) -> BaseCube:
    """Population structure indicators by NUTS 3 region (synthetic, seeded); one unit per indicator."""
    years = YEARS[("demo_r_pjanind3", size)]
    geo = build_geo_list(years, None if size == "full" else SMALL_COUNTRIES)
    rng = np.random.default_rng(20260302)
    codes = list(INDICATORS)
    units = ["PC", "YR"]
    n_ind, n_geo, n_time = len(codes), len(geo.codes), len(years)
    params = np.array([INDICATORS[c][2:] for c in codes])  # mean, spread, trend, weight
    old_region = rng.normal(0.0, 1.0, n_geo)
    effect = params[:, 3:4] * old_region[None, :] + rng.normal(0.0, 0.4, (n_ind, n_geo))
    since = np.array(years, dtype=float) - 2018
    level = params[:, 0:1, None] + params[:, 1:2, None] * effect[:, :, None] + params[:, 2:3, None] * since
    level = level + rng.normal(0.0, 0.02, level.shape) * params[:, 1:2, None]
    level = np.round(np.clip(level, 0.1, None), 1)  # (indicator, geo, time)
    values = np.full((1, n_ind, len(units), n_geo, n_time), np.nan)
    for i, code in enumerate(codes):
        values[0, i, units.index(INDICATORS[code][0])] = level[i]
    status = np.zeros(values.shape, dtype=np.int8)
    has_unit = ~np.isnan(values)
    _apply_flags(rng, values, status, BASE_FLAGS, geo.valid)
    # _apply_flags flags every valid (geo, year); cells of an indicator's other unit are no observations
    status[~has_unit] = 0
    values[~has_unit] = np.nan
    reserve = _reserve(rng, values, status)
    freq, geo_dim, time = _common_dims(geo, years)
    dims = [
        freq,
        Dimension("indic_de", "Demographic indicator", codes, {c: INDICATORS[c][1] for c in codes}),
        Dimension("unit", "Unit of measure", units, {"PC": "Percentage", "YR": "Year"}),
        geo_dim,
        time,
    ]
    return BaseCube(
        code="demo_r_pjanind3",
        label="Population structure indicators by NUTS 3 region",
        dims=dims,
        values=values,
        status=status,
        flags=list(BASE_FLAGS),
        dsd_version="27.0",
        reserve=reserve,
        annotations=_annotations(
            "demo_r_pjanind3",
            "reg_dem_esms",
            "2015-05-21T11:00:00+0200",
            "2026-02-26T23:00:00+0100",
            "2025-02-13T11:00:00+0100",
            time.codes,
        ),
    )


def load_jsonstat_file(path: Path) -> BaseCube:
    """A cube from a whole-dataset Statistics API JSON-stat file (e.g. the real hlth_ehis_hc8 sample)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    dims = []
    for dim_id in doc["id"]:
        spec = doc["dimension"][dim_id]
        index = spec["category"]["index"]
        codes = sorted(index, key=index.__getitem__) if isinstance(index, dict) else list(index)
        labels = spec["category"].get("label", {c: c for c in codes})
        dims.append(Dimension(dim_id, spec.get("label", dim_id), codes, labels))
    shape = tuple(doc["size"])
    values = np.full(int(np.prod(shape)), np.nan)
    status = np.zeros(values.size, dtype=np.int8)
    flags = [""]
    for key, value in doc.get("value", {}).items():
        values[int(key)] = np.nan if value is None else float(value)
    for key, flag in doc.get("status", {}).items():
        if flag not in flags:
            flags.append(flag)
        status[int(key)] = flags.index(flag)
    extension = doc["extension"]
    return BaseCube(
        code=extension["id"].lower(),
        label=doc["label"],
        dims=dims,
        values=values.reshape(shape),
        status=status.reshape(shape),
        flags=flags,
        annotations=extension["annotation"],
        dsd_version=extension.get("datastructure", {}).get("version", "1.0"),
    )


GENERATORS = {"demo_r_pjangrp3": make_pjangrp3, "demo_r_pjanind3": make_pjanind3}


@lru_cache(maxsize=8)
def base_cube(code: str, size: str) -> BaseCube:
    """The generated cube for a synthetic dataset, made once per process (arrays are read-only)."""
    if size not in SIZES:
        raise ValueError(f"stand-in size {size!r} is unknown: use one of {', '.join(SIZES)}")
    cube = GENERATORS[code](size)
    cube.values.flags.writeable = False
    cube.status.flags.writeable = False
    return cube


@lru_cache(maxsize=8)
def fixture_cube(path: str) -> BaseCube:
    """A cube loaded from a JSON-stat fixture file, loaded once per process (arrays are read-only)."""
    cube = load_jsonstat_file(Path(path))
    cube.values.flags.writeable = False
    cube.status.flags.writeable = False
    return cube
