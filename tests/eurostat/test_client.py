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
    with caplog.at_level(logging.INFO, logger="multilevel.httpclient"):
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


def test_extraction_too_big_asks_for_a_split(client, api):
    api.inject("413", count=1, path="/statistics/")
    with pytest.raises(ExtractionTooBig, match=r"EXTRACTION_TOO_BIG.*split the request"):
        client.data(DATASET, SLICE)


@pytest.mark.parametrize("kind", ["async", "413warning"])
def test_asynchronous_answer_in_both_forms_is_waited_for_not_split(client, api, sleeps, caplog, kind):
    """413 ASYNCHRONOUS_RESPONSE (recorded live, 2026) and the 200 warning form: ask again later, never split."""
    clean = client.data(DATASET, SLICE)
    api.inject(kind, count=2, path="/statistics/")
    with caplog.at_level(logging.WARNING, logger="multilevel.eurostat.client"):
        assert client.data(DATASET, SLICE) == clean
    assert client.stats.async_waits == 2 and len(sleeps) == 2 and sleeps[1] > sleeps[0]
    assert all("async demo_r_pjanind3 [indic_de=MEDAGEPOP]: ASYNCHRONOUS_RESPONSE" in r.getMessage()
               for r in caplog.records)


def test_asynchronous_answer_past_the_wait_limit_is_transient(api, sleeps):
    client = EurostatClient(api.url, async_wait=25, async_pause=10, sleep=sleeps)
    api.inject("async", count=10, path="/statistics/")
    with pytest.raises(ApiUnavailable, match=r"still preparing.*run again later") as info:
        client.data(DATASET, SLICE)
    assert info.value.exit_code == 75 and "split" not in str(info.value)


def test_standin_asynchronous_regime_by_size_serves_the_data_once_prepared(api, sleeps):
    """Over the synchronous threshold the first answer is 413 ASYNCHRONOUS_RESPONSE, then the same request gets data."""
    api.set_async(cells=50)
    client = EurostatClient(api.url, async_pause=0.01, sleep=sleeps)
    body = client.data(DATASET, SLICE)
    assert cells(body) > 0 and client.stats.async_waits == 1
    assert [status for _, target, status in api.request_log if "/statistics/" in target] == [413, 200]
    small = {"indic_de": ["MEDAGEPOP"], "geo": ["EE"]}
    client.data(DATASET, small)  # under the threshold: synchronous
    assert client.stats.async_waits == 1


def test_html_page_with_200_is_transient_retried_then_exit_75(client, api, sleeps):
    clean = client.data(DATASET, SLICE)
    api.inject("html", count=1, path="/statistics/")
    assert client.data(DATASET, SLICE) == clean and len(sleeps) == 1
    api.inject("html", count=10, path="/statistics/")
    with pytest.raises(ApiUnavailable, match="HTML page with HTTP 200") as info:
        client.data(DATASET, SLICE)
    assert info.value.exit_code == 75


def test_a_server_dripping_bytes_hits_the_total_deadline(api, sleeps):
    """One byte every 0.2 s never trips the 2 s read timeout; the 1 s total deadline ends each attempt."""
    client = EurostatClient(api.url, timeout=2, deadline=1, max_retries=1, backoff=0, sleep=sleeps)
    api.inject("drip", count=2, path="/statistics/", seconds=0.2, limit=5)
    with pytest.raises(ApiUnavailable, match="deadline of 1s"):
        client.data(DATASET, SLICE)
    assert api.count_requests("/statistics/") == 2


def test_redirect_to_another_host_is_refused_and_the_sorry_page_is_transient(client, api, sleeps):
    api.inject("redirect", count=1, path="/statistics/")
    with pytest.raises(ApiError, match=r"redirected to 'mirror.invalid'.*MULTILEVEL_HTTP_ALLOWED_HOSTS") as info:
        client.data(DATASET, SLICE)
    assert info.value.exit_code == 1
    api.inject("sorry", count=1, path="/statistics/")
    assert cells(client.data(DATASET, SLICE)) > 0 and len(sleeps) == 1


def test_unknown_code_answers_200_with_the_dimension_at_size_zero(client):
    """As the real API: a code the dimension lacks is no error, just no data (the planner must catch it)."""
    doc = json.loads(client.data(DATASET, {"indic_de": ["NOSUCH"]}))
    assert doc["size"][doc["id"].index("indic_de")] == 0 and doc["value"] == {}


def test_filters_are_case_insensitive_as_the_real_api(client):
    assert client.data(DATASET, {"INDIC_DE": ["medagepop"]}) == client.data(DATASET, SLICE)


def test_every_request_says_format_JSON_in_upper_case(client, api):
    client.dataflow(DATASET)
    client.data(DATASET, SLICE)
    targets = [target for _, target, _ in api.request_log]
    assert len(targets) == 2 and all("format=JSON" in t for t in targets)


def test_no_results_found_names_the_selection_not_a_split(api, sleeps):
    from multilevel.standin import render

    client = EurostatClient(api.url, max_retries=0, sleep=sleeps)
    error = render.RequestError(400, 100, "No results found.")
    fetched_error = client._error(400, 100, error.label, DATASET, SLICE)
    message = str(fetched_error)
    assert "No results found)" in message and ".." not in message and "split" not in message
    assert "indic_de=MEDAGEPOP holds no data" in message


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
