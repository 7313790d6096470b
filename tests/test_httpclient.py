"""The one HTTP client: policy from the settings, a session per thread, and the ESS https:// fetch retried too."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from multilevel.errors import ApiUnavailable, InputFileError
from multilevel.ess.load import fetch_source
from multilevel.eurostat.client import EurostatClient
from multilevel.httpclient import EUROSTAT_HOSTS, HttpClient, HttpPolicy


def test_policy_from_settings_has_separate_connect_and_read_timeouts_and_a_deadline(settings):
    settings.http_connect_timeout_seconds = 3
    settings.http_timeout_seconds = 45
    settings.http_deadline_seconds = 120
    settings.http_allowed_hosts = "mirror.example.org, "
    policy = HttpPolicy.from_settings(settings, "http://127.0.0.1:8080/api")
    assert (policy.connect_timeout, policy.read_timeout, policy.deadline) == (3, 45, 120)
    assert policy.allowed_hosts == (*EUROSTAT_HOSTS, "127.0.0.1", "mirror.example.org")
    client = EurostatClient.from_settings(settings)
    assert "127.0.0.1" in client.http.policy.allowed_hosts  # the configured API (e.g. the stand-in) may redirect


def test_each_thread_gets_its_own_session():
    """requests' sessions are not thread-safe (psf/requests#2766): downloads run in threads."""
    client = HttpClient()
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(client.session)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in seen}) == 3 and client.session is client.session
    client.close()


class _FileServer(BaseHTTPRequestHandler):
    """Serves one file; the first ``failures`` GETs answer 503 (a portal under load)."""

    failures = 0
    body = b"not really a stata file"

    def do_GET(self):  # noqa: N802
        cls = type(self)
        cls.requests = getattr(cls, "requests", 0) + 1
        status = 503 if cls.failures > 0 else (404 if self.path.startswith("/missing") else 200)
        cls.failures -= 1
        payload = self.body if status == 200 else b"busy"
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    handler = type("Handler", (_FileServer,), {"failures": 0, "requests": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


def test_ess_https_fetch_retries_through_the_shared_client(settings, tmp_path, file_server, caplog):
    server, handler = file_server
    handler.failures = 2
    url = f"http://127.0.0.1:{server.server_address[1]}/ESS9e03.dta?signature=SECRET123"
    with caplog.at_level("INFO", logger="multilevel.httpclient"):
        path = fetch_source(url, tmp_path, settings)
    assert path.read_bytes() == _FileServer.body and handler.requests == 3
    assert "SECRET123" not in caplog.text and "GET http://127.0.0.1" in caplog.text  # signed query kept out of logs


def test_ess_https_fetch_reports_exhausted_retries_as_transient_and_404_as_bad_input(settings, tmp_path, file_server):
    server, handler = file_server
    settings.http_max_retries = 1
    handler.failures = 5
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with pytest.raises(ApiUnavailable, match="ESS file .*ESS9e03.dta.*run again later"):
        fetch_source(f"{base}/ESS9e03.dta", tmp_path, settings)
    handler.failures = 0
    with pytest.raises(InputFileError, match="HTTP 404"):
        fetch_source(f"{base}/missing.dta", tmp_path, settings)
