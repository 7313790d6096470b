"""Stage retention: after a successful load, a dataset keeps its newest N runs, on a folder and on S3."""

import json

import pytest

from multilevel.eurostat.harvest import harvest_dataset
from multilevel.stage import open_store
from multilevel.stage.retention import prune_runs


@pytest.fixture(params=["folder", "s3"])
def store(request, tmp_path):
    if request.param == "folder":
        return open_store(str(tmp_path / "stage"))
    return open_store(request.getfixturevalue("s3_stage"))


def stage_run(store, dataset, run_id, created_at):
    base = f"eurostat/{dataset}/{run_id}"
    store.write_bytes(f"{base}/plan.json", json.dumps({"run_id": run_id, "created_at": created_at}).encode())
    store.write_bytes(f"{base}/slices/a.parquet", b"rows")
    store.write_bytes(f"{base}/slices/a.json", b"{}")
    store.write_bytes(f"{base}/manifest.json", b"{}")


def runs(store, dataset):
    return sorted({k.split("/")[2] for k in store.list(f"eurostat/{dataset}")})


def test_older_runs_beyond_the_newest_n_are_deleted_newer_and_other_datasets_untouched(store):
    # run ids that do not sort by time (Argo names runs after the workflow): order comes from created_at
    for run_id, minute in [("wf-e", 1), ("wf-d", 2), ("wf-c", 3), ("wf-b", 4), ("wf-a", 5)]:
        stage_run(store, "ds", run_id, f"2026-01-01T00:0{minute}:00Z")
    stage_run(store, "other", "wf-z", "2025-01-01T00:00:00Z")
    deleted = prune_runs(store, "ds", "wf-b", keep=2)  # wf-b just loaded; wf-a is newer (maybe still running)
    assert sorted(deleted) == ["wf-d", "wf-e"]
    assert runs(store, "ds") == ["wf-a", "wf-b", "wf-c"]
    assert runs(store, "other") == ["wf-z"]
    assert prune_runs(store, "ds", "wf-b", keep=2) == []  # idempotent
    assert prune_runs(store, "ds", "wf-b", keep=1) == ["wf-c"]
    assert runs(store, "ds") == ["wf-a", "wf-b"]


def test_a_run_without_a_plan_is_left_alone(store):
    stage_run(store, "ds", "new", "2026-01-02T00:00:00Z")
    store.write_bytes("eurostat/ds/killed/slices/a.parquet", b"rows")  # plan step killed: no plan.json
    assert prune_runs(store, "ds", "new", keep=1) == []
    assert runs(store, "ds") == ["killed", "new"]


def test_harvests_keep_only_the_configured_number_of_runs(settings, api):
    settings.stage_keep_runs = 2
    stage = open_store(settings.stage_url)
    loaded = []
    for _ in range(4):
        loaded.append(harvest_dataset(settings, "demo_r_pjanind3").run_id)
        api.revise("demo_r_pjanind3", n=3)
    assert runs(stage, "demo_r_pjanind3") == sorted(loaded[-2:])
    assert not list((stage.root / "eurostat" / "demo_r_pjanind3").glob(f"{loaded[0]}*"))  # no empty folders left
