"""Building blocks of the synthetic cubes: the dataflow annotation list, the common dimensions, flags, reserves.

Shared by the demography cubes (``demography``) and any other generator (e.g. the catalogue's regional datasets).
"""

from __future__ import annotations

import numpy as np

from multilevel.standin.cube import Dimension

# No ":" flag: the Statistics API leaves a cell without data out of ``value`` and ``status`` altogether (real
# bodies in tests/fixtures/eurostat: hlth_ehis_hc8 has 447 empty cells and no ":"; slices/une_rt_m 2026-08 is
# absent, listed only in positions-with-no-data). Confidential cells are ``|C`` with no value (slices/sts_inpr_m).
BASE_FLAGS = ["", "p", "e", "b", "ep", "|C"]


def dataflow_annotations(
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


def common_dims(geo, years) -> tuple[Dimension, Dimension, Dimension]:
    freq = Dimension("freq", "Time frequency", ["A"], {"A": "Annual"})
    geo_dim = Dimension("geo", "Geopolitical entity (reporting)", geo.codes, geo.labels)
    time_codes = [str(y) for y in years]
    time = Dimension("time", "Time", time_codes, {t: t for t in time_codes})
    return freq, geo_dim, time


def apply_flags(
    rng: np.random.Generator,
    values: np.ndarray,
    status: np.ndarray,
    flags: list[str],
    valid: np.ndarray,
    extra_missing: np.ndarray | None = None,
) -> None:
    """Set flags in place. ``values``/``status`` end with axes (geo, time); ``valid`` is (geo, time).

    Flags are drawn per geo and year (a country flags a whole year's figures), most of all ``p`` in the latest
    year. A few cells are missing: no value and no status, absent from the body as in the real API. A few are
    confidential: status ``|C`` and no value entry, as the Statistics API sends them.
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
    status[missing] = 0
    status[confidential] = flags.index("|C")


def reserve_cells(
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

