"""The step commands as separate processes (as Argo runs them): files in, files out, meaningful exit codes."""

import json
import os
import subprocess
import sys
import time

import duckdb
import pytest

DATASET = "demo_r_pjanind3"


@pytest.fixture
def settings(settings, tmp_path):
    """Two indicators only: every step below is a separate process, like a pod, and each start costs a second."""
    path = tmp_path / "datasets.yaml"
    path.write_text(
        f"datasets:\n  - code: {DATASET}\n    split: indic_de\n    filters: {{indic_de: [MEDAGEPOP, OLDDEP1]}}\n"
    )
    settings.datasets_file = path
    return settings


def run(settings, *args, check=True):
    env = {
        "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file),
        **os.environ,
        "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url,
        "MULTILEVEL_STAGE_URL": settings.stage_url,
        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
        "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
        "MULTILEVEL_HTTP_MAX_RETRIES": "1",
    }
    done = subprocess.run([sys.executable, "-m", "multilevel.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"multilevel {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def test_steps_one_process_each_load_the_dataset(settings, api, tmp_path):
    slices_file = tmp_path / "slices.json"
    plan_url = run(settings, "plan", DATASET, "--run-id", "argo-run-1", "--slices-out", str(slices_file)).stdout.strip()
    assert plan_url.endswith(f"eurostat/{DATASET}/argo-run-1/plan.json")
    slice_ids = json.loads(slices_file.read_text())
    assert slice_ids == ["MEDAGEPOP", "OLDDEP1"]

    for slice_id in slice_ids:
        raw, parquet = tmp_path / "raw" / slice_id, tmp_path / "validated" / f"{slice_id}.parquet"
        run(settings, "download", "--plan", plan_url, "--slice", slice_id, "--out", str(raw))
        run(settings, "validate", "--plan", plan_url, "--slice", slice_id, "--raw", str(raw), "--out", str(parquet))
        run(settings, "stage", "--plan", plan_url, "--slice", slice_id, "--in", str(parquet))
    result = json.loads(run(settings, "load", "--plan", plan_url).stdout)
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    loaded = con.execute(f"SELECT indic_de, count(*) FROM eurostat.{DATASET} GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert result["status"] == "loaded" and [code for code, _ in loaded] == ["MEDAGEPOP", "OLDDEP1"]
    assert result["rows_inserted"] == sum(n for _, n in loaded) > 0

    assert run(settings, "plan", DATASET, "--slices-out", str(slices_file)).stdout.strip() == "unchanged"
    assert json.loads(slices_file.read_text()) == []


def test_load_refuses_a_run_with_a_slice_that_was_never_staged(settings, api, tmp_path):
    plan_url = run(settings, "plan", DATASET, "--run-id", "r2").stdout.strip()
    done = run(settings, "load", "--plan", plan_url, check=False)
    assert done.returncode == 1
    assert "was never staged" in done.stderr and "rerun its download/validate/stage steps" in done.stderr
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    tables = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '%history'").fetchall()
    assert tables == [(0,)]


def test_transient_failures_exit_75_and_terminal_ones_exit_1(settings, api):
    api.inject("503", count=5)
    done = run(settings, "plan", DATASET, check=False)
    assert done.returncode == 75 and "run again later" in done.stderr
    api.clear()
    done = run(settings, "plan", "not_configured", check=False)
    assert done.returncode == 1 and "not configured" in done.stderr


def test_offline_harvest_fails_fast_and_says_how_to_use_the_standin(settings):
    started = time.monotonic()
    done = run(settings, "harvest", check=False)
    assert time.monotonic() - started < 30
    assert done.returncode == 75
    assert "cannot reach the Eurostat API" in done.stderr and "make run STANDIN=1" in done.stderr


def test_harvest_from_a_standin_serving_current_codes(settings):
    # --standin-current-codes NO: Norway's regions only in current NUTS codes, NO08 next to unchanged NO07
    run(settings, "harvest", "--standin", "--standin-size", "small", "--standin-current-codes", "NO",
        "--no-progress", "demo_r_pjanind3")
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    geos = {g for (g,) in con.execute("SELECT DISTINCT geo FROM eurostat.demo_r_pjanind3_history").fetchall()}
    assert {"NO07", "NO08", "NO083", "NO01"} <= geos and not {"NO03", "NO082"} & geos


def test_record_failure_works_when_the_plan_step_itself_failed(settings, tmp_path):
    missing_plan = f"{settings.stage_url}/eurostat/{DATASET}/wf-123/plan.json"
    run(settings, "record-failure", "--plan", missing_plan, "--reason", "plan step failed")
    con = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    rows = con.execute("SELECT dataset, run_id, status, message FROM eurostat.load_log").fetchall()
    assert rows == [(DATASET, "wf-123", "failed", "plan step failed")]


def test_a_retried_plan_step_keeps_the_plan_of_its_run(settings, api, tmp_path):
    first = run(settings, "plan", DATASET, "--run-id", "wf-9").stdout.strip()
    plan_bytes = open(first, "rb").read()
    api.revise(DATASET, n=1)  # even if Eurostat moved on meanwhile, the run's slices must not change under it
    again = run(settings, "plan", DATASET, "--run-id", "wf-9", "--slices-out", str(tmp_path / "s.json"))
    assert again.stdout.strip() == first and open(first, "rb").read() == plan_bytes
    assert json.loads((tmp_path / "s.json").read_text()) == ["MEDAGEPOP", "OLDDEP1"]
