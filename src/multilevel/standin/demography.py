"""The two seeded synthetic demography cubes, shaped like demo_r_pjangrp3 and demo_r_pjanind3.

Generating the full-size cubes takes about a second, so ``cubes.base_cube`` makes them once per process.
"""

from __future__ import annotations

import numpy as np

from multilevel.standin.cube import BaseCube, Dimension
from multilevel.standin.geo import GeoList, build_geo_list
from multilevel.standin.synthetic import BASE_FLAGS, apply_flags, common_dims, dataflow_annotations, reserve_cells

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


def make_pjangrp3(size: str, geo: GeoList | None = None) -> BaseCube:
    """Population on 1 January by broad age group, sex and NUTS 3 region (synthetic, seeded)."""
    years = geo.years if geo is not None else YEARS[("demo_r_pjangrp3", size)]
    geo = geo if geo is not None else build_geo_list(years, None if size == "full" else SMALL_COUNTRIES)
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
    apply_flags(rng, values, status, BASE_FLAGS, geo.valid, unk_missing)
    reserve = reserve_cells(rng, values, status)
    freq, geo_dim, time = common_dims(geo, years)
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
        annotations=dataflow_annotations(
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


def make_pjanind3(size: str, geo: GeoList | None = None) -> BaseCube:
    """Population structure indicators by NUTS 3 region (synthetic, seeded); one unit per indicator."""
    years = geo.years if geo is not None else YEARS[("demo_r_pjanind3", size)]
    geo = geo if geo is not None else build_geo_list(years, None if size == "full" else SMALL_COUNTRIES)
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
    apply_flags(rng, values, status, BASE_FLAGS, geo.valid)
    # _apply_flags flags every valid (geo, year); cells of an indicator's other unit are no observations
    status[~has_unit] = 0
    values[~has_unit] = np.nan
    reserve = reserve_cells(rng, values, status)
    freq, geo_dim, time = common_dims(geo, years)
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
        annotations=dataflow_annotations(
            "demo_r_pjanind3",
            "reg_dem_esms",
            "2015-05-21T11:00:00+0200",
            "2026-02-26T23:00:00+0100",
            "2025-02-13T11:00:00+0100",
            time.codes,
        ),
    )
