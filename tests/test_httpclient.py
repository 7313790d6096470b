"""The one HTTP client: policy from the settings, a session per thread, and the ESS https:// fetch retried too."""

from __future__ import annotations

import socket
import threading
import time
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


class _Dripper:
    """A raw HTTP/1.1 server: the first ``fast`` answers at once (kept alive), then each answer one byte every
    ``seconds`` from the very first byte of the status line, for at most ``limit`` seconds; records who stopped."""

    def __init__(self, fast: int = 0, seconds: float = 0.1, limit: float = 20.0):
        self.fast, self.seconds, self.limit = fast, seconds, limit
        self.outcomes: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        with conn:
            while conn.recv(65536):  # one request per recv is enough for these GETs
                if self.fast > 0:
                    self.fast -= 1
                    conn.sendall(answer)
                    continue
                ends = time.monotonic() + self.limit
                try:
                    for i in range(len(answer)):
                        conn.sendall(answer[i:i + 1])
                        if time.monotonic() < ends:
                            time.sleep(self.seconds)
                except OSError:
                    self.outcomes.append("abandoned")
                    return
                self.outcomes.append("completed")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def dripper():
    servers = []

    def make(**kwargs) -> _Dripper:
        servers.append(_Dripper(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def _settled(server: _Dripper, count: int) -> list[str]:
    ends = time.monotonic() + 10
    while len(server.outcomes) < count and time.monotonic() < ends:
        time.sleep(0.05)
    return server.outcomes


def test_a_status_line_dripped_byte_by_byte_hits_the_total_deadline(dripper):
    """A read timeout restarts with every byte: only the deadline, armed before the request is sent, ends it."""
    server = dripper(seconds=0.3)  # 78 bytes: 23 s to the end of the headers, each byte well within the read timeout
    client = HttpClient(HttpPolicy(read_timeout=5, deadline=0.5, max_retries=1, backoff=0, allowed_hosts=None))
    url = f"{server.url.replace('//', '//user:pw@')}/data/x?geo=DE"
    with pytest.raises(ApiUnavailable) as info:
        client.get(url, what="x [geo=DE]")
    message = str(info.value)
    assert info.value.exit_code == 75 and message.startswith("x [geo=DE]: failed 2 times")
    assert f"no complete answer from {server.url}/data/x?geo=DE within the deadline of 0.5s" in message
    assert "MULTILEVEL_HTTP_DEADLINE_SECONDS" in message and "pw@" not in message
    assert _settled(server, 2) == ["abandoned", "abandoned"]  # the client hung up both times, mid-status line


def test_a_kept_alive_connection_that_starts_dripping_hits_the_deadline_too(dripper):
    server = dripper(fast=1, seconds=0.3)
    client = HttpClient(HttpPolicy(read_timeout=5, deadline=0.5, max_retries=0, allowed_hosts=None))
    assert client.get(f"{server.url}/a", what="a").body == b"{}"
    with pytest.raises(ApiUnavailable, match="deadline of 0.5s"):
        client.get(f"{server.url}/b", what="b")  # the same connection, reused from the pool
    assert _settled(server, 1) == ["abandoned"]


def test_ess_https_fetch_has_the_same_total_deadline(settings, tmp_path, dripper):
    server = dripper(seconds=0.3)
    settings.http_deadline_seconds = 0.5
    settings.http_max_retries = 0
    with pytest.raises(ApiUnavailable, match=r"ESS file .*ESS9e03\.dta.*deadline of 0\.5s") as info:
        fetch_source(f"{server.url}/ESS9e03.dta?X-Amz-Signature=SECRET123", tmp_path, settings)
    assert "SECRET123" not in str(info.value) and "(query hidden)" in str(info.value)
    assert _settled(server, 1) == ["abandoned"]


def test_timeouts_and_broken_connections_name_the_url_and_the_setting_never_a_signed_query(dripper):
    server = dripper(seconds=3)  # each byte later than the 1 s read timeout
    client = HttpClient(HttpPolicy(read_timeout=1, deadline=30, max_retries=0, allowed_hosts=None, log_query=False))
    with pytest.raises(ApiUnavailable) as info:
        client.get(f"{server.url}/f.dta?X-Amz-Signature=SECRET", what="ESS file")
    assert f"{server.url}/f.dta?(query hidden) sent nothing for 1s (read timeout, MULTILEVEL_HTTP_TIMEOUT_SECONDS)" \
        in str(info.value)
    with socket.create_server(("127.0.0.1", 0)) as unused:  # a port nothing listens on once closed
        port = unused.getsockname()[1]
    with pytest.raises(ApiUnavailable) as info:
        client.get(f"http://127.0.0.1:{port}/f.dta?X-Amz-Signature=SECRET", what="ESS file")
    message = str(info.value)
    assert f"ConnectionError from http://127.0.0.1:{port}/f.dta?(query hidden): " in message
    assert "Connection refused" in message and "SECRET" not in message and "Pool(" not in message


def test_a_tls_handshake_dripped_byte_by_byte_hits_the_deadline_too():
    """A server hello that never ends is cut at the deadline (two guards: the socket is handed to the watchdog
    before the handshake, and CPython bounds a handshake as a whole by the connect timeout, clamped to the time
    left)."""
    outcomes: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)  # the ClientHello
            try:
                for byte in b"\x16\x03\x03\x10\x00" + b"\x02" * 100:  # a handshake record 20 s long
                    conn.sendall(bytes([byte]))
                    time.sleep(0.2)
            except OSError:
                outcomes.append("abandoned")
                return
            outcomes.append("completed")

    threading.Thread(target=serve, daemon=True).start()
    client = HttpClient(HttpPolicy(connect_timeout=5, read_timeout=5, deadline=0.5, max_retries=0,
                                   allowed_hosts=None))
    try:
        with pytest.raises(ApiUnavailable, match=r"within the deadline of 0\.5s"):
            client.get(f"https://127.0.0.1:{server.getsockname()[1]}/x", what="x")
        ends = time.monotonic() + 10
        while not outcomes and time.monotonic() < ends:
            time.sleep(0.05)
        assert outcomes == ["abandoned"]
    finally:
        server.close()
