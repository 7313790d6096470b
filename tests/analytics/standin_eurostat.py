"""Small stand-in Eurostat data for the context tests, loaded through the real harvest load (history tables and
current views on every warehouse kind), shaped the way Eurostat publishes regional demography today:

- one ``geo`` column mixes NUTS versions: current regions under their NUTS 2024 codes for every year (Norway's
  2016 regions NO01, NO03, NO04, NO05 are gone from it, as on Eurostat), the United Kingdom in NUTS 2016 codes up to
  2019, Lithuania's regions still under their NUTS 2013 codes labelled "(NUTS 2013)", and one retired code kept for
  old years: NO01 "Oslo og Akershus (NUTS 2016)", median age only, 2017-2018;
- ``demo_r_pjangrp3``: population by sex (T, M, F; ages TOTAL) and by 5-year age group (sex T), made up but
  consistent: a region's counts are the sums of its NUTS 3 regions' counts;
- ``demo_r_pjanind3``: MEDAGEPOP, OLDDEP1, YOUNGDEP1, PC_Y65_MAX computed from those counts (median by linear
  interpolation in the 5-year groups);
- flags: NO084 is provisional ('p') in every year, Eurostat's estimate flag 'e' marks Austria's median ages.

``create(wh, revision=True)`` loads a second run in which NO081's 2019 counts are revised up by 10 %.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from multilevel import paths
from multilevel.context.build import interpolated_median
from multilevel.context.config import age_bounds
from multilevel.stage import open_store
from multilevel.warehouse.history import load_run

YEARS = [2017, 2018, 2019, 2020, 2023, 2024]
AGES = ["Y_LT5"] + [f"Y{a}-{a + 4}" for a in range(5, 85, 5)] + ["Y_GE85"]
PROFILE = [4.6, 5.0, 5.1, 5.1, 5.3, 5.8, 6.3, 6.8, 7.0, 7.2, 7.3, 7.0, 6.5, 5.8, 5.0, 4.1, 2.9, 4.0]
# country -> (NUTS version of its codes, deepest level published)
COUNTRIES = {
    "AT": ("2024", 2), "DE": ("2024", 1), "UK": ("2016", 1), "NO": ("2024", 3), "IE": ("2024", 3),
    "FR": ("2024", 1), "PL": ("2024", 2), "LT": ("2013", 3), "HU": ("2024", 2), "HR": ("2024", 2),
}
LAST_YEAR = {"UK": 2019}
RETIRED = {"NO01": ("Oslo og Akershus (NUTS 2016)", [2017, 2018])}
PROVISIONAL = {"NO084"}
REVISED = ("NO081", 2019, 1.10)
DIMENSIONS = {
    "demo_r_pjanind3": ["freq", "indic_de", "unit", "geo"],
    "demo_r_pjangrp3": ["freq", "unit", "sex", "age", "geo"],
}


def nuts_codes() -> list[dict]:
    with open(paths.DATA_DIR / "reference" / "nuts_codes.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def nuts3_counts(code: str, year: int, revised: bool) -> dict[str, float]:
    """Males and females per age group of one NUTS 3 region (whole people)."""
    base = 40_000 + 600_000 * zlib.crc32(code.encode()) / 2**32
    tilt = (zlib.crc32(f"{code}|tilt".encode()) / 2**32 - 0.5) * 0.6  # older or younger regions
    grow = 1 + 0.01 * (year - 2018) + (REVISED[2] - 1 if revised and (code, year) == REVISED[:2] else 0)
    out = {}
    for i, (age, share) in enumerate(zip(AGES, PROFILE, strict=True)):
        people = base * share / 100 * (1 + tilt * (i - 9) / 9) * grow
        out[f"M|{age}"] = float(round(people * 0.49))
        out[f"F|{age}"] = float(round(people * 0.51))
    return out


def rows(revised: bool = False) -> tuple[dict[str, list[tuple]], list[tuple[str, str, str]]]:
    """Rows per dataset (dimension values in DIMENSIONS order, time_period, value, flag) and the geo labels."""
    codes = nuts_codes()
    ind, pop, labels = [], [], []
    for country, (version, deepest) in COUNTRIES.items():
        mine = [r for r in codes if r["nuts_version"] == version and r["country"] == country]
        leaves = [r["code"] for r in mine if r["level"] == "3" and not r["code"].endswith("ZZZ")]
        geos = [country] + [r["code"] for r in mine if 1 <= int(r["level"]) <= deepest and "ZZ" not in r["code"]]
        for r in mine:
            if r["code"] in geos:
                suffix = f" (NUTS {version})" if version != "2024" and country != "UK" else ""
                labels.append(("geo", r["code"], r["name"].strip() + suffix))
        labels.append(("geo", country, country))
        for year in YEARS:
            if year > LAST_YEAR.get(country, 9999):
                continue
            counts = {leaf: nuts3_counts(leaf, year, revised) for leaf in leaves}
            for geo in geos:
                if not any(j.startswith(geo) for j in leaves):
                    continue
                total = {k: sum(counts[j][k] for j in leaves if j.startswith(geo)) for k in counts[leaves[0]]}
                pop.extend(_population(geo, year, total))
                ind.extend(_indicators(geo, year, total))
    for code, (label, years) in RETIRED.items():
        labels.append(("geo", code, label))
        for year in years:
            ind.append(("A", "MEDAGEPOP", "YR", code, str(year), 40.0 + year - 2017, None))
    return {"demo_r_pjanind3": ind, "demo_r_pjangrp3": pop}, labels


def _population(geo: str, year: int, total: dict[str, float]) -> list[tuple]:
    flag = "p" if geo in PROVISIONAL else None
    t = str(year)
    out = []
    for sex in ("M", "F"):
        out.append(("A", "NR", sex, "TOTAL", geo, t, sum(v for k, v in total.items() if k.startswith(sex)), flag))
    out.append(("A", "NR", "T", "TOTAL", geo, t, sum(total.values()), flag))
    for age in AGES:
        out.append(("A", "NR", "T", age, geo, t, total[f"M|{age}"] + total[f"F|{age}"], flag))
    return out


def _indicators(geo: str, year: int, total: dict[str, float]) -> list[tuple]:
    by_age = {a: total[f"M|{a}"] + total[f"F|{a}"] for a in AGES}
    young = sum(by_age[a] for a in AGES[:3])
    working = sum(by_age[a] for a in AGES[3:13])
    old = sum(by_age[a] for a in AGES[13:])
    median = interpolated_median([(*age_bounds(a), n) for a, n in by_age.items()])
    t, flag = str(year), ("e" if geo.startswith("AT") else None)
    return [
        ("A", "MEDAGEPOP", "YR", geo, t, round(median, 1), flag),
        ("A", "OLDDEP1", "PC", geo, t, round(old / working * 100, 1), None),
        ("A", "YOUNGDEP1", "PC", geo, t, round(young / working * 100, 1), None),
        ("A", "PC_Y65_MAX", "PC", geo, t, round(old / sum(by_age.values()) * 100, 1), None),
    ]


def _parquet(names: list[str], data: list[tuple]) -> bytes:
    columns = list(zip(*data, strict=True))
    types = [pa.string()] * (len(names) - 2) + [pa.float64(), pa.string()]
    table = pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def load(wh, store, run_id: str, revised: bool) -> None:
    data, labels = rows(revised)
    for dataset, body_rows in data.items():
        names = DIMENSIONS[dataset] + ["time_period", "value", "flag"]
        body = _parquet(names, body_rows)
        key = f"eurostat/{dataset}/{run_id}/slices/all.parquet"
        store.put_immutable(key, body)
        manifest = {
            "dataset": dataset,
            "run_id": run_id,
            "update_data": "2026-03-01T23:00:00+0100" if revised else "2026-02-01T23:00:00+0100",
            "update_structure": "2026-02-01T23:00:00+0100",
            "dimensions": DIMENSIONS[dataset],
            "files": [{"key": key, "rows": len(body_rows), "sha256": hashlib.sha256(body).hexdigest(),
                       "slice": "all"}],
        }
        load_run(wh, store, manifest, labels)


def create(wh, stage_dir: Path | None = None, run_id: str = "standin", revised: bool = False) -> None:
    """Stage the stand-in rows in a folder store and load them into ``wh`` with the harvest's load."""
    with tempfile.TemporaryDirectory(prefix="standin-eurostat-") as tmp:
        store = open_store(str(stage_dir or Path(tmp) / "stage"))
        load(wh, store, run_id, revised)
