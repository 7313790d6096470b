"""Load data/reference/*.csv into the reference schema (replacing what is there, in one transaction)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from multilevel import paths
from multilevel.errors import InputFileError
from multilevel.warehouse import Warehouse

log = logging.getLogger(__name__)

# table -> (CSV file, integer columns, float columns); the CSV header gives the column names and order.
TABLES = {
    "nuts_codes": ("nuts_codes.csv", {"level"}, set()),
    "nuts_changes": ("nuts_changes.csv", {"level"}, set()),
    "nuts_version_years": ("nuts_version_years.csv", {"first_year", "last_year"}, set()),
    "ess_region_crosswalk": ("ess_region_crosswalk.csv", {"source_level"}, set()),
    # built by data/build_jrc_reference.py from the vendored JRC NUTS converter matrices
    "nuts3_pieces": ("nuts3_pieces.csv", set(), {"area_km2", "pop11", "pop21"}),
}
BATCH = 500  # rows per multi-row INSERT: portable and far fewer round trips than one statement per row


def _cell(name: str, text: str, integers: set[str], floats: set[str]):
    if not text:
        return None
    if name in integers:
        return int(text)
    if name in floats:
        return float(text)
    return text


def _rows(path: Path, integers: set[str], floats: set[str]) -> tuple[list[str], list[list]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            rows = [[_cell(h, v, integers, floats) for h, v in zip(header, r, strict=True)] for r in reader]
    except (OSError, StopIteration, ValueError) as e:
        raise InputFileError(
            f"reference file {path} is unreadable ({e}); rebuild it with data/build_nuts_reference.py "
            "or data/build_jrc_reference.py"
        ) from e
    return header, rows


def load_reference(wh: Warehouse, folder: Path | None = None) -> dict[str, int]:
    """Create the reference tables if needed and replace their rows from the CSVs; returns row counts."""
    folder = folder or paths.DATA_DIR / "reference"
    wh.run_sql_file("reference/schema.sql")
    for table in TABLES:
        wh.run_sql_file(f"reference/{table}.sql")
    counts = {}
    with wh.transaction():
        for table, (filename, integers, floats) in TABLES.items():
            header, rows = _rows(folder / filename, integers, floats)
            wh.execute(f"DELETE FROM reference.{table}")
            cols = ", ".join(header)
            one = "(" + ", ".join(["%s"] * len(header)) + ")"
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                wh.execute(
                    f"INSERT INTO reference.{table} ({cols}) VALUES " + ", ".join([one] * len(chunk)),
                    [v for row in chunk for v in row],
                )
            counts[table] = len(rows)
            log.info("reference.%s: %d rows from %s", table, len(rows), filename)
    wh.analyze(*(f"reference.{t}" for t in TABLES))
    return counts
