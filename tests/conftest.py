"""Fixtures shared by every test: isolated settings, the local Eurostat API stand-in, real servers (servers.py)."""

from __future__ import annotations

import os

import pytest
from servers import *  # noqa: F403  (session fixtures that start real S3-API and PostgreSQL servers)

from multilevel.settings import Settings

REAL_REDSHIFT_URL = "MULTILEVEL_TEST_REDSHIFT_URL"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``real_redshift`` need a real Amazon Redshift: without MULTILEVEL_TEST_REDSHIFT_URL they are
    deselected (reported as deselected, never as skipped), as dlt and hera gate their cloud tests."""
    if os.environ.get(REAL_REDSHIFT_URL):
        return
    deselected = [item for item in items if item.get_closest_marker("real_redshift")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("real_redshift")]


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    """Settings for one test: stage and DuckDB warehouse in a fresh folder, fast retries, no .env influence."""
    for name in ("MULTILEVEL_EUROSTAT_URL", "MULTILEVEL_STAGE_URL", "MULTILEVEL_WAREHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    return Settings(
        _env_file=None,
        eurostat_url="http://127.0.0.1:9",  # tests that talk to an API replace this with the stand-in's URL
        stage_url=str(tmp_path / "stage"),
        warehouse_url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        http_backoff_seconds=0.01,
        http_backoff_cap_seconds=0.05,
        http_timeout_seconds=5,
    )


@pytest.fixture
def api(settings):
    """A fresh small stand-in per test (revisions and faults stay local), with `settings` pointed at it."""
    from multilevel.standin import StandIn

    with StandIn(size="small") as server:
        settings.eurostat_url = server.url
        yield server
