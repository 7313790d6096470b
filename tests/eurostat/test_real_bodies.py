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
from multilevel.errors import ConfigError
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.eurostat.plan import make_plan

FIXTURES = Path(__file__).parents[1] / "fixtures" / "eurostat"
HLTH = FIXTURES / "statsapi_jsonstat_hlth_ehis_hc8_full.json"
D2JAN_FLOW = FIXTURES / "sdmx21_dataflow_demo_r_d2jan.json"
D2JAN_CONSTRAINT = FIXTURES / "sdmx21_contentconstraint_demo_r_d2jan.xml"
ASYNC_413 = FIXTURES / "errors" / "statsapi_413_asynchronous_response.json"
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
