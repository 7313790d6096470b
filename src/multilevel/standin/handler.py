"""HTTP plumbing of the stand-in: the threading server and the request handler that routes to api/admin/faults.

``self.server.standin`` is the owning ``StandIn``. HEAD answers the GET headers without a body, takes no fault
and is not logged (clients ping with it).
"""

from __future__ import annotations

import gzip
import logging
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from multilevel.standin import admin, api, faults, render
from multilevel.standin.api import Answer
from multilevel.standin.contract import ServedAPI

logger = logging.getLogger(__name__)


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that logs a client hanging up early (a test's short timeout) as one quiet line."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            logger.debug("standin client %s hung up: %s", client_address, error)
        else:
            logger.exception("standin failed on a request from %s", client_address)


class Handler(BaseHTTPRequestHandler):
    """Routes one request; ``self.server.standin`` is the owning StandIn."""

    protocol_version = "HTTP/1.1"
    server_version = "multilevel-standin"

    @property
    def standin(self) -> ServedAPI:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        logger.debug("standin %s", format % args)

    def _send(self, answer: Answer, fault: faults.Fault | None = None) -> None:
        body = answer.body
        if fault is not None and fault.kind == "gzip":
            # deliberately no Content-Encoding header: Eurostat sometimes sends large bodies like that
            body = gzip.compress(body, mtime=0)
        head = self._head
        if not self._admin and not head:  # logged before the body goes out: a client that got it sees it logged
            self.standin.request_log.append((self.command, self.path, answer.status))
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            pass
        elif fault is not None and fault.kind == "drip":
            self._drip(body, fault.opts.get("seconds", 0.5), fault.opts.get("limit", 30.0))
        elif fault is not None and fault.kind == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(body)
        logger.info("standin %s %s -> %d (%d bytes)", self.command, self.path, answer.status, len(body))

    def _drip(self, body: bytes, pause: float, limit: float) -> None:
        """One byte every ``pause`` seconds, stopping after ``limit`` seconds (or when the client hangs up)."""
        started = time.monotonic()
        for i in range(len(body)):
            if time.monotonic() - started > limit:
                break
            try:
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(pause)
        self.close_connection = True

    def _route(self) -> tuple[str, list[tuple[str, str]]]:
        parts = urlsplit(self.path)
        route = parts.path
        if route.startswith(api.REAL_PREFIX):
            route = route[len(api.REAL_PREFIX) :] or "/"
        # one handler serves every request of a keep-alive connection: reset the per-request flags here
        self._admin = route.startswith(admin.PREFIX)
        self._head = self.command == "HEAD"
        return route.rstrip("/") or "/", parse_qsl(parts.query, keep_blank_values=True)

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        route, params = self._route()
        fault = None
        try:
            if self._admin:
                self._send(admin.get(self.standin, route))
                return
            if route != api.SORRY_PATH:
                fault = self.standin.faults.take(self.path)
            if fault is not None:
                replaced = faults.answer(fault, self.standin.url, self.standin.max_cells)
                if replaced is not None:
                    self._send(replaced)
                    return
                if fault.kind not in faults.ALTERING:
                    fault = None
            self._send(api.answer(self.standin, route, params), fault)
        except render.RequestError as error:
            self._send(api.error(error), fault)
        except Exception:  # a bug in the stand-in must still answer, or the client would hang
            logger.exception("standin failed on %s", self.path)
            self._send(Answer(500, render.error_body(500, 500, "Internal server error")))

    def do_HEAD(self) -> None:  # noqa: N802
        """Headers of the GET answer without the body; no faults and not logged (clients use it as a ping)."""
        route, params = self._route()
        try:
            if self._admin:
                self._send(Answer(200, b""))
            else:
                self._send(api.answer(self.standin, route, params))
        except render.RequestError as error:
            self._send(api.error(error))

    def do_POST(self) -> None:  # noqa: N802
        route, params = self._route()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if not self._admin:
            self._send(api.error(render.RequestError(405, 140, f"Syntax error: {self.path} accepts GET only")))
            return
        try:
            self._send(admin.post(self.standin, route, dict(params)))
        except (ValueError, TypeError) as error:
            self._send(Answer(400, render.error_body(400, 140, str(error))))
