"""Selections, the cheap daily check and `multilevel status`, against the stand-in's catalogue and a warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import duckdb
import pytest

from multilevel.datasets import get_dataset, load_selections
from multilevel.errors import ConfigError
from multilevel.eurostat.check import catalogue_listing, check, status
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.standin import StandIn
from multilevel.warehouse.history import now_utc

CONFIG = """\
datasets:
  - code: demo_r_pjanind3
    split: indic_de
    filters: {indic_de: [MEDAGEPOP, OLDDEP1]}
selections:
  - pattern: "demo_r_s*"
  - theme: reg_eco10
    min_nuts_level: 2
  - pattern: "lfst_r_*"
    min_nuts_level: 3
    exclude: ["lfst_r_s002"]
"""


@pytest.fixture
def catalogue_api(settings, tmp_path):
    """A stand-in with 25 synthetic regional datasets (and one national one) besides the demography cubes."""
    config = tmp_path / "datasets.yaml"
    config.write_text(CONFIG)
    settings.datasets_file = config
    with StandIn(size="small", catalogue=25) as server:
        settings.eurostat_url = server.url
        yield server


def expected_selection(api) -> set[str]:
    """What CONFIG selects, from the stand-in's own knowledge of each dataset's levels and folder."""
    out = {"demo_r_pjanind3"}
    for code, spec in api.regional.items():
        if spec.max_level == 0:
            continue
        if code.startswith("demo_r_s") or (spec.theme == "reg_eco10" and spec.max_level >= 2):
            out.add(code)
        if code.startswith("lfst_r_") and spec.max_level >= 3 and code != "lfst_r_s002":
            out.add(code)
    return out


def data_requests(api) -> int:
    return api.count_requests("/statistics/")


def test_selections_resolve_by_pattern_theme_and_level(settings, catalogue_api):
    listed = catalogue_listing(settings, EurostatClient(catalogue_api.url), selected_only=True)
    assert {x.code for x in listed} == expected_selection(catalogue_api)
    assert {x.selected_by for x in listed if x.code == "demo_r_pjanind3"} == {"configured"}
    every = catalogue_listing(settings, EurostatClient(catalogue_api.url), selected_only=False)
    national = [c for c in catalogue_api.regional if "_nat" in c]
    assert national and not set(national) & {x.code for x in every}  # probed: its geo holds countries only
    assert len(every) == 25 + 2  # the 25 synthetic regional ones and both demography cubes


def test_listing_asks_each_dataset_levels_once_and_keeps_them(settings, catalogue_api):
    client = EurostatClient(catalogue_api.url)
    catalogue_listing(settings, client, selected_only=False)
    first = catalogue_api.count_requests("/contentconstraint/")
    catalogue_api.clear()
    catalogue_listing(settings, client, selected_only=False)
    assert first >= 25 and catalogue_api.count_requests("/contentconstraint/") == 0
    assert catalogue_api.count_requests("/catalogue/toc/txt") == 1


def test_unchanged_day_is_one_request_and_writes_no_data_rows(settings, catalogue_api):
    selected = expected_selection(catalogue_api)
    first = check(settings)
    assert set(first.changed) == selected and all(r == "never loaded" for r in first.reasons.values())
    for code in first.changed:
        assert harvest_dataset(settings, code).status == "loaded"
    db_path = settings.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(db_path, read_only=True) as db:
        log_rows = db.execute("SELECT count(*) FROM eurostat.load_log").fetchone()[0]
    catalogue_api.clear()

    day = check(settings)
    assert (day.changed, len(day.unchanged), day.requests) == ([], len(selected), 1)
    assert len(catalogue_api.request_log) == 1 and catalogue_api.count_requests("/catalogue/toc/txt") == 1
    with duckdb.connect(db_path, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM eurostat.load_log").fetchone()[0] == log_rows  # 0 rows written
        checks = db.execute("SELECT requests, datasets, changed, unchanged FROM eurostat.check_log "
                            "ORDER BY started_at").fetchall()
    assert checks[-1] == (1, len(selected), 0, len(selected))


def test_a_revised_dataset_costs_one_dataflow_request_and_only_it_is_harvested(settings, catalogue_api):
    for code in check(settings).changed:
        harvest_dataset(settings, code)
    revised = sorted(expected_selection(catalogue_api) - {"demo_r_pjanind3"})[:2]
    for code in revised:
        catalogue_api.revise(code)
    catalogue_api.clear()
    day = check(settings)
    assert day.changed == revised and day.requests == 1 + len(revised)
    assert catalogue_api.count_requests("/dataflow/") == len(revised)
    assert data_requests(catalogue_api) == 0


def test_a_failed_harvest_is_retried_by_the_next_check_without_asking_again(settings, catalogue_api):
    for code in check(settings).changed:
        harvest_dataset(settings, code)
    code = sorted(expected_selection(catalogue_api) - {"demo_r_pjanind3"})[0]
    catalogue_api.revise(code)
    assert check(settings).changed == [code]
    catalogue_api.inject("500", count=50, path=f"/statistics/1.0/data/{code}")
    settings.http_max_retries = 0
    with pytest.raises(Exception):  # noqa: B017 - any failure: the point is what the next check does
        harvest_dataset(settings, code)
    catalogue_api.clear()
    again = check(settings)
    assert again.changed == [code] and again.reasons[code] == "known update not loaded yet"
    assert again.requests == 1  # the catalogue only: the dataflow was asked by the check before


def test_a_dataset_no_selection_pattern_matches_is_not_configured(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text("datasets: []\nselections:\n  - pattern: 'demo_r_*'\n    exclude: ['demo_r_s001']\n")
    assert get_dataset("demo_r_s000", path).split is None  # selected: automatic slicing
    for code in ("hlth_ehis_hc8", "demo_r_s001"):
        with pytest.raises(ConfigError, match="no selection matches"):
            get_dataset(code, path)


def test_unknown_selection_keys_are_rejected(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text("selections:\n  - pattern: 'demo_r_*'\n    min_level: 2\n")
    with pytest.raises(ConfigError, match="min_level"):
        load_selections(path)


def test_status_view_and_staleness(settings, catalogue_api):
    first = check(settings)
    for code in first.changed:
        harvest_dataset(settings, code)
    code = sorted(c for c in first.changed if "_s0" in c)[0]  # whole datasets: every revised cell is loaded
    catalogue_api.revise(code)
    harvest_dataset(settings, code)  # a revision: closed rows are kept
    check(settings)
    rows = {r["dataset"]: r for r in status(settings, stale_after_hours=36)}
    assert set(rows) == set(first.changed)
    assert not any(r["stale"] for r in rows.values())
    with duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True) as db:
        current = db.execute(f"SELECT count(*) FROM eurostat.{code}").fetchone()[0]
        history = db.execute(f"SELECT count(*) FROM eurostat.{code}_history").fetchone()[0]
    assert rows[code]["current_rows"] == current
    assert rows[code]["revisions_kept"] == history - current > 0
    later = status(settings, stale_after_hours=36, now=now_utc() + timedelta(hours=48))
    assert all(r["stale"] and "not checked" in r["why"] for r in later)


def test_status_command_exits_non_zero_when_stale(settings, catalogue_api):
    env = {**os.environ, "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file),
           "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url, "MULTILEVEL_STAGE_URL": settings.stage_url,
           "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "multilevel.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    done = run("check", "--out", str(settings.stage_url) + "-changed.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] == sorted(expected_selection(catalogue_api))
    stale = run("status")
    assert stale.returncode == 3 and "never loaded" in stale.stdout
    assert run("check", "--harvest").returncode == 0
    fresh = run("status", "--json")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert {json.loads(line)["dataset"] for line in fresh.stdout.splitlines()} == expected_selection(catalogue_api)


@pytest.mark.parametrize("kind", ["postgres", "redshift"])
def test_check_and_status_on_postgres_and_the_redshift_path(kind, settings, catalogue_api, request, tmp_path):
    import sys as _sys
    from pathlib import Path

    _sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from warehouses import warehouse_url

    config = tmp_path / "two.yaml"
    config.write_text("datasets: []\nselections:\n  - pattern: 'nama_10r_*'\n    min_nuts_level: 2\n")
    settings.datasets_file = config
    with warehouse_url(kind, request, tmp_path) as url:
        settings.warehouse_url = url
        first = check(settings)
        assert first.changed and all(c.startswith("nama_10r_") for c in first.changed)
        for code in first.changed:
            harvest_dataset(settings, code)
        catalogue_api.clear()
        day = check(settings)
        assert (day.changed, day.requests) == ([], 1)
        rows = status(settings, stale_after_hours=36)
    assert {r["dataset"] for r in rows} == set(first.changed)
    assert all(not r["stale"] and r["current_rows"] > 0 for r in rows)


def test_the_exit_handler_records_every_handed_over_dataset_that_never_finished(settings, catalogue_api):
    from multilevel.eurostat.check import record_unfinished, write_check_record
    from multilevel.eurostat.steps import plan_step

    result = check(settings)
    write_check_record(settings, "catalogue-run-1", result)
    done = sorted(result.changed)[0]
    harvest_dataset(settings, done)  # loaded under its own run id: that does not count for this run...
    assert not plan_step(settings, done, run_id="catalogue-run-1").plan.changed  # ...this run's 'unchanged' does
    recorded = record_unfinished(settings, "catalogue-run-1", "Argo workflow catalogue-run-1 ended Failed")
    assert recorded == [c for c in result.changed if c != done]
    with duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True) as db:
        failed = db.execute("SELECT dataset, message FROM eurostat.load_log WHERE status = 'failed' "
                            "AND run_id = 'catalogue-run-1' ORDER BY dataset").fetchall()
    assert [d for d, _ in failed] == recorded and all("ended Failed" in m for _, m in failed)
    assert record_unfinished(settings, "catalogue-run-1", "again") == []  # idempotent: each is logged now
    assert record_unfinished(settings, "no-such-run", "x") == []  # a check that failed before its record


def test_listing_without_probes_is_one_request_and_shows_unknown_levels(settings, catalogue_api):
    quick = catalogue_listing(settings, EurostatClient(catalogue_api.url), selected_only=False, probe=False)
    assert len(catalogue_api.request_log) == 1
    national = [c for c in catalogue_api.regional if "_nat" in c]
    assert set(national) <= {x.code for x in quick}  # a candidate by its title until probed
    assert all(x.levels is None for x in quick)


def test_a_probe_that_fails_transiently_leaves_that_dataset_for_next_time(settings, catalogue_api):
    victim = "demo_r_s008"
    catalogue_api.inject("503", count=100, path=f"/contentconstraint/ESTAT/{victim}/")
    settings.http_max_retries = 0
    first = check(settings)
    assert victim not in first.changed and "demo_r_s000" in first.changed  # the others go on
    catalogue_api.clear()
    second = check(settings)
    assert victim in second.changed  # asked again, now selected (and never loaded)
    assert catalogue_api.count_requests("/contentconstraint/") == 1  # only its levels were missing


def test_harvest_takes_the_datasets_check_chose_by_a_selection(settings, catalogue_api, tmp_path):
    """`multilevel check --out changed.json` then `multilevel harvest <those codes>`: the daily pair on one machine.

    A code matched only by a selection is as known to `harvest` as to the plan step (a code nothing matches stops
    the harvest before any request: tests/hostile/test_exit_classes.py).
    """
    from click.testing import CliRunner

    from multilevel.cli import main

    env = {"MULTILEVEL_EUROSTAT_URL": catalogue_api.url, "MULTILEVEL_STAGE_URL": settings.stage_url,
           "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url, "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file)}
    chosen = sorted(c for c in expected_selection(catalogue_api) if c.startswith("demo_r_s"))[:1]
    assert chosen and chosen[0] not in CONFIG  # matched by the pattern selection only
    result = CliRunner().invoke(main, ["harvest", "--no-progress", *chosen], env=env)
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["status"] for x in result.stdout.splitlines()] == ["loaded"]
