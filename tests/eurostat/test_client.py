"""The API client against the local stand-in: real URLs and bodies, every fault retried or reported clearly."""

import json
import logging

import pytest

from multilevel.errors import ApiError, ApiUnavailable, ExtractionTooBig
from multilevel.eurostat.client import EurostatClient

DATASET = "demo_r_pjanind3"
SLICE = {"indic_de": ["MEDAGEPOP"]}


class Sleeps(list):
    """Records the waits instead of sleeping, so the tests see the backoff policy without waiting for it."""

    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(api, sleeps):
    return EurostatClient(api.url, timeout=2, max_retries=3, backoff=0.5, backoff_cap=8, sleep=sleeps)


def cells(body: bytes) -> int:
    doc = json.loads(body)
    return len(set(doc["value"]) | set(doc.get("status") or {}))


def test_dataflow_gives_update_timestamps(client, api):
    flow = client.dataflow(DATASET)
    state = api.state()["datasets"][DATASET]
    assert (flow.update_data, flow.update_structure) == (state["update_data"], state["update_structure"])
    assert flow.obs_count == state["obs_count"]


def test_content_constraint_lists_codes_per_dimension(client):
    codes = client.content_constraint(DATASET)
    assert {"freq", "indic_de", "unit", "geo", "time"} <= set(codes)
    assert "MEDAGEPOP" in codes["indic_de"] and "EU27_2020" in codes["geo"]


def test_one_log_line_per_request_with_method_url_status_bytes_seconds(client, caplog):
    with caplog.at_level(logging.INFO, logger="multilevel.eurostat.client"):
        body = client.data(DATASET, SLICE)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("GET ") and "indic_de=MEDAGEPOP" in line and " 200 " in line
    assert f"{len(body)} bytes" in line and line.endswith("s")


@pytest.mark.parametrize("kind", ["500", "502", "503", "truncate", "sorry"])
def test_transient_faults_are_retried_and_recover(client, api, sleeps, kind):
    clean = client.data(DATASET, SLICE)
    api.inject(kind, count=2, path="/statistics/")
    before = api.count_requests("/statistics/")
    assert client.data(DATASET, SLICE) == clean
    assert api.count_requests("/statistics/") - before == 3
    assert len(sleeps) == 2 and sleeps[1] >= 0.5  # exponential: the second wait is at least the base


def test_429_waits_at_least_retry_after(client, api, sleeps):
    api.inject("429", count=1, retry_after=3)
    client.dataflow(DATASET)
    assert len(sleeps) == 1 and 3 <= sleeps[0] <= 8  # the server's wait, not the 0.5 s backoff; within the cap


def test_backoff_is_capped(api, sleeps):
    client = EurostatClient(api.url, max_retries=4, backoff=5, backoff_cap=6, sleep=sleeps)
    api.inject("503", count=4)
    client.dataflow(DATASET)
    assert len(sleeps) == 4 and max(sleeps) <= 6


def test_slow_answer_times_out_and_is_retried(api, sleeps):
    client = EurostatClient(api.url, timeout=0.3, max_retries=2, backoff=0.01, sleep=sleeps)
    api.inject("slow", count=1, seconds=1.5)
    assert client.dataflow(DATASET).update_data
    assert len(sleeps) == 1


def test_gzip_body_without_content_encoding_is_decoded(client, api):
    clean = client.data(DATASET, SLICE)
    api.inject("gzip", count=1)
    assert client.data(DATASET, SLICE) == clean


def test_too_many_failures_is_a_transient_error_naming_dataset_and_filter(client, api):
    api.inject("503", count=10)
    with pytest.raises(ApiUnavailable, match=r"demo_r_pjanind3 \[indic_de=MEDAGEPOP\].*run again later"):
        client.data(DATASET, SLICE)
    assert api.count_requests("/statistics/") == 4  # the first try and three retries


@pytest.mark.parametrize("kind", ["413", "413warning"])
def test_413_in_both_forms_asks_for_a_split(client, api, kind):
    api.inject(kind, count=1, path="/statistics/")
    with pytest.raises(ExtractionTooBig, match="split"):
        client.data(DATASET, SLICE)


def test_unknown_dataset_is_a_terminal_error_with_the_fix(client):
    with pytest.raises(ApiError, match=r"HTTP 404.*no_such_ds.*datasets.yaml") as info:
        client.data("no_such_ds", {})
    assert info.value.status == 404


def test_wrong_dimension_is_a_terminal_error_naming_the_filter(client):
    with pytest.raises(ApiError, match=r"HTTP 400.*nodim=X.*dimension names"):
        client.data(DATASET, {"nodim": ["X"]})


def test_unreachable_api_is_transient():
    client = EurostatClient("http://127.0.0.1:9", timeout=1, max_retries=1, backoff=0, sleep=lambda s: None)
    with pytest.raises(ApiUnavailable, match="ConnectionError"):
        client.dataflow(DATASET)
