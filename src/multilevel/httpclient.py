"""The one HTTP client of the project: retries, timeouts, a total deadline, redirects and content checks.

Both the Eurostat client and the ESS ``https://`` fetch get their client from ``HttpClient.from_settings``, so every
remote call shares one policy:

- **Retries** come from tenacity (exponential backoff with full jitter, capped, at most ``max_retries`` retries),
  honouring ``Retry-After``. What counts as transient is our predicate, because no library checks content:
  connection errors and timeouts, 429 and 5xx, a redirect to Eurostat's "sorry"/maintenance page, an HTML page
  served with 200 where data was asked for (rOpenGov/eurostat#302), an empty 2xx body, a body shorter than its
  Content-Length, a truncated JSON document, a truncated gzip body sent without a Content-Encoding header.
- **Timeouts**: a connect timeout, a read timeout (between two bytes), and a **total deadline per attempt**: a
  server that drips one byte every two seconds never trips the read timeout (it restarts with every byte), whether
  it drips the status line, the headers or the body. A watchdog armed before the request is sent shuts the sockets
  of the attempt's connections when the deadline passes (our adapter's connection classes hand each socket to the
  attempt in flight), so the blocked read returns wherever it is; the attempt is then retried as transient.
- **Redirects** are followed by hand and only to allowed hosts (Eurostat's own, the base URL's own host, and any
  configured extra host, e.g. a mirror or the local stand-in); the "sorry" page is a transient failure; any other
  host is a terminal error that names the host and the setting.
- **A session per thread**: requests' sessions are not thread-safe (psf/requests#2766), and harvests download
  slices in threads.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import random
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from multilevel.errors import ApiError, ApiUnavailable

log = logging.getLogger(__name__)

USER_AGENT = "multilevel/0.1 (+https://github.com/multilevel; regional statistics harvester)"
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
# Eurostat's own hosts: the API (ec.europa.eu) and the EC web hosts its overload and login pages live on.
EUROSTAT_HOSTS = ("ec.europa.eu", "webgate.ec.europa.eu")
OVERLOAD_WORDS = ("sorry", "maintenance")
CHUNK = 1 << 16


class Transient(Exception):
    """One attempt failed in a way that may pass; ``wait`` is the server's Retry-After, if it sent one."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and allowed redirect hosts of every remote call."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    deadline: float = 600.0  # total seconds per attempt, whatever the server's pace
    max_retries: int = 5
    backoff: float = 1.0
    backoff_cap: float = 60.0
    allowed_hosts: tuple[str, ...] | None = EUROSTAT_HOSTS  # None: any host (e.g. a file download)
    max_redirects: int = 5
    log_query: bool = True  # False for signed URLs: their query is a credential
    # Largest answer read into memory (None: no limit, e.g. a file written to disk as it arrives): an API answer far
    # larger than the API ever sends is refused while it arrives, before it can exhaust a step's memory.
    max_body_bytes: int | None = None

    @classmethod
    def from_settings(cls, settings, *own_urls: str, any_host: bool = False, log_query: bool = True) -> HttpPolicy:
        """The policy of ``settings``; the hosts of ``own_urls`` (e.g. the configured API base) may redirect too."""
        hosts = list(EUROSTAT_HOSTS)
        hosts += [urlsplit(u).hostname or "" for u in own_urls]
        hosts += [h.strip() for h in (getattr(settings, "http_allowed_hosts", "") or "").split(",")]
        return cls(
            connect_timeout=min(settings.http_connect_timeout_seconds, settings.http_timeout_seconds),
            read_timeout=settings.http_timeout_seconds,
            deadline=settings.http_deadline_seconds,
            max_retries=settings.http_max_retries,
            backoff=settings.http_backoff_seconds,
            backoff_cap=settings.http_backoff_cap_seconds,
            allowed_hosts=None if any_host else tuple(dict.fromkeys(h.lower() for h in hosts if h)),
            log_query=log_query,
            max_body_bytes=None if any_host else getattr(settings, "http_max_body_bytes", None),
        )


@dataclass
class Fetched:
    """A complete answer: final URL, status, headers and the (decoded) body, or the file it was written to."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    path: Path | None = None
    redirects: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").lower()


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def decode_body(body: bytes, limit: int | None = None, url: str = "the answer") -> bytes:
    """Large Eurostat answers sometimes arrive gzip-compressed without a Content-Encoding header: sniff the magic.

    With ``limit`` (``max_body_bytes``), the decompressed body may not exceed it either: a small compressed answer
    must not expand past the memory the limit protects.
    """
    if body[:2] != b"\x1f\x8b":
        return body
    if limit is None:
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise Transient(f"truncated gzip body ({e})") from e
    out, data = bytearray(), body
    try:
        while data:  # one gzip member at a time, as gzip.decompress does
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += member.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise ApiError(
                    f"{url} is a gzip body that expands to more than {limit:,} bytes (MULTILEVEL_HTTP_MAX_BODY_BYTES);"
                    " nothing was loaded. If a real dataset needs it, lower MULTILEVEL_MAX_CELLS_PER_REQUEST or raise "
                    "MULTILEVEL_HTTP_MAX_BODY_BYTES"
                )
            if not member.eof:
                raise Transient("truncated gzip body (the stream ends before its last block)")
            data = member.unused_data
    except zlib.error as e:
        raise Transient(f"truncated gzip body ({e})") from e
    return bytes(out)


def looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:200]


def complete_json(body: bytes) -> bool:
    """Cheap truncation check: a JSON document ends with its closing bracket (allowing trailing whitespace)."""
    return body.rstrip()[-1:] in (b"}", b"]")


def content_problem(fetched: Fetched, expect: str | None) -> str | None:
    """Why a 2xx answer cannot be the ``expect``-ed content ("json", "xml" or None), or None if it can be."""
    if expect is None or fetched.path is not None:
        return None
    body = fetched.body
    if not body.strip():  # an overloaded proxy's empty answer: nothing to parse, nothing to judge
        return f"an empty body with HTTP {fetched.status} instead of {expect.upper()}"
    if looks_like_html(body) or "text/html" in fetched.content_type:
        return f"an HTML page with HTTP {fetched.status} instead of {expect.upper()} (the API is overloaded)"
    if expect == "json":
        if body[:1] not in (b"{", b"["):
            return None  # not ours to judge: the caller reports what it got
        if not complete_json(body):
            return "truncated JSON body"
    return None


class _Deadline:
    """One attempt's total deadline: the sockets it used, shut down by a watchdog once the deadline has passed.

    Each socket is held as a duplicate descriptor (``socket.fromfd``): shutting that down ends the TCP connection
    for every descriptor, TLS included (an ``SSLSocket`` cannot be duplicated, its descriptor can), and closing our
    duplicate never touches a descriptor someone else may reuse.
    """

    def __init__(self, seconds: float):
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}
        self._done = False
        self._timer = threading.Timer(max(0.0, seconds), self.expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _IN_FLIGHT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _IN_FLIGHT.deadline = None
        with self._lock:
            self._done = True
            for dup in self._sockets.values():
                dup.close()
            self._sockets.clear()

    def adopt(self, sock: socket.socket | None) -> None:
        """Watch ``sock`` (a new or a reused connection's); shut it at once if the deadline has already passed."""
        if sock is None:
            return
        with self._lock:
            if self._done or sock.fileno() < 0 or sock.fileno() in self._sockets:
                return
            dup = self._sockets[sock.fileno()] = socket.fromfd(sock.fileno(), sock.family, sock.type)
            if self.expired.is_set():
                _shut(dup)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired.set()
            for dup in self._sockets.values():
                _shut(dup)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # the blocked recv in the requesting thread returns at once
    except OSError:
        pass  # already closed by the other side


def _reason(error: Exception) -> str:
    """What the OS or the server did, without urllib3's wrapping: its text repeats the URL (a signed URL's query
    is a credential) and the pool's repr."""
    inner = error.args[0] if error.args and isinstance(error.args[0], Exception) else error
    reason = getattr(inner, "reason", None) or inner
    return re.sub(r"^\w+\(host=[^)]*\):\s*", "", str(reason))


_IN_FLIGHT = threading.local()  # this thread's attempt (sessions are per thread, one request at a time)


def _adopt(sock: socket.socket | None) -> None:
    deadline = getattr(_IN_FLIGHT, "deadline", None)
    if deadline is not None:
        deadline.adopt(sock)


class _DeadlineConnection(HTTPConnection):
    """A connection that hands its socket to the attempt in flight: when connected, and again when reused."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _adopt(sock)  # before any TLS handshake, which a hostile server can drip too
        return sock

    def request(self, *args, **kwargs):  # noqa: ANN002, ANN003 (urllib3's signature)
        _adopt(self.sock)  # a kept-alive connection: connected during an earlier attempt
        return super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _DeadlinePool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS = {"http": _DeadlinePool, "https": _DeadlineHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections the deadline watchdog can reach (direct and through an HTTP proxy)."""

    def init_poolmanager(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):  # noqa: ANN003
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools make their own connections: read timeouts only
            manager.pool_classes_by_scheme = _POOLS
        return manager


class HttpClient:
    """GETs with the policy above; ``sleep`` is injectable so tests see the waits without waiting."""

    def __init__(self, policy: HttpPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy or HttpPolicy()
        self.sleep = sleep
        self.clock = clock
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, *own_urls: str, any_host: bool = False, log_query: bool = True,
                      **kwargs) -> HttpClient:
        """The client every remote call uses (Eurostat and ESS alike), with the policy of ``settings``."""
        return cls(HttpPolicy.from_settings(settings, *own_urls, any_host=any_host, log_query=log_query), **kwargs)

    # --- sessions ------------------------------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        """This thread's session (keep-alive pool), made on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            session.max_redirects = self.policy.max_redirects
            adapter = _DeadlineAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    # --- requests ------------------------------------------------------------------------------------------------
    def get(self, url: str, *, what: str, expect: str | None = None, to_file: Path | None = None,
            accept: Callable[[Fetched], None] | None = None) -> Fetched:
        """GET ``url``, retrying transient failures; ``what`` names the object in messages (dataset and filter).

        ``expect`` ("json"/"xml") turns an HTML page or a truncated document into a transient failure;
        ``accept(fetched)`` may raise ``Transient`` for content only the caller understands. Non-transient HTTP
        errors are returned as they are (the caller knows the API's error bodies). ``to_file`` streams the body
        into that file instead of memory.
        """
        policy = self.policy

        def attempt() -> Fetched:
            fetched = self._attempt(url, what, to_file)
            if 200 <= fetched.status < 300:
                problem = content_problem(fetched, expect)
                if problem:
                    raise Transient(problem)
            if accept is not None:
                accept(fetched)
            return fetched

        retrying = Retrying(
            retry=retry_if_exception_type(Transient),
            stop=stop_after_attempt(policy.max_retries + 1),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=lambda state: log.warning(
                "retry %d/%d in %.1fs: %s", state.attempt_number, policy.max_retries,
                state.next_action.sleep if state.next_action else 0.0, state.outcome.exception(),
            ),
            retry_error_callback=lambda state: self._give_up(state, what),
        )
        return retrying(attempt)

    def _wait(self, state: RetryCallState) -> float:
        policy = self.policy
        wait = min(policy.backoff_cap, policy.backoff * 2 ** (state.attempt_number - 1)) * random.uniform(0.5, 1.0)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Transient) and error.wait is not None:
            wait = min(policy.backoff_cap, max(wait, error.wait))
        return wait

    @staticmethod
    def _give_up(state: RetryCallState, what: str):
        error = state.outcome.exception()
        raise ApiUnavailable(
            f"{what}: failed {state.attempt_number} times, last: {error}. "
            "The server is probably overloaded or down; run again later."
        ) from None

    def _attempt(self, url: str, what: str, to_file: Path | None) -> Fetched:
        policy = self.policy
        started = self.clock()
        deadline = started + policy.deadline
        status: int | str = "-"
        size = 0
        redirects: list[str] = []
        # The read timeout restarts with every byte, so a server dripping its status line, headers or body would
        # never time out: the watchdog, armed before the first byte is sent, covers connect, headers and body.
        watch = _Deadline(policy.deadline)
        try:
            with watch:
                while True:
                    remaining = max(0.001, deadline - self.clock())
                    timeout = (min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining))
                    response = self.session.get(url, timeout=timeout, stream=True, allow_redirects=False)
                    status = response.status_code
                    if response.is_redirect:
                        response.close()
                        url = self._follow(url, response.headers.get("Location", ""), what)
                        redirects.append(url)
                        if len(redirects) > policy.max_redirects:
                            raise Transient(f"more than {policy.max_redirects} redirects")
                        continue
                    break
                headers = dict(response.headers)
                with response:
                    if to_file is not None and 200 <= status < 300:
                        with open(to_file, "wb") as out:
                            for chunk in self._chunks(response, deadline, url):
                                out.write(chunk)
                                size += len(chunk)
                        return Fetched(url, status, headers, path=to_file, redirects=redirects)
                    body = b"".join(self._limited(self._chunks(response, deadline, url), headers, url))
                    size = len(body)
        except (requests.RequestException, OSError) as e:
            status = type(e).__name__
            # whatever the cut socket raised, or a timeout clamped to the time left: the deadline is the reason
            if watch.expired.is_set() or self.clock() >= deadline:
                raise Transient(self._too_slow(url)) from e
            if isinstance(e, requests.ConnectTimeout):
                raise Transient(f"could not connect to {self._loggable(url)} within {policy.connect_timeout:g}s "
                                "(MULTILEVEL_HTTP_CONNECT_TIMEOUT_SECONDS)") from e
            if isinstance(e, requests.Timeout):
                raise Transient(f"{self._loggable(url)} sent nothing for {policy.read_timeout:g}s "
                                "(read timeout, MULTILEVEL_HTTP_TIMEOUT_SECONDS)") from e
            if isinstance(e, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
                raise Transient(f"{type(e).__name__} from {self._loggable(url)}: {_reason(e)}") from e
            raise
        finally:
            log.info("GET %s %s %d bytes %.2fs", self._loggable(url), status, size, self.clock() - started)
        if status in TRANSIENT_STATUS:
            raise Transient(f"HTTP {status}", retry_after(headers.get("Retry-After")))
        return Fetched(url, status, headers, decode_body(body, policy.max_body_bytes, self._loggable(url)),
                       redirects=redirects)

    def _chunks(self, response: requests.Response, deadline: float, url: str) -> Iterable[bytes]:
        for chunk in response.iter_content(CHUNK):
            yield chunk
            if self.clock() > deadline:
                raise Transient(self._too_slow(url))

    def _limited(self, chunks: Iterable[bytes], headers: dict, url: str) -> Iterable[bytes]:
        """``chunks``, stopped with ApiError as soon as the answer is larger than ``max_body_bytes``."""
        limit = self.policy.max_body_bytes
        if limit is None:
            yield from chunks
            return
        announced = headers.get("Content-Length") or headers.get("content-length")
        received = int(announced) if announced and announced.isdigit() else 0
        if received <= limit:
            received = 0
            for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    break
                yield chunk
            else:
                return
        raise ApiError(
            f"{self._loggable(url)} answered with more than {limit:,} bytes (MULTILEVEL_HTTP_MAX_BODY_BYTES); "
            "Eurostat never sends one request more than its 5,000,000-cell limit (about 100 MB), so this is not the "
            "answer that was asked for (a filter ignored?). Nothing was loaded. If a real dataset needs it, lower "
            "MULTILEVEL_MAX_CELLS_PER_REQUEST or raise MULTILEVEL_HTTP_MAX_BODY_BYTES"
        )

    def _too_slow(self, url: str) -> str:
        return (f"no complete answer from {self._loggable(url)} within the deadline of {self.policy.deadline:g}s "
                "per attempt (MULTILEVEL_HTTP_DEADLINE_SECONDS); the server sends too slowly")

    def _follow(self, url: str, location: str, what: str) -> str:
        """The redirect target if allowed; Transient for the overload page; ApiError for a foreign host."""
        target = urljoin(url, location)
        if any(word in target.lower() for word in OVERLOAD_WORDS):
            raise Transient(f"redirected to {self._loggable(target)} (the API's overload page)")
        host = (urlsplit(target).hostname or "").lower()
        allowed = self.policy.allowed_hosts
        if allowed is not None and host not in allowed:
            raise ApiError(
                f"{what}: the server redirected to {host!r}, which is not one of the allowed hosts "
                f"({', '.join(allowed)}); nothing from it is loaded. If that host is a mirror you trust, add it "
                "to MULTILEVEL_HTTP_ALLOWED_HOSTS"
            )
        return target

    def _loggable(self, url: str) -> str:
        """The URL without userinfo, and without its query unless the policy logs it (Eurostat's filters)."""
        parts = urlsplit(url)
        if parts.username or parts.password:
            parts = parts._replace(netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else ""))
        if not self.policy.log_query and parts.query:
            parts = parts._replace(query="(query hidden)")
        return parts.geturl()
