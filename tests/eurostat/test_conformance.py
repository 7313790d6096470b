"""Issue 9 against the stand-in: filter codes checked before download, empty slices, version drift, re-disseminations.

Real-body tests of the same behaviours are in test_real_bodies.py, so a difference between the two shows.
"""

import pandas as pd
import pytest

from multilevel.datasets import get_dataset
from multilevel.errors import ConfigError, StageError, ValidationFailed, VersionDrift
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.eurostat.plan import Plan, Slice, make_plan
from multilevel.eurostat.steps import download_step, plan_step, validate_step
from multilevel.warehouse import connect

DATASET = "demo_r_pjanind3"
KEY = ["freq", "indic_de", "unit", "geo", "time_period"]


def _plan(api, dataset, **kw):
    return make_plan(EurostatClient(api.url, max_retries=0), dataset, last_loaded=None, current_counts={},
                     max_row_drop_fraction=0.05, **kw)


def test_an_unknown_filter_code_is_a_config_error_before_any_download(settings, api):
    dataset = get_dataset(DATASET, settings.datasets_file).model_copy(
        update={"filters": {"geo": ["EE", "XX99"]}})
    with pytest.raises(ConfigError, match=r"filter geo=XX99 in datasets.yaml .*content constraint does not list"):
        _plan(api, dataset)
    assert api.count_requests("/statistics/") == 0


def test_filter_codes_and_dimensions_compare_case_insensitively_as_the_real_api(settings, api):
    dataset = get_dataset(DATASET, settings.datasets_file).model_copy(update={"filters": {"GEO": ["ee", "Mt"]}})
    plan = _plan(api, dataset)
    assert plan.slices and all(s.filters["geo"] == ["EE", "MT"] for s in plan.slices)  # the API's spelling


def test_a_slice_that_comes_back_empty_is_a_validation_failure_not_an_empty_load(settings, api, tmp_path):
    """The API answers a code it does not hold with 200 and no data: a promised slice must never load as empty."""
    plan = Plan(DATASET, "r1", True, None, None, "indic_de", "now",
                [Slice("MEDAGEPOP", {"indic_de": ["MEDAGEPOP"], "geo": ["NOWHERE"]})])
    download_step(settings, plan, "MEDAGEPOP", str(tmp_path / "raw"))
    with pytest.raises(ValidationFailed, match=r"slice MEDAGEPOP .*no observations.*content constraint"):
        validate_step(settings, plan, "MEDAGEPOP", str(tmp_path / "raw"), str(tmp_path / "v.parquet"))


def test_a_publication_during_the_run_stops_it_before_any_load(settings, api, tmp_path):
    """Eurostat publishes at 11:00 and 23:00 Brussels time: a run straddling one must not mix two versions."""
    plan = plan_step(settings, DATASET).plan
    api.revise(DATASET)  # published between the plan and the download
    slice_id = plan.slices[0].id
    download_step(settings, plan, slice_id, str(tmp_path / "raw"))
    with pytest.raises(VersionDrift, match=r"published a new version during the run") as info:
        validate_step(settings, plan, slice_id, str(tmp_path / "raw"), str(tmp_path / "v.parquet"))
    assert info.value.exit_code == 75


@pytest.mark.parametrize("with_loader", [False, True])
def test_a_harvest_straddling_a_publication_restarts_once_and_loads_only_the_new_version(settings, api, monkeypatch,
                                                                                         caplog, with_loader):
    """(With a loader the first run's load was already copying slices: it rolls back, the second run loads.)"""
    from concurrent.futures import ThreadPoolExecutor

    from multilevel.eurostat import harvest as harvest_module

    real = harvest_module.download_step
    calls = []

    def revise_after_first(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            api.revise(DATASET)
        return result

    monkeypatch.setattr(harvest_module, "download_step", revise_after_first)
    settings.slice_processes = 0
    settings.max_concurrent_downloads = 1
    with caplog.at_level("INFO", logger="multilevel.eurostat.harvest"), ThreadPoolExecutor(1) as loader:
        result = harvest_dataset(settings, DATASET, loader=loader if with_loader else None).wait()
    assert result.status == "loaded" and "Restarting the run once" in caplog.text
    assert "asynchronous waits" in caplog.text  # the run's request and async-wait counts
    with connect(settings.warehouse_url) as wh:
        log = wh.query("SELECT status, update_data FROM eurostat.load_log ORDER BY started_at")
    new_version = api.state()["datasets"][DATASET]["update_data"]
    assert [r[0] for r in log] == ["failed", "loaded"] and log[1][1] == new_version


def test_a_publication_in_every_run_fails_cleanly_with_exit_75(settings, api, monkeypatch):
    from multilevel.eurostat import harvest as harvest_module

    real = harvest_module.download_step

    def revise_every_time(*args, **kwargs):
        result = real(*args, **kwargs)
        api.revise(DATASET)
        return result

    monkeypatch.setattr(harvest_module, "download_step", revise_every_time)
    settings.slice_processes = 0
    settings.max_concurrent_downloads = 1
    with pytest.raises(VersionDrift) as info:
        harvest_dataset(settings, DATASET)
    assert info.value.exit_code == 75
    with connect(settings.warehouse_url) as wh:
        assert not wh.relation_exists("eurostat", DATASET)
        assert [r[0] for r in wh.query("SELECT status FROM eurostat.load_log")] == ["failed", "failed"]


def _history(settings) -> pd.DataFrame:
    with connect(settings.warehouse_url) as wh:
        return wh.query_df(f"SELECT * FROM eurostat.{DATASET}_history ORDER BY {', '.join(KEY)}, valid_from")


def test_a_redissemination_that_recodes_flags_closes_and_reinserts_exactly_those_rows(settings, api):
    harvest_dataset(settings, DATASET)
    before = _history(settings)
    update_data = api.state()["datasets"][DATASET]["update_data"]
    recoded = api.redisseminate(DATASET, "e", "i")["recoded"]
    assert recoded and api.state()["datasets"][DATASET]["update_data"] == update_data  # UPDATE_DATA unchanged
    result = harvest_dataset(settings, DATASET)
    assert result.status == "loaded"
    assert result.load.rows_closed == result.load.rows_inserted == len(recoded)
    after = _history(settings)
    assert len(after) == len(before) + len(recoded)
    current = after[after["valid_to"].isna()]
    keys = {tuple(c[k] if k != "time_period" else c["time"] for k in KEY) for c in recoded}
    flagged_i = current[current["flag"] == "i"]
    assert {tuple(r) for r in flagged_i[KEY].itertuples(index=False)} == keys
    assert harvest_dataset(settings, DATASET).status == "unchanged"


@pytest.mark.parametrize("compress", [True, False])
def test_raw_parts_read_back_the_same_gzipped_or_as_received(settings, api, tmp_path, compress):
    """Between Argo pods the raw bodies travel gzipped; `multilevel harvest` keeps them as received (less CPU)."""
    plan = plan_step(settings, DATASET).plan
    slice_id = plan.slices[0].id
    download_step(settings, plan, slice_id, str(tmp_path / "raw"), compress=compress)
    names = sorted(p.name for p in (tmp_path / "raw").iterdir())
    assert names == ["part-0000.json.gz" if compress else "part-0000.json", "parts.json"]
    rows = validate_step(settings, plan, slice_id, str(tmp_path / "raw"), str(tmp_path / "v.parquet"))
    assert rows == len(pd.read_parquet(tmp_path / "v.parquet")) > 0
    (tmp_path / "raw" / "parts.json").write_text('{"parts": 1, "encoding": "br"}')
    with pytest.raises(StageError, match=r"unknown encoding 'br'; run `multilevel download` again"):
        validate_step(settings, plan, slice_id, str(tmp_path / "raw"), str(tmp_path / "w.parquet"))
