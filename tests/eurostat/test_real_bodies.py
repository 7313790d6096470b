"""Issue 9 against real API bodies (tests/fixtures/eurostat, see SOURCES), replayed byte for byte.

Kept apart from the stand-in tests (test_conformance.py, test_client.py): where the stand-in and the real bodies
disagree, one of these fails and the other does not.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from multilevel.datasets import get_dataset
from multilevel.errors import ApiError, ConfigError, ExtractionTooBig, ValidationFailed, VersionDrift
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.eurostat.plan import Plan, Slice, make_plan
from multilevel.eurostat.steps import download_step, validate_step

FIXTURES = Path(__file__).parents[1] / "fixtures" / "eurostat"
HLTH = FIXTURES / "statsapi_jsonstat_hlth_ehis_hc8_full.json"
D2JAN_FLOW = FIXTURES / "sdmx21_dataflow_demo_r_d2jan.json"
D2JAN_CONSTRAINT = FIXTURES / "sdmx21_contentconstraint_demo_r_d2jan.xml"
ERRORS, SLICES = FIXTURES / "errors", FIXTURES / "slices"
ASYNC_413 = ERRORS / "statsapi_413_asynchronous_response.json"
TOO_BIG_413 = ERRORS / "statsapi_413_extraction_too_big.json"
NOT_AVAILABLE_404 = ERRORS / "statsapi_404_not_available.json"
BAD_DIMENSION_400 = ERRORS / "statsapi_400_invalid_query_dimension.json"
CONFIDENTIAL = SLICES / "statsapi_sts_inpr_m_ie_confidential.json"
EMPTY = SLICES / "statsapi_sts_inpr_m_ie_empty.json"
UNKNOWN_DROPPED = SLICES / "statsapi_une_rt_m_unknown_codes_dropped.json"
ALL_GEO_UNKNOWN = SLICES / "statsapi_une_rt_m_all_geo_codes_unknown.json"
LOWER_CASE_LAST1 = SLICES / "statsapi_une_rt_m_geo_lower_case_last1.json"
JSONSTAT_BODIES = [HLTH, CONFIDENTIAL, EMPTY, UNKNOWN_DROPPED, ALL_GEO_UNKNOWN, LOWER_CASE_LAST1]
JSON, XML = "application/json", "application/vnd.sdmx.structure+xml;version=2.1"


class Replay:
    """Answers each path with recorded (status, content type, file) in turn; the last answer repeats."""

    def __init__(self, script: dict[str, list[tuple[int, str, Path]]]):
        self.script = {path: list(answers) for path, answers in script.items()}
        self.log: list[tuple[str, int]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = urlsplit(self.path).path
                answers = replay.script.get(path) or [(404, JSON, None)]
                status, content_type, file = answers.pop(0) if len(answers) > 1 else answers[0]
                body = file.read_bytes() if file else b'{"error":[{"status":404,"id":100,"label":"No results found"}]}'
                replay.log.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay():
    servers = []

    def start(script):
        servers.append(Replay(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_real_dataflow_gives_the_whole_change_key(replay):
    server = replay({"/sdmx/2.1/dataflow/ESTAT/demo_r_d2jan": [(200, JSON, D2JAN_FLOW)]})
    flow = EurostatClient(server.url, max_retries=0).dataflow("demo_r_d2jan")
    assert (flow.update_data, flow.update_structure, flow.disseminated) == (
        "2025-12-04T23:00:00+0100", "2025-02-13T11:00:00+0100", "2025-12-04T23:00:00+0100")
    assert flow.obs_count == 4_542_548
    assert "format=JSON" in server.log[0][0]  # upper case, as the reference clients send it


def test_real_redissemination_body_moves_only_the_dissemination_stamp():
    """hlth_ehis_hc8: UPDATE_DATA stayed at 2014 while Eurostat re-disseminated it on 2025-01-24 (flags recoded)."""
    parsed = parse_jsonstat(HLTH.read_bytes())
    assert parsed.update_data == "2014-03-20T23:00:00+0100"
    annotations = {a["type"]: a.get("date") for a in json.loads(HLTH.read_bytes())["extension"]["annotation"]}
    assert annotations["DISSEMINATION_TIMESTAMP_DATA"] == "2025-01-24T23:00:00+0100"
    assert set(parsed.frame["flag"].dropna()) == {"u"} and len(parsed.frame) == 2793  # no ':' cells, only u


def test_change_key_sees_a_redissemination_that_leaves_update_data_alone(replay, settings):
    server = replay({
        "/sdmx/2.1/dataflow/ESTAT/demo_r_d2jan": [(200, JSON, D2JAN_FLOW)],
        "/sdmx/2.1/contentconstraint/ESTAT/demo_r_d2jan/1.0": [(200, XML, D2JAN_CONSTRAINT)],
    })
    client = EurostatClient(server.url, max_retries=0)
    dataset = get_dataset("demo_r_pjangrp3", settings.datasets_file).model_copy(
        update={"code": "demo_r_d2jan", "split": "sex", "filters": {}})
    key = ("2025-12-04T23:00:00+0100", "2025-02-13T11:00:00+0100")
    plan = make_plan(client, dataset, last_loaded=key, current_counts={}, max_row_drop_fraction=0.05,
                     last_loaded_at=datetime(2025, 12, 5, 8, 0))
    assert plan.changed is False  # loaded after the last dissemination
    plan = make_plan(client, dataset, last_loaded=key, current_counts={}, max_row_drop_fraction=0.05,
                     last_loaded_at=datetime(2025, 12, 4, 8, 0))
    assert plan.changed is True and plan.disseminated == "2025-12-04T23:00:00+0100"  # re-disseminated since


def test_real_constraint_checks_filter_codes_case_insensitively(replay, settings):
    server = replay({
        "/sdmx/2.1/dataflow/ESTAT/demo_r_d2jan": [(200, JSON, D2JAN_FLOW)],
        "/sdmx/2.1/contentconstraint/ESTAT/demo_r_d2jan/1.0": [(200, XML, D2JAN_CONSTRAINT)],
    })
    client = EurostatClient(server.url, max_retries=0)
    base = get_dataset("demo_r_pjangrp3", settings.datasets_file).model_copy(
        update={"code": "demo_r_d2jan", "split": "sex", "filters": {"geo": ["de", "Fr"]}})
    plan = make_plan(client, base, last_loaded=None, current_counts={}, max_row_drop_fraction=0.05)
    assert {tuple(s.filters["geo"]) for s in plan.slices} == {("DE", "FR")}
    with pytest.raises(ConfigError, match=r"filter geo=XK99 .*does not list"):
        make_plan(client, base.model_copy(update={"filters": {"geo": ["DE", "XK99"]}}), last_loaded=None,
                  current_counts={}, max_row_drop_fraction=0.05)
    assert not any("/statistics/" in path for path, _ in server.log)


def test_recorded_413_asynchronous_response_is_waited_for_then_the_real_body_is_served(replay):
    server = replay({"/statistics/1.0/data/hlth_ehis_hc8": [(413, JSON, ASYNC_413), (413, JSON, ASYNC_413),
                                                             (200, JSON, HLTH)]})
    waits = []
    client = EurostatClient(server.url, max_retries=0, async_pause=1, sleep=waits.append)
    body = client.data("hlth_ehis_hc8", {})
    assert body == HLTH.read_bytes() and waits == [1, 2] and client.stats.async_waits == 2
    assert [status for _, status in server.log] == [413, 413, 200]


def test_recorded_413_extraction_too_big_asks_for_a_split_not_a_wait(replay):
    server = replay({"/statistics/1.0/data/ds-045409": [(413, JSON, TOO_BIG_413)]})
    waits = []
    client = EurostatClient(server.url, max_retries=0, sleep=waits.append)
    with pytest.raises(ExtractionTooBig, match=r"estimated 10305182 rows, max authorised is 5000000.*split"):
        client.data("ds-045409", {"geo": ["EU27_2020"]})
    assert waits == [] and client.stats.async_waits == 0 and len(server.log) == 1


@pytest.mark.parametrize(("body", "status", "says", "advice"), [
    (NOT_AVAILABLE_404, 404, "ERR_NOT_FOUND_4: DS-999999 (DATA_FLOW:ALL,1.0) is not available for dissemination)",
     "check that dataset 'ds-999999' exists"),
    (BAD_DIMENSION_400, 400, 'id 150: INVALID_QUERY_DIMENSION: Dimension "ZZZZ" is not defined)',
     "check the filter's dimension names"),
])
def test_recorded_error_bodies_are_terminal_errors_in_the_apis_words(replay, body, status, says, advice):
    server = replay({"/statistics/1.0/data/ds-999999": [(status, JSON, body)]})
    with pytest.raises(ApiError) as info:
        EurostatClient(server.url, max_retries=0).data("ds-999999", {"zzzz": ["X"]})
    message = str(info.value)
    assert says in message and advice in message and "split" not in message and ".." not in message
    assert info.value.exit_code != 75 and len(server.log) == 1  # not transient: asked once


def test_real_bodies_set_updated_to_the_later_of_update_data_and_update_structure():
    """What the stand-in copies (tests/standin: updated); hlth: the structure is later, the 2026 slices: the data."""
    for body in JSONSTAT_BODIES:
        doc = json.loads(body.read_bytes())
        dates = {a["type"]: a["date"] for a in doc["extension"]["annotation"] if "date" in a}
        later = max(dates["UPDATE_DATA"], dates["UPDATE_STRUCTURE"], key=datetime.fromisoformat)
        assert doc["updated"] == later, body.name


def test_real_bodies_have_no_colon_cells_missing_figures_are_simply_absent():
    """No ':' status in any real JSON-stat body; une_rt_m 2026-08 has no data and is left out, not flagged."""
    for body in JSONSTAT_BODIES:
        assert ":" not in json.loads(body.read_bytes()).get("status", {}).values(), body.name
    parsed = parse_jsonstat(UNKNOWN_DROPPED.read_bytes())
    doc = json.loads(UNKNOWN_DROPPED.read_bytes())
    assert "status" not in doc and doc["extension"]["positions-with-no-data"]["time"] == [7]
    assert len(parsed.frame) == 7 and "2026-08" not in set(parsed.frame["time_period"])
    assert parsed.frame["value"].notna().all()


def test_real_confidential_cells_are_bar_c_labelled_bar_confidential_and_load_as_null_values():
    doc = json.loads(CONFIDENTIAL.read_bytes())
    assert doc["value"] == {} and set(doc["status"].values()) == {"|C"}
    assert doc["extension"]["status"]["label"] == {"|C": "|confidential"}  # what the stand-in says (tests/standin)
    frame = parse_jsonstat(CONFIDENTIAL.read_bytes()).frame
    assert len(frame) == 6 and frame["value"].isna().all() and set(frame["flag"]) == {"|C"}


def test_real_unknown_codes_are_left_out_and_only_unknown_codes_give_the_dimension_at_size_zero():
    kept = json.loads(UNKNOWN_DROPPED.read_bytes())["dimension"]
    assert list(kept["geo"]["category"]["index"]) == ["DE"] and list(kept["age"]["category"]["index"]) == ["TOTAL"]
    doc = json.loads(ALL_GEO_UNKNOWN.read_bytes())
    assert doc["size"][doc["id"].index("geo")] == 0 and doc["value"] == {}
    assert parse_jsonstat(ALL_GEO_UNKNOWN.read_bytes()).frame.empty


def _one_dataset(tmp_path, code: str, split: str) -> Path:
    path = tmp_path / "datasets.yaml"
    path.write_text(f"datasets:\n  - code: {code}\n    split: {split}\n    schedule: ['0 12 * * *']\n"
                    f"    nonnegative: true\n")
    return path


@pytest.mark.parametrize("body", [ALL_GEO_UNKNOWN, EMPTY])
def test_a_real_empty_answer_is_a_validation_failure_not_an_empty_load(replay, settings, tmp_path, body):
    """HTTP 200 with no data (unknown codes only; a period before the series) where the plan promised cells."""
    code = json.loads(body.read_bytes())["extension"]["id"].lower()
    server = replay({f"/statistics/1.0/data/{code}": [(200, JSON, body)]})
    settings.eurostat_url, settings.datasets_file = server.url, _one_dataset(tmp_path, code, "geo")
    plan = Plan(code, "r1", True, None, None, "geo", "now", [Slice("IE", {"geo": ["IE"]})])
    download_step(settings, plan, "IE", str(tmp_path / "raw"))
    with pytest.raises(ValidationFailed, match=r"slice IE .*no observations.*content constraint"):
        validate_step(settings, plan, "IE", str(tmp_path / "raw"), str(tmp_path / "v.parquet"))


def test_a_real_all_confidential_slice_validates_as_six_rows_with_null_values(replay, settings, tmp_path):
    server = replay({"/statistics/1.0/data/sts_inpr_m": [(200, JSON, CONFIDENTIAL)]})
    settings.eurostat_url, settings.datasets_file = server.url, _one_dataset(tmp_path, "sts_inpr_m", "geo")
    plan = Plan("sts_inpr_m", "r1", True, None, None, "geo", "now", [Slice("IE", {"geo": ["IE"]})])
    download_step(settings, plan, "IE", str(tmp_path / "raw"))
    assert validate_step(settings, plan, "IE", str(tmp_path / "raw"), str(tmp_path / "v.parquet")) == 6


def test_a_real_body_newer_than_the_plan_is_version_drift_before_anything_is_staged(replay, settings, tmp_path):
    """une_rt_m's real body says UPDATE_DATA 2026-09-22 11:00: a plan made from the 2026-09-21 23:00 version drifted."""
    server = replay({"/statistics/1.0/data/une_rt_m": [(200, JSON, UNKNOWN_DROPPED)]})
    settings.eurostat_url, settings.datasets_file = server.url, _one_dataset(tmp_path, "une_rt_m", "geo")
    plan = Plan("une_rt_m", "r1", True, "2026-09-21T23:00:00+0200", "2026-09-04T23:00:00+0200", "geo", "now",
                [Slice("DE", {"geo": ["DE"]})])
    download_step(settings, plan, "DE", str(tmp_path / "raw"))
    with pytest.raises(VersionDrift, match=r"published a new version during the run") as info:
        validate_step(settings, plan, "DE", str(tmp_path / "raw"), str(tmp_path / "v.parquet"))
    assert info.value.exit_code == 75 and not (tmp_path / "v.parquet").exists()
    same = Plan("une_rt_m", "r2", True, "2026-09-22T11:00:00+0200", "2026-09-04T23:00:00+0200", "geo", "now",
                [Slice("DE", {"geo": ["DE"]})])
    assert validate_step(settings, same, "DE", str(tmp_path / "raw"), str(tmp_path / "v.parquet")) == 7


def test_real_api_answers_a_lower_case_code_in_its_own_spelling_and_counts_last_periods_per_dataset():
    """geo=de&lastTimePeriod=1 (une_rt_m): geo comes back as DE; the last period is the dataset's (2026-08), here
    without a value for the series. The stand-in does both (tests/standin)."""
    doc = json.loads(LOWER_CASE_LAST1.read_bytes())
    assert list(doc["dimension"]["geo"]["category"]["index"]) == ["DE"]
    latest = next(a["title"] for a in doc["extension"]["annotation"] if a["type"] == "OBS_PERIOD_OVERALL_LATEST")
    assert list(doc["dimension"]["time"]["category"]["index"]) == [latest] and doc["value"] == {}
    assert parse_jsonstat(LOWER_CASE_LAST1.read_bytes()).frame.empty
