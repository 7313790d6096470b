"""One warehouse of each kind for module-scoped fixtures: DuckDB, PostgreSQL, and the Redshift client path.

The server fixtures of ``tests/servers.py`` hand out a fresh database per *test*; the ESS, reference and analytics
tests load 3000 respondents and 16k reference rows, so they share one database per *module* instead, made here on the
session's PostgreSQL server (and reached through the session's start-up filter for the Redshift client path).

The Redshift path runs the real redshift-connector against PostgreSQL, so its dialect goes without the table
attributes (DISTSTYLE/DISTKEY/SORTKEY: PostgreSQL cannot parse them; test_redshift.py parses the real DDL).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "warehouse"))
from loadkit import redshift_on_postgres  # noqa: E402
from servers import _create_database  # noqa: E402

# "redshift" is the redshift-connector client and the Redshift SQL on PostgreSQL, not a Redshift: its test id says so.
KINDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres"),
    pytest.param("redshift", id="redshift-client-on-postgres"),
]


@contextmanager
def warehouse_url(kind: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A URL of an empty warehouse of ``kind``; for Redshift, its dialect goes without table attributes meanwhile."""
    if kind == "duckdb":
        yield f"duckdb:///{folder / 'warehouse.duckdb'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = _create_database(server)
    if kind == "postgres":
        yield server.rsplit("/", 1)[0] + f"/{name}"
        return
    proxy = request.getfixturevalue("redshift_client_proxy")
    with pytest.MonkeyPatch.context() as patch:
        redshift_on_postgres(patch)
        # PostgreSQL trusts every local client; the password is there because RedshiftWarehouse requires one
        yield f"redshift://postgres:test@{proxy}/{name}?ssl=false&copy_mode=client"


def comparable(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A frame in a form that compares equal across warehouses: sorted by ``keys``, numbers as float, missing as
    None (drivers differ in Decimal vs float, NaN vs None, int64 vs Int16, not in values)."""

    def cell(v):
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return None
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            return float(v)
        return v

    out = frame.astype(object).map(cell)
    return out.sort_values(keys).reset_index(drop=True)
