"""The whole harvest against the stand-in: first load, unchanged rerun, revision, identical rerun, failures, 413s."""

import os

import pandas as pd
import pytest

from multilevel.errors import ExtractionTooBig, ValidationFailed, WarehouseError
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.eurostat.steps import load_step, read_plan
from multilevel.warehouse import connect

DATASET = "demo_r_pjanind3"
KEY = ["freq", "indic_de", "unit", "geo", "time_period"]


def table(settings, sql, params=None) -> pd.DataFrame:
    with connect(settings.warehouse_url) as wh:
        return wh.query_df(sql, params)


def history(settings) -> pd.DataFrame:
    return table(settings, f"SELECT * FROM eurostat.{DATASET}_history ORDER BY {', '.join(KEY)}, valid_from")


def current(settings) -> pd.DataFrame:
    return table(settings, f"SELECT {', '.join(KEY)}, value, flag FROM eurostat.{DATASET} ORDER BY {', '.join(KEY)}")


def api_cells(api) -> int:
    return api.state()["datasets"][DATASET]["obs_count"]


def test_first_load_brings_every_observation_labels_and_a_log_row(settings, api):
    result = harvest_dataset(settings, DATASET)
    assert result.status == "loaded"
    rows = current(settings)
    assert len(rows) == result.load.rows_inserted == api_cells(api) > 1000
    assert not rows.duplicated(KEY).any()
    # confidential cells kept with a NULL value; no ':' rows, as the real API sends missing figures as nothing
    assert (rows["flag"] == "|C").any() and rows.loc[rows["flag"] == "|C", "value"].isna().all()
    assert not (rows["flag"] == ":").any()
    log = table(settings, "SELECT status, rows_received, rows_inserted, rows_closed FROM eurostat.load_log")
    assert log.to_dict("records") == [
        {"status": "loaded", "rows_received": len(rows), "rows_inserted": len(rows), "rows_closed": 0}]
    labels = table(settings, "SELECT label FROM eurostat.labels WHERE dimension = 'indic_de' AND code = 'MEDAGEPOP'")
    assert labels["label"].tolist() == ["Median age of population"]


def test_unchanged_rerun_makes_at_most_two_requests_and_writes_no_rows(settings, api):
    harvest_dataset(settings, DATASET)
    before, requests_before = history(settings), len(api.request_log)
    result = harvest_dataset(settings, DATASET)
    assert result.status == "unchanged"
    assert len(api.request_log) - requests_before <= 2
    pd.testing.assert_frame_equal(history(settings), before)
    statuses = table(settings, "SELECT status FROM eurostat.load_log ORDER BY started_at")["status"].tolist()
    assert statuses == ["loaded", "unchanged"]


def test_revision_closes_and_inserts_only_what_changed_and_keeps_the_old_value(settings, api):
    harvest_dataset(settings, DATASET)
    first = current(settings).set_index(KEY)
    loaded_at = table(settings, f"SELECT max(valid_from) AS t FROM eurostat.{DATASET}_history")["t"][0]
    revision = api.revise(DATASET, n=4)

    result = harvest_dataset(settings, DATASET).load
    assert (result.rows_closed, result.rows_inserted) == (4 + 1, 4 + 1)  # 4 revised + 1 vanished; 4 revised + 1 new
    assert len(history(settings)) == len(first) + 5
    now = current(settings).set_index(KEY)
    assert len(now) == len(first)  # one vanished, one added

    changed = revision["changed"][0]
    key = ("A", changed["indic_de"], changed["unit"], changed["geo"], changed["time"])
    assert now.loc[key, "value"] != first.loc[key, "value"]
    as_of = table(settings, f"""
        SELECT value FROM eurostat.{DATASET}_history
        WHERE indic_de = %s AND geo = %s AND time_period = %s
          AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)""",
        (key[1], key[3], key[4], loaded_at, loaded_at))
    assert as_of["value"].tolist() == [first.loc[key, "value"]]
    gone = revision["vanished"]
    assert ("A", gone["indic_de"], gone["unit"], gone["geo"], gone["time"]) in first.index
    assert ("A", gone["indic_de"], gone["unit"], gone["geo"], gone["time"]) not in now.index


def test_reloading_the_same_run_changes_nothing(settings, api):
    result = harvest_dataset(settings, DATASET)
    before = (history(settings), table(settings, "SELECT * FROM eurostat.load_log"))
    plan_url = f"{settings.stage_url}/eurostat/{DATASET}/{result.run_id}/plan.json"
    again = load_step(settings, read_plan(plan_url))
    assert again.status == "already_loaded"
    pd.testing.assert_frame_equal(history(settings), before[0])
    pd.testing.assert_frame_equal(table(settings, "SELECT * FROM eurostat.load_log"), before[1])


def test_a_failure_mid_load_leaves_the_warehouse_exactly_as_before(settings, api, monkeypatch):
    harvest_dataset(settings, DATASET)
    api.revise(DATASET, n=3)
    before = (history(settings), table(settings, "SELECT * FROM eurostat.labels ORDER BY dimension, code"))

    from multilevel.warehouse import history as merge

    real = merge.Warehouse.run_sql_file

    def failing(self, relpath, *args, **kwargs):
        if relpath == "eurostat/insert_new.sql":  # after the UPDATE that closed the revised rows
            raise WarehouseError("injected failure between closing and inserting")
        return real(self, relpath, *args, **kwargs)

    monkeypatch.setattr(merge.Warehouse, "run_sql_file", failing)
    with pytest.raises(WarehouseError, match="injected"):
        harvest_dataset(settings, DATASET)
    pd.testing.assert_frame_equal(history(settings), before[0])
    pd.testing.assert_frame_equal(table(settings, "SELECT * FROM eurostat.labels ORDER BY dimension, code"), before[1])
    log = table(settings, "SELECT status, message FROM eurostat.load_log ORDER BY started_at")
    assert log["status"].tolist() == ["loaded", "failed"] and "injected" in log["message"][1]

    monkeypatch.setattr(merge.Warehouse, "run_sql_file", real)
    assert harvest_dataset(settings, DATASET).load.rows_closed == 4  # the next run completes


def test_413_splits_by_country_then_time_and_loses_nothing(settings, api):
    api.max_cells = 10**9
    reference = harvest_dataset(settings, DATASET).load.rows_received
    settings.warehouse_url = settings.warehouse_url.replace("warehouse.duckdb", "split.duckdb")
    api.max_cells = 40  # far below one indicator's slice: forces splits by country, then time
    result = harvest_dataset(settings, DATASET)
    assert result.load.rows_received == reference
    assert api.count_requests("geo=") > 0 and api.count_requests("time=") > 0


def test_a_slice_that_cannot_be_split_enough_is_an_error_not_a_silent_drop(settings, api):
    api.max_cells = 0
    with pytest.raises(ExtractionTooBig, match="too big even as one geo and one period"):
        harvest_dataset(settings, DATASET)
    assert table(settings, "SELECT status FROM eurostat.load_log")["status"].tolist() == ["failed"]


def test_a_slice_much_smaller_than_last_time_fails_validation(settings, api, monkeypatch):
    harvest_dataset(settings, DATASET)
    api.revise(DATASET, n=1)
    # Eurostat answering with only part of a slice must not close the rest as "vanished".
    from multilevel.eurostat import steps

    real = steps.slice_chunks

    def half(raw, *args):
        for frame, labels in real(raw, *args):
            yield frame.iloc[: len(frame) // 2], labels

    monkeypatch.setattr(steps, "slice_chunks", half)
    settings.slice_processes = 0  # the patch lives in this process: validate here, not in worker processes
    before = history(settings)
    with pytest.raises(ValidationFailed, match="min_rows"):
        harvest_dataset(settings, DATASET)
    pd.testing.assert_frame_equal(history(settings), before)


def test_a_revision_plan_counts_the_current_rows_once(settings, api, monkeypatch):
    # The planner (row-drop floors) and check_plan (vanished codes) both need the current rows per split code:
    # one scan of the history serves both.
    from multilevel.eurostat import plan_step

    harvest_dataset(settings, DATASET)
    api.revise(DATASET, n=1)
    scans = []
    real = plan_step.current_counts

    def counting(wh, dataset, split):
        scans.append((dataset, split))
        return real(wh, dataset, split)

    monkeypatch.setattr(plan_step, "current_counts", counting)
    plan = plan_step.plan_step(settings, DATASET).plan
    assert plan.changed and len(scans) == 1 and scans[0][0] == DATASET
    loaded = current(settings)[plan.split if plan.split != "time" else "time_period"].value_counts()
    assert all(s.expected_min_rows == int(loaded[s.id] * (1 - settings.max_row_drop_fraction))
               for s in plan.slices), "the row-drop floors are not the current counts"


def test_worker_processes_and_the_harvest_process_load_the_same_rows(settings, api, tmp_path):
    """Slices parsed and validated in worker processes (the default) load exactly what one process loads."""
    settings.slice_processes = 2
    by_workers = harvest_dataset(settings, DATASET).load
    rows_by_workers = current(settings)
    inline = settings.model_copy(update={"slice_processes": 0,
                                         "stage_url": str(tmp_path / "stage-inline"),
                                         "warehouse_url": f"duckdb:///{tmp_path / 'inline.duckdb'}"})
    assert harvest_dataset(inline, DATASET).load.rows_inserted == by_workers.rows_inserted > 1000
    pd.testing.assert_frame_equal(current(inline), rows_by_workers)


def test_a_worker_process_that_dies_is_a_transient_failure_recorded_in_the_log(settings, api, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import contextmanager

    from multilevel.errors import TransientError
    from multilevel.eurostat import harvest

    @contextmanager
    def dying_pool(processes):
        """A real worker process that exits abruptly instead of validating (what the kernel's OOM killer does)."""
        with ProcessPoolExecutor(1) as pool:
            class Dying:
                def submit(self, fn, *args):
                    return pool.submit(os._exit, 9)

            yield Dying()

    monkeypatch.setattr(harvest, "slice_pool", dying_pool)
    with pytest.raises(TransientError, match="died .*out of memory"):
        harvest_dataset(settings, DATASET)
    log = table(settings, "SELECT status, message FROM eurostat.load_log")
    assert log["status"].tolist() == ["failed"] and "died" in log["message"][0]


def test_a_load_runs_on_the_loader_thread_while_the_next_dataset_is_fetched(settings, api, monkeypatch):
    """`multilevel harvest` overlaps dataset A's load with dataset B's download and validation: A's load is held
    until B's plan step has started, which can only happen when the load does not block the caller."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import multilevel.eurostat.harvest as harvest_module

    other = "demo_r_pjangrp3"
    fetching_other = threading.Event()
    plan_step, load = harvest_module.plan_step, harvest_module.load_step

    def plan_and_signal(settings, code, **kwargs):
        if code == other:
            fetching_other.set()
        return plan_step(settings, code, **kwargs)

    def load_after_the_next_fetch_began(settings, plan, staged=None):
        if plan.dataset == DATASET:
            assert fetching_other.wait(120), "the load blocked the next dataset's fetch"
        return load(settings, plan, staged)

    monkeypatch.setattr(harvest_module, "plan_step", plan_and_signal)
    monkeypatch.setattr(harvest_module, "load_step", load_after_the_next_fetch_began)
    with ThreadPoolExecutor(1) as loader:
        first = harvest_dataset(settings, DATASET, loader=loader)
        assert first.status == "staged"
        second = harvest_dataset(settings, other, loader=loader)
        results = [first.wait(), second.wait()]
    assert [r.status for r in results] == ["loaded", "loaded"]
    assert len(current(settings)) == results[0].load.rows_inserted == api_cells(api)
    statuses = table(settings, "SELECT dataset, status FROM eurostat.load_log ORDER BY dataset")
    assert statuses.values.tolist() == [[other, "loaded"], [DATASET, "loaded"]]


def test_harvest_plans_the_next_dataset_while_this_one_downloads(settings, api, monkeypatch):
    """`multilevel harvest A B` plans B while A's slices download (harvest.plan_ahead), so B's plan step (requests
    and warehouse queries) no longer sits between the two downloads: A's first slice waits for B's plan to start,
    which can only happen if B is planned ahead. B is planned once, and both load as before."""
    import threading

    from click.testing import CliRunner

    import multilevel.eurostat.harvest as harvest_module
    from multilevel.cli import main

    other = "demo_r_pjangrp3"
    for name, value in {"MULTILEVEL_EUROSTAT_URL": api.url, "MULTILEVEL_STAGE_URL": settings.stage_url,
                        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url, "MULTILEVEL_SLICE_PROCESSES": "0"}.items():
        monkeypatch.setenv(name, value)
    planning_other, planned, seen, lock = threading.Event(), [], [], threading.Lock()
    real_plan, real_slice = harvest_module.plan_step, harvest_module._slice

    def plan(settings, code, **kwargs):
        planned.append(code)
        if code == other:
            planning_other.set()
        return real_plan(settings, code, **kwargs)

    def slice_(settings, plan, slice_id, *args):
        with lock:
            first = plan.dataset == DATASET and not seen
            if first:
                seen.append(planning_other.wait(20))
        return real_slice(settings, plan, slice_id, *args)

    monkeypatch.setattr(harvest_module, "plan_step", plan)
    monkeypatch.setattr(harvest_module, "_slice", slice_)
    done = CliRunner().invoke(main, ["harvest", "--no-progress", DATASET, other])
    assert done.exit_code == 0, done.output
    assert seen == [True], "the next dataset was not planned while this one downloaded"
    assert planned == [DATASET, other]
    statuses = table(settings, "SELECT dataset, status FROM eurostat.load_log ORDER BY dataset")
    assert statuses.values.tolist() == [[other, "loaded"], [DATASET, "loaded"]]


def test_a_plan_made_ahead_that_fails_fails_its_own_dataset_only(settings, api, monkeypatch):
    from click.testing import CliRunner

    import multilevel.eurostat.harvest as harvest_module
    from multilevel.cli import main
    from multilevel.errors import ApiUnavailable

    other = "demo_r_pjangrp3"
    for name, value in {"MULTILEVEL_EUROSTAT_URL": api.url, "MULTILEVEL_STAGE_URL": settings.stage_url,
                        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url, "MULTILEVEL_SLICE_PROCESSES": "0"}.items():
        monkeypatch.setenv(name, value)
    real_plan = harvest_module.plan_step

    def plan(settings, code, **kwargs):
        if code == other:
            raise ApiUnavailable(f"{other}: the API went away while planning")
        return real_plan(settings, code, **kwargs)

    monkeypatch.setattr(harvest_module, "plan_step", plan)
    done = CliRunner().invoke(main, ["harvest", "--no-progress", DATASET, other])
    assert done.exit_code == 75, done.output  # transient, like the failure itself
    assert f"error: {other}: {other}: the API went away while planning" in done.output
    log = table(settings, "SELECT dataset, status FROM eurostat.load_log ORDER BY dataset")
    assert log.values.tolist() == [[other, "failed"], [DATASET, "loaded"]]


def _copies_seen(monkeypatch, settings):
    """Record the files each COPY of a load takes (DuckDB's first-load path), and signal the first one."""
    import threading

    from multilevel.warehouse.duckdb import DuckDBWarehouse

    copies, first_copy = [], threading.Event()
    real = DuckDBWarehouse.copy_first_run

    def recording(self, f, store, keys, columns, version):
        copies.append(list(keys))
        first_copy.set()
        return real(self, f, store, keys, columns, version)

    monkeypatch.setattr(DuckDBWarehouse, "copy_first_run", recording)
    settings.slice_processes = 0  # parse in this process, so the slice hook below applies
    settings.max_concurrent_downloads = 1
    return copies, first_copy


def test_with_a_loader_the_load_copies_slices_while_the_rest_are_fetched(settings, api, monkeypatch):
    """The last dataset's load overlaps its own fetch: slices are copied as they are staged, in one transaction."""
    from concurrent.futures import ThreadPoolExecutor

    import multilevel.eurostat.harvest as harvest_module

    copies, first_copy = _copies_seen(monkeypatch, settings)
    real_slice, fetched = harvest_module._slice, []

    def slice_once_the_first_was_copied(settings, plan, slice_id, *args):
        if fetched:  # every slice after the first waits until the load has copied something
            assert first_copy.wait(60), "the load did not copy a slice while the fetch ran"
        fetched.append(slice_id)
        return real_slice(settings, plan, slice_id, *args)

    monkeypatch.setattr(harvest_module, "_slice", slice_once_the_first_was_copied)
    with ThreadPoolExecutor(1) as loader:
        result = harvest_dataset(settings, DATASET, loader=loader).wait()
    plan = read_plan(f"{settings.stage_url}/eurostat/{DATASET}/{result.run_id}/plan.json")
    assert result.status == "loaded" and len(copies) > 1  # batches, not one copy at the end
    assert sorted(k for batch in copies for k in batch) == sorted(
        f"eurostat/{DATASET}/{result.run_id}/slices/{s.id}.parquet" for s in plan.slices)
    assert len(current(settings)) == result.load.rows_inserted == api_cells(api)
    # the same warehouse as a load of the whole run at once
    other = settings.model_copy(update={"warehouse_url": f"duckdb:///{settings.stage_url}/../once.duckdb"})
    load_step(other, plan)
    assert current(other).equals(current(settings))


def test_a_fetch_failing_after_slices_were_copied_loads_nothing_and_records_one_failure(settings, api, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import multilevel.eurostat.harvest as harvest_module

    copies, first_copy = _copies_seen(monkeypatch, settings)
    real_slice, fetched = harvest_module._slice, []

    def fail_the_fourth(settings, plan, slice_id, *args):
        fetched.append(slice_id)
        if len(fetched) == 4:
            assert first_copy.wait(60)
            raise ValidationFailed(f"slice {slice_id}: broken on purpose")
        return real_slice(settings, plan, slice_id, *args)

    monkeypatch.setattr(harvest_module, "_slice", fail_the_fourth)
    with ThreadPoolExecutor(1) as loader:
        with pytest.raises(ValidationFailed, match="broken on purpose"):
            harvest_dataset(settings, DATASET, loader=loader)
        assert copies  # something was copied before the fetch failed ...
        with connect(settings.warehouse_url) as wh:  # ... and rolled back: no history, one failed run
            assert not wh.relation_exists("eurostat", f"{DATASET}_history")
            assert [r[0] for r in wh.query("SELECT status FROM eurostat.load_log")] == ["failed"]
        monkeypatch.setattr(harvest_module, "_slice", real_slice)
        assert harvest_dataset(settings, DATASET, loader=loader).wait().status == "loaded"  # the loader is free
    assert len(current(settings)) == api_cells(api)
