"""Write the context into the warehouse and (re)create the views over it; all SQL is generated from the
configuration (indicators.yaml), in the portable subset DuckDB, PostgreSQL and Redshift share.

- ``analytics.ess_context_values``  one row per (round, country, region, indicator): value, method, provenance
- ``analytics.ess_region_context``  one row per (round, country, region): every indicator and its method, and a
                                     summary (reference date, least direct method, coverage, versions, flags)
- ``analytics.ess_regional_context`` (view) one row per respondent: ess.respondents ⨝ ess_region_context
- ``analytics.ess_join_coverage``   (view) respondents per round and country by how their region got its context
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from multilevel.context.build import LONG_COLUMNS, build_values, region_columns, to_regions
from multilevel.context.config import ContextConfig, load_context_config
from multilevel.warehouse import Warehouse, quote

log = logging.getLogger(__name__)

BATCH = 400
TYPES = {
    "essround": "SMALLINT", "cntry": "VARCHAR(2)", "region": "VARCHAR(8)", "region_nuts_version": "VARCHAR(4)",
    "region_level": "SMALLINT", "reference_date": "DATE", "indicator": "VARCHAR(64)", "value": "DOUBLE PRECISION",
    "method": "VARCHAR(16)", "coverage": "DOUBLE PRECISION", "data_geo": "VARCHAR(256)",
    "data_nuts_version": "VARCHAR(32)", "data_level": "SMALLINT", "data_year": "SMALLINT", "flags": "VARCHAR(64)",
    "source_updated": "VARCHAR(32)", "note": "VARCHAR(256)",
}
RESPONDENT_COLUMNS = ["essround", "cntry", "idno", "region", "regunit", "region_nuts_version", "inwyys", "anweight"]
SUMMARY = ["reference_date", "method", "coverage", "data_nuts_version", "data_level", "flags", "source_updated"]


def column_type(name: str, config: ContextConfig) -> str:
    if name in TYPES:
        return TYPES[name]
    if name.endswith("_method"):
        return "VARCHAR(16)"
    return "DOUBLE PRECISION"  # an indicator value


def create_table_sql(table: str, columns: list[str], config: ContextConfig) -> str:
    body = ",\n    ".join(f"{quote(c)} {column_type(c, config)}" for c in columns)
    return f"CREATE TABLE {table} (\n    {body}\n)"


def regional_context_sql(config: ContextConfig) -> str:
    context = ", ".join(f"c.{quote(c)}" for c in SUMMARY + [x for n in config.names for x in (n, f"{n}_method")])
    respondent = ", ".join(f"r.{quote(c)}" for c in RESPONDENT_COLUMNS)
    return (
        "CREATE VIEW analytics.ess_regional_context AS\n"
        f"SELECT {respondent}, {context}\n"
        "FROM ess.respondents AS r\n"
        "LEFT JOIN analytics.ess_region_context AS c\n"
        "    ON c.essround = r.essround AND c.cntry = r.cntry\n"
        "    AND (c.region = r.region OR (c.region IS NULL AND r.region IS NULL))"
    )


def coverage_sql() -> str:
    def count(condition: str) -> str:
        return f"CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS INTEGER)"

    own = "method IN ('published', 'recoded', 'reconstructed')"
    return (
        "CREATE VIEW analytics.ess_join_coverage AS\n"
        "SELECT\n    essround,\n    cntry,\n    CAST(COUNT(*) AS INTEGER) AS respondents,\n"
        f"    {count(own)} AS own_boundary,\n"
        + "".join(f"    {count(f'method = {chr(39)}{m}{chr(39)}')} AS {m},\n"
                  for m in ("published", "recoded", "reconstructed", "coarser_region", "country"))
        + f"    {count('method IS NULL OR method = ' + chr(39) + 'none' + chr(39))} AS none,\n"
        f"    CAST(SUM(CASE WHEN {own} THEN 1 ELSE 0 END) AS DOUBLE PRECISION) / COUNT(*) AS own_boundary_share\n"
        "FROM analytics.ess_regional_context\nGROUP BY essround, cntry"
    )


def _python(v):
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def insert_frame(wh: Warehouse, table: str, frame: pd.DataFrame) -> None:
    cols = ", ".join(quote(c) for c in frame.columns)
    one = "(" + ", ".join(["%s"] * len(frame.columns)) + ")"
    rows = [[_python(v) for v in row] for row in frame.itertuples(index=False)]
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        wh.execute(f"INSERT INTO {table} ({cols}) VALUES " + ", ".join([one] * len(chunk)),
                   [v for row in chunk for v in row])


def drop_views(wh: Warehouse) -> None:
    wh.execute("DROP VIEW IF EXISTS analytics.ess_join_coverage")
    wh.execute("DROP VIEW IF EXISTS analytics.ess_regional_context")


def write_context(wh: Warehouse, values: pd.DataFrame, config: ContextConfig) -> pd.DataFrame:
    """Replace the two context tables and recreate the views, in one transaction; returns the region table."""
    regions = to_regions(values, config)
    wh.run_sql_file("analytics/schema.sql")
    with wh.transaction():
        drop_views(wh)
        for table, columns, frame in (
            ("analytics.ess_context_values", LONG_COLUMNS, values),
            ("analytics.ess_region_context", region_columns(config), regions),
        ):
            wh.execute(f"DROP TABLE IF EXISTS {table}")
            wh.execute(create_table_sql(table, columns, config))
            insert_frame(wh, table, frame[columns])
        wh.execute(regional_context_sql(config))
        wh.execute(coverage_sql())
    wh.analyze("analytics.ess_context_values", "analytics.ess_region_context")
    log.info("regional context: %d regions, %d values", len(regions), len(values))
    return regions


def build_context(wh: Warehouse, as_of: datetime | None = None, config: ContextConfig | None = None) -> pd.DataFrame:
    """Compute the context as the warehouse knew it at ``as_of`` (default: now) and write it; returns regions."""
    config = config or load_context_config()
    return write_context(wh, build_values(wh, config, as_of), config)
