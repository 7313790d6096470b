"""Helpers for the load contract tests: small synthetic staged runs, written through the store interface.

Also used by ``load_once.py`` (a loader run as a separate process for the concurrency and SIGKILL tests).
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq

from multilevel.stage import Store

DATASET = "demo_r_test"
DIMENSIONS = ["age", "geo"]
LABELS = [
    ("age", "Y_LT5", "Less than 5 years"),
    ("age", "Y5-9", "From 5 to 9 years"),
    ("geo", "AT1", "Ostösterreich"),
]

# (age, geo, time_period, value, flag): one slice per age, like the real split
BASE_ROWS = [
    ("Y_LT5", "AT1", "2020", 100.0, None),
    ("Y_LT5", "AT1", "2021", 101.0, None),
    ("Y_LT5", "AT2", "2020", 50.0, "p"),
    ("Y_LT5", "AT2", "2021", None, "c"),  # confidential: no value, a flag
    ("Y5-9", "AT1", "2020", 200.0, None),
    ("Y5-9", "AT1", "2021", 201.5, "e"),
    ("Y5-9", "AT2", "2020", 0.0, ""),  # an empty flag is not a missing flag
    ("Y5-9", "AT2", "2021", 75.25, None),
]


def revised_rows() -> list[tuple]:
    """BASE_ROWS after a Eurostat revision: one value changed, one flag dropped, one row gone, one row new."""
    rows = [r for r in BASE_ROWS if r[:3] != ("Y5-9", "AT2", "2021")]  # vanished
    rows = [("Y_LT5", "AT1", "2021", 111.0, None) if r[:3] == ("Y_LT5", "AT1", "2021") else r for r in rows]
    rows = [("Y_LT5", "AT2", "2020", 50.0, None) if r[:3] == ("Y_LT5", "AT2", "2020") else r for r in rows]
    return rows + [("Y5-9", "AT1", "2022", 210.0, "p")]


def parquet_bytes(rows: list[tuple]) -> bytes:
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
    table = pa.table(
        {
            "age": pa.array(columns[0], pa.string()),
            "geo": pa.array(columns[1], pa.string()),
            "time_period": pa.array(columns[2], pa.string()),
            "value": pa.array(columns[3], pa.float64()),
            "flag": pa.array(columns[4], pa.string()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def stage_run(
    store: Store, run_id: str, rows: list[tuple], update_data: str = "2025-01-01T11:00:00+0100"
) -> dict:
    """Stage one run (one Parquet file per age slice) and return its manifest."""
    files = []
    for age in sorted({r[0] for r in rows}):
        part = [r for r in rows if r[0] == age]
        key = f"eurostat/{DATASET}/{run_id}/slices/{age}.parquet"
        digest = store.put_immutable(key, parquet_bytes(part))
        files.append({"key": key, "rows": len(part), "sha256": digest, "slice": age})
    manifest = {
        "dataset": DATASET,
        "run_id": run_id,
        "update_data": update_data,
        "update_structure": "2024-06-01T11:00:00+0200",
        "dimensions": DIMENSIONS,
        "files": files,
    }
    store.put_immutable(
        f"eurostat/{DATASET}/{run_id}/manifest.json", json.dumps(manifest, sort_keys=True).encode()
    )
    return manifest


def snapshot(wh) -> dict:
    """Everything a load may change, in a comparable form (empty when nothing was ever loaded)."""
    state: dict = {}
    if wh.relation_exists("eurostat", f"{DATASET}_history"):
        state["history"] = sorted(
            tuple("" if v is None else str(v) for v in row)
            for row in wh.query(f'SELECT * FROM eurostat."{DATASET}_history"')
        )
    if wh.relation_exists("eurostat", "load_log"):
        state["load_log"] = sorted(
            tuple(str(v) for v in row)
            for row in wh.query(
                "SELECT dataset, run_id, status, rows_received, rows_inserted, rows_closed "
                "FROM eurostat.load_log"
            )
        )
        state["labels"] = sorted(wh.query("SELECT dataset, dimension, code, label FROM eurostat.labels"))
    return state


def current_rows(wh) -> list[tuple]:
    """The current view, as the value tuples the tests compare with BASE_ROWS / revised_rows()."""
    rows = wh.query(f'SELECT age, geo, time_period, value, flag FROM eurostat."{DATASET}"')
    return sorted((a, g, t, None if v is None else float(v), f) for a, g, t, v, f in rows)


def expected(rows: list[tuple]) -> list[tuple]:
    return sorted(rows)


def redshift_on_postgres(patch) -> None:
    """Let RedshiftWarehouse run against PostgreSQL (the offline stand-in for Redshift, tests/servers.py): the Redshift
    dialect without its table attributes (DISTSTYLE/DISTKEY/SORTKEY, which PostgreSQL cannot parse). Every other
    Redshift statement, the connector and the client-side COPY run as they are; test_redshift.py parses the real DDL
    (with the attributes) with sqlfluff's redshift dialect. ``patch`` is a pytest MonkeyPatch."""
    from multilevel.warehouse.redshift import RedshiftWarehouse

    patch.setattr(RedshiftWarehouse, "dialect", replace(RedshiftWarehouse.dialect, table_attributes={}))
