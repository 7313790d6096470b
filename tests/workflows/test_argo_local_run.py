"""Run the generated eurostat-harvest and ess-load DAGs here, as Argo would, and check the warehouse.

The manifests and the settings ConfigMap are taken from `helm template` (what a cluster would receive), with
values pointing at the local Eurostat stand-in, a real S3-API server (moto) and a real PostgreSQL warehouse: the
shared services a cluster needs, because every pod gets its own filesystem here too (workflows/local.py).
"""

from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager

import psycopg
import pyreadstat
import pytest
from chart_support import ROOT, explain, helm_template, local_cluster, s3_bucket

from multilevel.standin import StandIn

DATASET = "demo_r_pjangrp3"
# Two slices keep the proof quick; the DAG and commands are the same for 2 or 22.
SLICES = ["TOTAL", "Y_LT5"]


@pytest.fixture
def cluster(tmp_path, helm, s3_env, postgres_url):
    """Rendered chart + ConfigMaps/Secrets as a cluster would hold them, pointing at local servers."""
    # Eurostat answers every data request asynchronously first (413 ASYNCHRONOUS_RESPONSE, then the data): the
    # download steps wait, and their async-wait metrics must show it.
    with _cluster(tmp_path, helm, s3_env, postgres_url, async_cells=0) as cluster:
        yield cluster


@contextmanager
def _cluster(tmp_path, helm, s3_env, warehouse, *helm_args, slices=SLICES, async_cells=None):
    client, bucket = s3_bucket(s3_env)
    datasets = tmp_path / "datasets.yaml"
    datasets.write_text(
        f"datasets:\n  - code: {DATASET}\n    split: age\n    nonnegative: true\n"
        f"    filters: {{age: {json.dumps(slices)}}}\n"
    )
    with StandIn(size="small", async_cells=async_cells) as standin:
        argo, templates = local_cluster(
            helm, tmp_path / "pods", eurostat_url=standin.url, bucket=bucket, warehouse=warehouse,
            s3_env=s3_env, datasets=datasets, helm_args=helm_args,
            extra_env={"MULTILEVEL_HTTP_ASYNC_PAUSE_SECONDS": "0.05"},
        )
        yield argo, templates, client, bucket, warehouse


def test_eurostat_harvest_dag_runs_end_to_end(cluster):
    argo, templates, s3, bucket, warehouse = cluster
    run = argo.submit(templates["eurostat-harvest"], {"dataset": DATASET}, name="eurostat-harvest-a1b2c")
    assert run.phase == "Succeeded", explain(run)
    assert [len(run.pods(t)) for t in ("plan", "download", "validate", "stage", "load")] == [1, 2, 2, 2, 1]
    assert not run.pods("record-failure")  # the exit handler ran, and skipped: the run succeeded
    assert sorted(n.argv[n.argv.index("--slice") + 1] for n in run.pods("download")) == SLICES

    # Data moved through the stage bucket, under this run's prefix.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="stage/")["Contents"]]
    prefix = f"stage/eurostat/{DATASET}/eurostat-harvest-a1b2c/"
    assert all(k.startswith(prefix) for k in keys)
    assert {f"{prefix}validated/{s}.parquet" for s in SLICES} <= set(keys)

    loaded = json.loads(run.pods("load")[0].stdout)
    with psycopg.connect(warehouse) as db:
        log = db.execute(
            "SELECT run_id, status, rows_received FROM eurostat.load_log WHERE dataset = %s", [DATASET]
        ).fetchall()
        history = db.execute(
            f"SELECT count(*), count(DISTINCT age) FROM eurostat.{DATASET}_history"
        ).fetchone()
    assert log == [("eurostat-harvest-a1b2c", "loaded", loaded["rows_received"])]
    assert history[0] == loaded["rows_received"] > 0 and history[1] == len(SLICES)

    # The metrics Argo's controller would export, evaluated against what the steps produced; no MetricsError.
    assert run.metric_errors == []
    rows = [m for m in run.metrics if m.name == "argo_workflows_eurostat_load_rows_total"]
    assert [(m.value, m.labels) for m in rows] == [(loaded["rows_received"], {"dataset": DATASET})]
    assert {"argo_workflows_eurostat_harvest_duration_seconds", "argo_workflows_eurostat_harvest_result_total",
            "argo_workflows_eurostat_load_duration_seconds"} <= {m.name for m in run.metrics}
    # Each download waited once for Eurostat's asynchronous answer (issue 9): count and seconds, per slice pod.
    waits = [m for m in run.metrics if m.name == "argo_workflows_eurostat_download_async_waits_total"]
    seconds = [m for m in run.metrics if m.name == "argo_workflows_eurostat_download_async_wait_seconds_total"]
    assert [(m.value, m.labels) for m in waits] == [(1.0, {"dataset": DATASET})] * len(SLICES)
    assert [m.value for m in seconds] == [0.05] * len(SLICES)

    # A second run finds nothing new: plan writes [] and `when` skips the fan-out and the load.
    again = argo.submit(templates["eurostat-harvest"], {"dataset": DATASET}, name="eurostat-harvest-d3e4f")
    assert again.phase == "Succeeded", explain(again)
    assert [n.template for n in again.pods()] == ["plan"]
    assert {n.template for n in again.nodes if n.phase == "Skipped"} == {"slice", "load", "record-failure"}


def test_ess_load_dag_runs_end_to_end(cluster):
    argo, templates, s3, bucket, warehouse = cluster
    source = ROOT / "data" / "ess9_synthetic.dta"
    s3.upload_file(str(source), bucket, "ess/ess9_synthetic.dta")
    run = argo.submit(
        templates["ess-load"],
        {"source": f"s3://{bucket}/ess/ess9_synthetic.dta", "round": "9"},
        name="ess-load-x9y8z",
    )
    assert run.phase == "Succeeded", explain(run)
    assert [n.template for n in run.pods()] == ["ess-load"]
    with psycopg.connect(warehouse) as db:
        rounds = db.execute("SELECT essround, count(*) FROM ess.respondents GROUP BY essround").fetchall()
    # The synthetic file, like real ESS9 files, is latin-1 encoded.
    _, meta = pyreadstat.read_dta(str(source), metadataonly=True, encoding="latin1")
    assert rounds == [(9, meta.number_rows)]


def test_the_values_schema_refuses_a_pod_local_warehouse_or_stage_and_says_why(helm):
    for setting, url, why in [
        ("warehouseUrl", "duckdb:////tmp/warehouse.duckdb", "DuckDB is a file inside one pod"),
        ("stageUrl", "file:///tmp/stage", "every step runs in its own pod"),
    ]:
        with pytest.raises(subprocess.CalledProcessError) as refused:
            helm_template(helm, None, "--set", f"settings.{setting}={url}")
        assert setting in refused.value.stderr and why in refused.value.stderr


def test_with_the_old_default_a_duckdb_warehouse_loses_the_load_while_the_run_succeeds(tmp_path, helm, s3_env):
    """Issue 8 item 6, as a cluster would show it: the chart's old default warehouse (DuckDB under /tmp), rendered
    past the schema. Each pod has its own /tmp, so the run succeeds, and the next run finds an empty warehouse and
    downloads everything again."""
    old_default = "duckdb:////tmp/warehouse.duckdb"
    with _cluster(tmp_path, helm, s3_env, old_default, "--skip-schema-validation", slices=["TOTAL"]) as env:
        argo, templates = env[0], env[1]
        first = argo.submit(templates["eurostat-harvest"], {"dataset": DATASET}, name="eurostat-harvest-first")
        assert first.phase == "Succeeded", explain(first)
        second = argo.submit(templates["eurostat-harvest"], {"dataset": DATASET}, name="eurostat-harvest-again")
    assert second.phase == "Succeeded", explain(second)
    assert len(second.pods("download")) == 1, "the second run saw the first run's load: pods share a filesystem"
    # The load went into the load pod's own /tmp, and nowhere else.
    assert len(list((tmp_path / "pods").glob("load-*/volumes/tmp/warehouse.duckdb"))) == 2
