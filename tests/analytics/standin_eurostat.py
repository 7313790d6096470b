"""Small stand-in Eurostat tables in DuckDB with exactly the columns of the harvest's current views.

Values are made up (deterministic from code and year). Years 2017 (published in NUTS 2013) and 2018-2019 (NUTS
2016). For IE, FR, PL, LT, HU the regional rows of 2018-2019 are left out, as if not yet published, so those
respondents must go back to 2017 and through the NUTS 2013 crosswalk; NO01 has no rows at all.
"""

from __future__ import annotations

import csv
import zlib

import pandas as pd

from multilevel import paths

VERSION_OF_YEAR = {2017: "2013", 2018: "2016", 2019: "2016"}
LATE_COUNTRIES = {"IE", "FR", "PL", "LT", "HU"}


def value(code: str, year: int, what: str, low: float, high: float) -> float:
    h = zlib.crc32(f"{code}|{year}|{what}".encode()) / 2**32
    return round(low + (high - low) * h, 1)


def create(wh) -> None:
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
    ind_frame = pd.DataFrame(ind, columns=["freq", "indic_de", "unit", "geo", "time_period", "value", "flag"])
    pop_frame = pd.DataFrame(pop, columns=["freq", "unit", "sex", "age", "geo", "time_period", "value", "flag"])
    wh.execute("CREATE SCHEMA IF NOT EXISTS eurostat")
    for name, frame in (("demo_r_pjanind3", ind_frame), ("demo_r_pjangrp3", pop_frame)):
        wh.con.register("standin_frame", frame)
        wh.execute(f"CREATE TABLE eurostat.{name} AS SELECT * FROM standin_frame")
        wh.con.unregister("standin_frame")
