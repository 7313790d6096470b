"""A synthetic regional dataset of any size (``synth_r_large``), for memory and scale runs (``make bench``).

Shaped like Eurostat's large regional tables: freq x an indicator dimension x sex x geo (every country, NUTS 0-3 and
aggregates, with the NUTS versions' validity per year) x 25 years. Its size is a number of observations: the
indicator dimension gets as many codes as that takes (about 147,500 observations per code), so 20,000,000
observations are 136 indicators, 24.1 million cells. The harvest plans its slices from the content constraint like
any other dataset (automatic slicing under ``max_cells_per_request``); nothing about its size is known to the client.

Values are generated one indicator block at a time, so the stand-in holds the cube (9 bytes a cell) and no more.
"""

from __future__ import annotations

import math

import numpy as np

from multilevel.standin.cube import BaseCube, Dimension
from multilevel.standin.geo import build_geo_list
from multilevel.standin.synthetic import BASE_FLAGS, apply_flags, common_dims, dataflow_annotations, reserve_cells

CODE = "synth_r_large"
YEARS = list(range(2000, 2025))
SEXES = {"T": "Total", "M": "Males", "F": "Females"}
BLOCK = 8  # indicators generated at once


def indicators_for(observations: int, per_indicator: int) -> int:
    """How many indicator codes make at least ``observations`` observations."""
    return max(1, math.ceil(observations / per_indicator))


def large_cube(observations: int) -> BaseCube:
    """The seeded ``synth_r_large`` cube with about ``observations`` observations (at least that many cells)."""
    if observations < 1:
        raise ValueError(f"synth_r_large needs at least 1 observation, got {observations}")
    geo = build_geo_list(YEARS, None)
    rng = np.random.default_rng(20261130)
    n_geo, n_time, n_sex = len(geo.codes), len(YEARS), len(SEXES)
    n_ind = indicators_for(observations, int(geo.valid.sum()) * n_sex)
    values = np.empty((1, n_ind, n_sex, n_geo, n_time))
    status = np.zeros(values.shape, dtype=np.int8)
    level = np.where(geo.levels < 0, 50.0, 10.0 / (1 + np.maximum(geo.levels, 0)))
    trend = 1 + 0.01 * (np.arange(n_time) - n_time / 2)
    for start in range(0, n_ind, BLOCK):
        stop = min(start + BLOCK, n_ind)
        base = np.exp(rng.normal(3.0, 1.0, (stop - start, 1, 1, 1)))
        noise = np.exp(rng.normal(0.0, 0.2, (stop - start, n_sex, n_geo, 1)))
        block = np.round(base * level[None, None, :, None] * noise * trend[None, None, None, :], 1)
        values[0, start:stop] = np.clip(block, 0.1, None)
        apply_flags(rng, values[0, start:stop], status[0, start:stop], BASE_FLAGS, geo.valid)
    reserve = reserve_cells(rng, values, status, count=8)
    freq, geo_dim, time = common_dims(geo, YEARS)
    codes = [f"I{k:04d}" for k in range(n_ind)]
    dims = [
        freq,
        Dimension("indic_sy", "Synthetic indicator", codes, {c: f"Synthetic indicator {c}" for c in codes}),
        Dimension("sex", "Sex", list(SEXES), SEXES),
        geo_dim,
        time,
    ]
    return BaseCube(
        code=CODE, label="Synthetic regional indicators by sex and NUTS 3 region (scale test)", dims=dims,
        values=values, status=status, flags=list(BASE_FLAGS), dsd_version="1.0", reserve=reserve,
        annotations=dataflow_annotations(CODE, "reg_synth_esms", "2015-05-21T11:00:00+0200",
                                         "2026-11-20T23:00:00+0100", "2026-01-15T11:00:00+0100", time.codes),
    )
