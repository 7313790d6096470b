"""Run the generated eurostat-catalogue DAG here, as Argo would: check, fan-out by templateRef, failure isolation.

The chart is rendered with `helm template` against the local Eurostat stand-in (serving a small catalogue of
synthetic regional datasets), a real S3-API server (moto) and a real PostgreSQL warehouse; every container runs as a
subprocess in its own pod directory (workflows/local.py), and the catalogue's ``harvest`` tasks run the
``eurostat-harvest`` WorkflowTemplate's own ``harvest`` template through ``templateRef``.
"""

from __future__ import annotations

import psycopg
import pytest
from chart_support import explain, local_cluster, s3_bucket

from multilevel.standin import StandIn

# Two datasets of the stand-in's catalogue; the others stay unselected.
SELECTED = ["demo_r_s000", "nama_10r_s001"]
FAILING = "nama_10r_s001"


@pytest.fixture
def cluster(tmp_path, helm, s3_env, postgres_url):
    _, bucket = s3_bucket(s3_env)
    datasets = tmp_path / "datasets.yaml"
    datasets.write_text("selections:\n" + "".join(f"  - pattern: {code}\n" for code in SELECTED))
    with StandIn(size="small", catalogue=6) as standin:
        argo, templates = local_cluster(
            helm, tmp_path / "pods", eurostat_url=standin.url, bucket=bucket, warehouse=postgres_url,
            s3_env=s3_env, datasets=datasets,
            extra_env={"MULTILEVEL_HTTP_MAX_RETRIES": "0"},  # a failing API fails the step at once (Argo retries it)
        )
        yield argo, templates, standin, postgres_url


def _log(warehouse: str) -> list[tuple]:
    with psycopg.connect(warehouse) as db:
        return db.execute("SELECT dataset, run_id, status FROM eurostat.load_log "
                          "ORDER BY dataset, started_at").fetchall()


def test_catalogue_dag_checks_fans_out_isolates_failures_and_then_costs_one_request(cluster):
    argo, templates, standin, warehouse = cluster
    assert not set(SELECTED) - set(standin.regional)
    standin.inject("500", count=1000, path=f"/statistics/1.0/data/{FAILING}")

    # Day 1: both are new; one harvest fails (its API is down), the other loads; the exit handler records the failure.
    first = argo.submit(templates["eurostat-catalogue"], {}, name="eurostat-catalogue-day1")
    assert first.phase == "Failed", explain(first)
    assert [n.template for n in first.pods("check")] == ["check"]
    plans = sorted(n.argv[n.argv.index("plan") + 1] for n in first.pods("plan"))
    assert plans == sorted(SELECTED)  # one eurostat-harvest per changed dataset, through templateRef
    assert all("--run-id" in n.argv and "eurostat-catalogue-day1" in n.argv for n in first.pods("plan"))
    loads = first.pods("load")
    assert len(loads) == 1 and loads[0].phase == "Succeeded"  # the failing dataset never blocked the other
    assert [n.phase for n in first.pods("record-failures")] == ["Succeeded"]
    assert _log(warehouse) == [
        ("demo_r_s000", "eurostat-catalogue-day1", "loaded"),
        (FAILING, "eurostat-catalogue-day1", "failed"),
    ]

    # Day 2: the API is back; the check hands over only the dataset that was never loaded.
    standin.clear()
    second = argo.submit(templates["eurostat-catalogue"], {}, name="eurostat-catalogue-day2")
    assert second.phase == "Succeeded", explain(second)
    assert [n.argv[n.argv.index("plan") + 1] for n in second.pods("plan")] == [FAILING]
    assert not second.pods("record-failures")

    # Day 3: nothing changed at Eurostat: one pod, one request (the catalogue), no harvest.
    standin.clear()
    third = argo.submit(templates["eurostat-catalogue"], {}, name="eurostat-catalogue-day3")
    assert third.phase == "Succeeded", explain(third)
    assert [n.template for n in third.pods()] == ["check"]
    assert [target for _, target, _ in standin.request_log] == ["/catalogue/toc/txt?lang=en"]
    assert {n.template for n in third.nodes if n.phase == "Skipped"} == {"harvests", "record-failures"}
