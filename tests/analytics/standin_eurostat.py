"""Small stand-in Eurostat data, loaded through the real harvest load, so every warehouse gets the same tables.

The rows are staged as Parquet and loaded with ``multilevel.warehouse.history.load_run``: DuckDB, PostgreSQL and the
Redshift client path all end up with ``eurostat.{dataset}_history`` and the current views
``eurostat.demo_r_pjanind3`` / ``eurostat.demo_r_pjangrp3`` (views, as in production), made by the product's SQL.

Values are made up (deterministic from code and year). Years 2017 (published in NUTS 2013) and 2018-2019 (NUTS
2016). For IE, FR, PL, LT, HU the regional rows of 2018-2019 are left out, as if not yet published, so those
respondents must go back to 2017 and through the NUTS 2013 crosswalk; NO01 has no rows at all.
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
from multilevel.stage import open_store
from multilevel.warehouse.history import load_run

VERSION_OF_YEAR = {2017: "2013", 2018: "2016", 2019: "2016"}
LATE_COUNTRIES = {"IE", "FR", "PL", "LT", "HU"}
DIMENSIONS = {
    "demo_r_pjanind3": ["freq", "indic_de", "unit", "geo"],
    "demo_r_pjangrp3": ["freq", "unit", "sex", "age", "geo"],
}


def value(code: str, year: int, what: str, low: float, high: float) -> float:
    h = zlib.crc32(f"{code}|{year}|{what}".encode()) / 2**32
    return round(low + (high - low) * h, 1)


def rows() -> dict[str, list[tuple]]:
    """Rows per dataset: dimension values in DIMENSIONS order, then time_period, value, flag."""
    with open(paths.DATA_DIR / "reference" / "nuts_codes.csv", newline="", encoding="utf-8") as f:
        codes = list(csv.DictReader(f))
    ind, pop = [], []
    for year, version in VERSION_OF_YEAR.items():
        for row in codes:
            code = row["code"]
            if row["nuts_version"] != version or code.startswith("NO01"):
                continue
            if year >= 2018 and code[:2] in LATE_COUNTRIES and int(row["level"]) > 0:
                continue
            t = str(year)
            ind.append(("A", "MEDAGEPOP", "YR", code, t, value(code, year, "age", 36, 50), None))
            ind.append(("A", "OLDDEP1", "PC", code, t, value(code, year, "dep", 20, 45), None))
            ind.append(("A", "PC_Y65_MAX", "PC", code, t, value(code, year, "65", 14, 28), None))
            pop.append(("A", "NR", "T", "TOTAL", code, t, value(code, year, "pop", 1e5, 5e6), None))
    return {"demo_r_pjanind3": ind, "demo_r_pjangrp3": pop}


def _parquet(names: list[str], data: list[tuple]) -> bytes:
    columns = list(zip(*data, strict=True))
    types = [pa.string()] * (len(names) - 2) + [pa.float64(), pa.string()]
    table = pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def create(wh, stage_dir: Path | None = None) -> None:
    """Stage the stand-in rows in a folder store and load them into ``wh`` with the harvest's load."""
    with tempfile.TemporaryDirectory(prefix="standin-eurostat-") as tmp:
        store = open_store(str(stage_dir or Path(tmp) / "stage"))
        for dataset, data in rows().items():
            names = DIMENSIONS[dataset] + ["time_period", "value", "flag"]
            body = _parquet(names, data)
            key = f"eurostat/{dataset}/standin/slices/all.parquet"
            store.put_immutable(key, body)
            manifest = {
                "dataset": dataset,
                "run_id": "standin",
                "update_data": "2020-03-01T23:00:00+0100",
                "update_structure": "2020-03-01T23:00:00+0100",
                "dimensions": DIMENSIONS[dataset],
                "files": [{"key": key, "rows": len(data), "sha256": hashlib.sha256(body).hexdigest(), "slice": "all"}],
            }
            load_run(wh, store, manifest, [])
