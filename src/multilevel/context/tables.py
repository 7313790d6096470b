"""Write the context into the warehouse and (re)create the views over it. The DDL lives in sql/analytics/ like every
other table's (portable SQL, Redshift keys from sql/dialects.toml); only the columns of one value and one method per
context variable are generated from the configuration (indicators.yaml).

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
INDICATOR_VALUE, INDICATOR_METHOD = "DOUBLE PRECISION", "VARCHAR(16)"


def indicator_columns(config: ContextConfig) -> str:
    """The ``{indicator_columns}`` of sql/analytics/ess_region_context.sql: a value and a method per variable."""
    return ",\n    ".join(
        f"{quote(name)} {INDICATOR_VALUE},\n    {quote(name + '_method')} {INDICATOR_METHOD}" for name in config.names
    )


def context_columns(config: ContextConfig) -> str:
    """The ``{context_columns}`` of sql/analytics/ess_regional_context.sql."""
    return ", ".join(f"c.{quote(c)}" for name in config.names for c in (name, f"{name}_method"))


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
    """Replace the two context tables and recreate the views, in one transaction; returns the region table.

    The DDL is in sql/analytics/ (one file per object, ``{table_attributes}`` from sql/dialects.toml); only the
    per-variable columns are generated from indicators.yaml."""
    regions = to_regions(values, config)
    wh.run_sql_file("analytics/schema.sql")
    with wh.transaction():
        drop_views(wh)
        for name, columns, frame in (
            ("ess_context_values", LONG_COLUMNS, values),
            ("ess_region_context", region_columns(config), regions),
        ):
            wh.execute(f"DROP TABLE IF EXISTS analytics.{name}")
            wh.run_sql_file(f"analytics/{name}.sql", indicator_columns=indicator_columns(config))
            insert_frame(wh, f"analytics.{name}", frame[columns])
        wh.run_sql_file("analytics/ess_regional_context.sql", context_columns=context_columns(config))
        wh.run_sql_file("analytics/ess_join_coverage.sql")
    wh.analyze("analytics.ess_context_values", "analytics.ess_region_context")
    log.info("regional context: %d regions, %d values", len(regions), len(values))
    return regions


def build_context(wh: Warehouse, as_of: datetime | None = None, config: ContextConfig | None = None) -> pd.DataFrame:
    """Compute the context as the warehouse knew it at ``as_of`` (default: now) and write it; returns regions."""
    config = config or load_context_config()
    return write_context(wh, build_values(wh, config, as_of), config)
