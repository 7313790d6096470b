"""`multilevel harvest` against a hostile API: every broken answer is a clear failure (or a correct load).

Each case loads the dataset honestly first, snapshots the warehouse, lets the hostile API misbehave in one way, runs the
CLI, and checks the exit code, the message and that the current view, history and labels are exactly as before (the
failure is in load_log). Small cube: three indicators of demo_r_pjanind3 (three slices, 320 cells).
"""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest
from click.testing import CliRunner
from hostile_api import HostileApi
from warehouses import KINDS, warehouse_url

from multilevel.cli import main
from multilevel.errors import ValidationFailed
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.warehouse import connect

DATASET = "demo_r_pjanind3"
SPLIT = "indic_de"
CODES = ["MEDAGEPOP", "DEPRATIO1", "DEPRATIO2"]
KEY = ["freq", "indic_de", "unit", "geo", "time_period"]
CONFIG = f"datasets:\n  - code: {DATASET}\n    split: {SPLIT}\n    filters: {{{SPLIT}: [{', '.join(CODES)}]}}\n"
OLD_DATE = "2020-01-01T11:00:00+0100"


@pytest.fixture
def hostile(settings, tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text(CONFIG)
    settings.datasets_file = path
    with HostileApi() as api:
        settings.eurostat_url = api.url
        yield api


def harvest(settings, monkeypatch, *args: str, **env: str):
    """Run `multilevel harvest` in-process with the test's settings; returns (exit code, stderr)."""
    monkeypatch.chdir(settings.stage_url.rsplit("/", 1)[0])  # no .env from the checkout
    variables = {
        "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url,
        "MULTILEVEL_STAGE_URL": settings.stage_url,
        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
        "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file),
        "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
        "MULTILEVEL_HTTP_BACKOFF_CAP_SECONDS": "0.05",
        "MULTILEVEL_HTTP_MAX_RETRIES": "1",
        **{f"MULTILEVEL_{k.upper()}": v for k, v in env.items()},
    }
    result = CliRunner().invoke(main, ["harvest", "--no-progress", *(args or [DATASET])], env=variables)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def snapshot(settings) -> dict[str, pd.DataFrame]:
    """What users see and what must never be lost: the current view, the history and the labels."""
    with connect(settings.warehouse_url) as wh:
        if not wh.relation_exists("eurostat", f"{DATASET}_history"):
            return {}
        order = ", ".join(KEY)
        return {
            "current": wh.query_df(f"SELECT * FROM eurostat.{DATASET} ORDER BY {order}"),
            "history": wh.query_df(f"SELECT * FROM eurostat.{DATASET}_history ORDER BY {order}, valid_from"),
            "labels": wh.query_df("SELECT * FROM eurostat.labels ORDER BY dataset, dimension, code"),
        }


def load_log(settings) -> list[tuple[str, str | None]]:
    with connect(settings.warehouse_url) as wh:
        if not wh.relation_exists("eurostat", "load_log"):
            return []
        return wh.query("SELECT status, message FROM eurostat.load_log ORDER BY started_at")


def assert_unchanged(settings, before: dict[str, pd.DataFrame]) -> None:
    after = snapshot(settings)
    assert after.keys() == before.keys()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, obj=name)


def wait_for(condition, what: str, seconds: float) -> None:
    ends = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < ends, f"timed out waiting for {what}"
        time.sleep(0.05)


def loaded_then_revised(settings, monkeypatch, hostile) -> dict[str, pd.DataFrame]:
    """An honest first load, then a revision (so the next harvest has something to do); returns the snapshot."""
    assert harvest(settings, monkeypatch)[0] == 0
    before = snapshot(settings)
    assert set(before["current"][SPLIT]) == set(CODES)
    hostile.standin.revise(DATASET, n=3)
    return before


# --- 1. overlapping slices ----------------------------------------------------------------------------------------
def test_api_ignoring_the_split_filter_fails_validation_and_leaves_the_current_view(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("ignore_split", dim=SPLIT)
    code, err = harvest(settings, monkeypatch)
    assert code == 1
    assert "rule slice_membership" in err and "the slice asked for indic_de in" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed" and "slice_membership" in load_log(settings)[-1][1]
    hostile.use("honest")
    assert harvest(settings, monkeypatch)[0] == 0  # the next honest run loads the revision
    assert not snapshot(settings)["current"].duplicated(KEY).any()


@pytest.mark.parametrize("kind", KINDS)
def test_overlapping_staged_slices_never_reach_the_merge_on_any_warehouse(kind, settings, request, tmp_path,
                                                                          monkeypatch, hostile):
    """Even if overlapping rows got past validation, the load refuses a run with a key twice, on every warehouse."""
    from multilevel.eurostat import steps

    real = steps.validate_slice
    monkeypatch.setattr(steps, "validate_slice", lambda frame, dataset, **kw: real(frame, dataset))  # no membership
    settings.slice_processes = 0  # the patch lives in this process: validate here, not in worker processes
    with warehouse_url(kind, request, tmp_path) as url:
        settings.warehouse_url = url
        harvest_dataset(settings, DATASET)
        hostile.standin.revise(DATASET, n=2)
        before = snapshot(settings)
        hostile.use("ignore_split", dim=SPLIT)
        with pytest.raises(ValidationFailed, match=r"key\(s\) arrive more than once across the staged slices"):
            harvest_dataset(settings, DATASET)
        assert_unchanged(settings, before)
        current = snapshot(settings)["current"]
        assert not current.duplicated(KEY).any() and len(current) == len(before["current"])


# --- 2. a body for another dataset, or of another shape ----------------------------------------------------------
@pytest.mark.parametrize("scenario, options, message", [
    ("other_dataset", {"code": "DEMO_R_PJANGRP3"}, "answered with dataset demo_r_pjangrp3 for a request of"),
    ("drop_dimension", {"dim": SPLIT}, f"changed structure: dimension(s) removed {SPLIT}"),
])
def test_a_body_of_another_dataset_or_shape_creates_no_table_on_a_fresh_warehouse(settings, monkeypatch, hostile,
                                                                                   scenario, options, message):
    hostile.use(scenario, **options)
    code, err = harvest(settings, monkeypatch)
    assert code == 1 and message in err
    assert snapshot(settings) == {}  # no wrong-shaped table
    assert [status for status, _ in load_log(settings)] == ["failed"]
    hostile.use("honest")
    assert harvest(settings, monkeypatch)[0] == 0 and set(snapshot(settings)["current"][SPLIT]) == set(CODES)


def test_a_body_of_another_dataset_leaves_a_loaded_dataset_intact(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("other_dataset", code="DEMO_R_PJANGRP3")
    code, err = harvest(settings, monkeypatch)
    assert code == 1 and "for a request of demo_r_pjanind3" in err
    assert_unchanged(settings, before)


def test_a_structure_change_is_a_clear_error_naming_the_new_dimension(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("extra_dimension", dim="sex", code="T")
    code, err = harvest(settings, monkeypatch)
    assert code == 1
    assert f"{DATASET} changed structure: dimension(s) added sex" in err and "RENAME TO" in err
    assert "Traceback" not in err and "Binder Error" not in err
    assert_unchanged(settings, before)


# --- 3. split codes vanishing from the content constraint --------------------------------------------------------
def test_vanished_split_codes_fail_over_the_threshold_and_load_when_accepted(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("vanish_codes", dim=SPLIT, keep=1)
    code, err = harvest(settings, monkeypatch)
    assert code == 1
    assert "2 code(s) of indic_de with current rows vanished" in err and re.search(r"DEPRATIO1 \(\d+ rows\)", err)
    assert "MULTILEVEL_ACCEPT_VANISHED_CODES=true" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"

    code, _ = harvest(settings, monkeypatch, accept_vanished_codes="true")  # Eurostat really dropped them
    assert code == 0
    assert set(snapshot(settings)["current"][SPLIT]) == {"MEDAGEPOP"}
    assert len(snapshot(settings)["history"]) >= len(before["history"])  # closed, not deleted


def test_a_constraint_without_any_split_code_is_a_clear_error(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("vanish_codes", dim=SPLIT, keep=0)
    code, err = harvest(settings, monkeypatch)
    assert code == 1 and "lists no code of the split dimension indic_de" in err
    assert "Parser Error" not in err and "syntax error" not in err
    assert_unchanged(settings, before)


# --- 4. UPDATE_DATA going backwards --------------------------------------------------------------------------------
def test_a_stale_dataflow_is_refused_as_transient_and_can_be_accepted(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("stale_dataflow", date=OLD_DATE)
    code, err = harvest(settings, monkeypatch)
    assert code == 75 and f"UPDATE_DATA {OLD_DATE}, older than" in err and "stale mirror or cache" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"
    assert harvest(settings, monkeypatch, accept_older_data="true")[0] == 0


def test_a_stale_body_is_refused(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("stale_body", date=OLD_DATE)
    code, err = harvest(settings, monkeypatch)
    assert code == 75 and "stale mirror or cache" in err
    assert_unchanged(settings, before)


@pytest.mark.parametrize("scenario, options", [("no_update_data", {}), ("stale_dataflow", {"date": "yesterday"})])
def test_a_dataflow_without_a_readable_update_data_is_refused_as_transient(settings, monkeypatch, hostile,
                                                                           scenario, options):
    """Without a date the stale-mirror check cannot tell: refused like an older date, never loaded blind."""
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use(scenario, **options)
    code, err = harvest(settings, monkeypatch)
    assert code == 75, err
    assert "gives no readable UPDATE_DATA" in err and "MULTILEVEL_ACCEPT_OLDER_DATA=true" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"


def test_a_partial_answer_with_200_fails_the_row_drop_guard_and_leaves_the_current_view(settings, monkeypatch,
                                                                                        hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("partial", every=3)  # an overloaded API's answer: two thirds of the observations missing
    code, err = harvest(settings, monkeypatch)
    assert code == 1, err
    assert "rule min_rows" in err and "MULTILEVEL_MAX_ROW_DROP_FRACTION" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"

# --- 5. NaN in a body ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_standard_number_is_a_parse_error_and_deletes_nothing(settings, monkeypatch, hostile, literal):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("nan", literal=literal)
    code, err = harvest(settings, monkeypatch)
    assert code == 1 and ("NaN" in err or "Infinity" in err or "infinite" in err)
    assert_unchanged(settings, before)


# --- 6. a typo in datasets.yaml -----------------------------------------------------------------------------------
def test_a_typo_in_datasets_yaml_stops_the_harvest_naming_file_entry_and_key(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    settings.datasets_file.write_text(CONFIG + "    nonegative: true\n")
    code, err = harvest(settings, monkeypatch)
    assert code == 1
    assert str(settings.datasets_file) in err and f"entry 1 ({DATASET})" in err
    assert "unknown key 'nonegative' (did you mean 'nonnegative'?)" in err
    assert_unchanged(settings, before)


# --- 9. run ids that are paths ----------------------------------------------------------------------------------
@pytest.mark.parametrize("run_id", ["..", ".", "../x", "a/b"])
def test_a_run_id_that_is_a_path_is_rejected(settings, monkeypatch, hostile, run_id):
    monkeypatch.chdir(settings.stage_url.rsplit("/", 1)[0])
    result = CliRunner().invoke(main, ["plan", DATASET, "--run-id", run_id], env={
        "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url, "MULTILEVEL_STAGE_URL": settings.stage_url,
        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url, "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file)})
    assert result.exit_code == 1 and f"run id {run_id!r} must be" in result.stderr
    assert hostile.requests == []


# --- 11. limits every warehouse agrees on ---------------------------------------------------------------------------
def test_a_code_too_long_for_the_warehouse_columns_fails_validation_even_on_duckdb(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("long_code", dim="unit", code="PC", length=65)
    code, err = harvest(settings, monkeypatch)
    assert code == 1 and "rule text_length" in err and "over 64 bytes" in err  # rows or the category list
    assert_unchanged(settings, before)


@pytest.mark.parametrize("kind", KINDS)
def test_a_label_too_long_is_cut_to_the_same_bytes_on_every_warehouse(kind, settings, request, tmp_path, hostile):
    hostile.use("long_label", dim=SPLIT, code="MEDAGEPOP", length=700, char="é")  # 1400 bytes, 700 characters
    with warehouse_url(kind, request, tmp_path) as url:
        settings.warehouse_url = url
        assert harvest_dataset(settings, DATASET).status == "loaded"
        with connect(url) as wh:
            (label,) = wh.query("SELECT label FROM eurostat.labels WHERE code = 'MEDAGEPOP'")[0]
    assert label.endswith("...") and label.startswith("é" * 500) and len(label.encode()) <= 1024


# --- 9. an HTML page with HTTP 200 (conformance made it transient, issue 9.3) -----------------------------------------
def test_an_html_page_instead_of_data_is_transient_and_leaves_the_current_view(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("html200")
    code, err = harvest(settings, monkeypatch)
    assert code == 75, err
    assert "Traceback" not in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"


@pytest.mark.parametrize("how, message", [
    ("empty", "an empty body with HTTP 200 instead of JSON"),
    ("truncated", "IncompleteRead"),
    ("reset", "Remote end closed connection without response"),
])
def test_an_answer_broken_in_transport_is_transient_and_leaves_the_current_view(settings, monkeypatch, hostile, how,
                                                                                message):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("broken", how=how)
    code, err = harvest(settings, monkeypatch)
    assert code == 75, err
    assert message in err and f"{DATASET} [indic_de=" in err and "run again later" in err  # names the slice
    assert how == "empty" or f"from {hostile.url}/statistics/1.0/data/{DATASET}" in err  # and the URL it broke on
    assert "Traceback" not in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"

# --- 7. a server that drips its answer ------------------------------------------------------------------------------
@pytest.mark.parametrize("part", ["head", "body"])
def test_a_server_dripping_its_answer_hits_the_total_deadline_and_exits_75(settings, monkeypatch, hostile, part):
    """One byte every 0.2 s never trips the 5 s read timeout (it restarts with every byte); the 1 s total deadline
    of each attempt ends it, whether the status line and headers drip or the body: the client hangs up long before
    the server's 30 s of dripping are over."""
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("drip", part=part, seconds=0.2, limit=30)
    code, err = harvest(settings, monkeypatch, http_timeout_seconds="5", http_deadline_seconds="1")
    assert code == 75, err
    wait_for(lambda: hostile.drips and None not in hostile.drips, "the server to notice", seconds=10)
    assert set(hostile.drips) == {"abandoned"}  # every attempt cut by the client, none waited out
    assert re.search(rf"no complete answer from {re.escape(hostile.url)}/statistics/1\.0/data/{DATASET}\?\S+ "
                     r"within the deadline of 1s per attempt \(MULTILEVEL_HTTP_DEADLINE_SECONDS\)", err), err
    assert "Traceback" not in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed" and "MULTILEVEL_HTTP_DEADLINE_SECONDS" in load_log(settings)[-1][1]
    hostile.use("honest")
    assert harvest(settings, monkeypatch)[0] == 0  # the next run loads the revision


# --- 10. redirects --------------------------------------------------------------------------------------------------
def test_a_redirect_to_another_host_is_refused_and_loads_when_that_host_is_allowed(settings, monkeypatch, hostile):
    """The other host ('localhost', this proxy under another name) serves real data: nothing of it is loaded unless
    MULTILEVEL_HTTP_ALLOWED_HOSTS names it."""
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("redirect", host="localhost")
    code, err = harvest(settings, monkeypatch)
    assert code == 1, err
    assert "the server redirected to 'localhost', which is not one of the allowed hosts" in err
    assert "MULTILEVEL_HTTP_ALLOWED_HOSTS" in err and "Traceback" not in err
    assert "localhost" not in hostile.hosts  # not one request went there
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"

    code, err = harvest(settings, monkeypatch, http_allowed_hosts="localhost")  # a mirror the operator trusts
    assert code == 0, err
    assert load_log(settings)[-1][0] == "loaded" and "localhost" in hostile.hosts  # loaded through the mirror


def test_eurostats_overload_page_is_transient_and_leaves_the_current_view(settings, monkeypatch, hostile):
    before = loaded_then_revised(settings, monkeypatch, hostile)
    hostile.use("sorry")
    code, err = harvest(settings, monkeypatch)
    assert code == 75, err
    assert "sorry/index.html (the API's overload page)" in err and "run again later" in err
    assert_unchanged(settings, before)
    assert load_log(settings)[-1][0] == "failed"
