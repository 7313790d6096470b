"""The HTTP stand-in for Eurostat's dissemination API, on 127.0.0.1, for tests and the offline demo.

``StandIn.url`` plays the role of ``https://ec.europa.eu/eurostat/api/dissemination``; the endpoints hang
off it with the real URL shapes (the real prefix ``/eurostat/api/dissemination`` is accepted too)::

    GET /sdmx/2.1/dataflow/ESTAT/{code}[/1.0]?format=json     dataflow JSON (SDMX-ML without format=json)
    GET /sdmx/2.1/contentconstraint/ESTAT/{code}/1.0          SDMX-ML ContentConstraint
    GET /statistics/1.0/data/{code}?format=JSON&lang=EN&{dim}={code}...   JSON-stat 2.0
    GET /catalogue/toc/txt?lang=en                            the table of contents, text (see catalogue.py)
    GET /catalogue/toc/xml                                    the table of contents, XML
    GET /sorry/index.html                                     the "sorry" page a ``sorry`` fault redirects to

HEAD answers the GET headers without a body, takes no fault and is not logged (clients ping with it).

Control, for tests and demos (also as methods of ``StandIn``; admin requests are not in ``request_log``)::

    POST /_standin/revise?dataset=D&n=5           publish a revision (values, one flag, one gone, one new)
    POST /_standin/structure?dataset=D            bump UPDATE_STRUCTURE
    POST /_standin/inject?kind=K&count=1&path=P&seconds=S&retry_after=R    queue a fault (see faults.py)
    POST /_standin/max_cells?value=N              change the extraction limit
    POST /_standin/clear                          drop queued faults and the request log
    GET  /_standin/state                          datasets, versions, timestamps, faults, limit
    GET  /_standin/log                            the request log

``max_cells`` (default 1,000,000): a data request whose selected cube (empty cells included) is larger gets
the real HTTP 413 EXTRACTION_TOO_BIG answer. The real API's limit is 5,000,000 cells, but the stand-in's
full cubes are 2-3 million cells, so the limit is scaled down to keep a whole-dataset request too big
(clients must split) while a per-age or per-indicator slice (about 100,000 cells) fits with a wide margin.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from multilevel import paths
from multilevel.standin import catalogue as toc
from multilevel.standin import render
from multilevel.standin.cubes import GENERATORS, SIZES, Cube, base_cube, fixture_cube, format_ts
from multilevel.standin.faults import FaultQueue

logger = logging.getLogger(__name__)

DEFAULT_MAX_CELLS = 1_000_000
SORRY_PATH = "/sorry/index.html"
REAL_PREFIX = "/eurostat/api/dissemination"
FIXTURES_DIR = paths.ROOT / "tests" / "fixtures" / "eurostat"
FIXTURE_PREFIX, FIXTURE_SUFFIX = "statsapi_jsonstat_", "_full.json"
JSON_TYPE = "application/json"
SDMX_XML_TYPE = "application/vnd.sdmx.structure+xml;version=2.1"
ASYNC_WARNING = "ASYNCHRONOUS_RESPONSE. Your request will be treated asynchronously. Please try again later."
SORRY_HTML = (
    b'<!DOCTYPE html><html lang="en" class="no-js"><head><title>Eurostat - Service temporarily unavailable'
    b"</title></head><body><h1>We apologise for the inconvenience</h1>"
    b"<p>The service is temporarily unavailable "
    b"due to high demand. Please try again later.</p></body></html>"
)


class StandIn:
    """A local Eurostat API on 127.0.0.1 serving seeded synthetic cubes and real fixture files.

    Example::

        with StandIn(size="small") as api:
            requests.get(f"{api.url}/statistics/1.0/data/demo_r_pjangrp3?format=JSON&age=TOTAL")
            api.revise("demo_r_pjangrp3")
            api.inject("503", count=2)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        size: str = "small",
        max_cells: int = DEFAULT_MAX_CELLS,
        fixtures_dir: Path | None = None,
        catalogue: int = 0,
    ):
        if size not in SIZES:
            raise ValueError(f"stand-in size {size!r} is unknown: use one of {', '.join(SIZES)}")
        self.host = host
        self.port = port
        self.size = size
        self.max_cells = max_cells
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else FIXTURES_DIR
        self.faults = FaultQueue()
        # synthetic regional datasets served besides the demography cubes and fixtures (``catalogue`` of them)
        self.regional = {spec.code: spec for spec in toc.regional_specs(catalogue)}
        self.request_log: list[tuple[str, str, int]] = []
        self._cubes: dict[str, Cube] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, the stand-in's equivalent of https://ec.europa.eu/eurostat/api/dissemination."""
        if self._server is None:
            raise RuntimeError(
                "StandIn has no URL before start(): call start() or use it as a context manager"
            )
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandIn:
        """Bind (port 0 picks a free port) and serve in a background thread."""
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler)
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        # a short poll interval makes stop() return quickly (tests start and stop many servers)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="standin", daemon=True
        )
        self._thread.start()
        logger.info("standin serving %s (size %s, max_cells %d)", self.url, self.size, self.max_cells)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ datasets

    def datasets(self) -> list[str]:
        """Codes of every dataset served (lower case): the synthetic ones and each fixture file's."""
        codes = list(GENERATORS)
        if self.fixtures_dir.is_dir():
            for path in sorted(self.fixtures_dir.glob(f"{FIXTURE_PREFIX}*{FIXTURE_SUFFIX}")):
                codes.append(path.name[len(FIXTURE_PREFIX) : -len(FIXTURE_SUFFIX)].lower())
        return codes + list(self.regional)

    def cube(self, dataset: str) -> Cube:
        """The served cube of ``dataset`` (case-insensitive); KeyError if the stand-in has no such dataset."""
        code = dataset.lower()
        with self._lock:
            if code not in self._cubes:
                if code in GENERATORS:
                    self._cubes[code] = Cube(base_cube(code, self.size))
                elif code in self.regional:
                    self._cubes[code] = Cube(toc.regional_cube(self.regional[code]))
                else:
                    path = self.fixtures_dir / f"{FIXTURE_PREFIX}{code}{FIXTURE_SUFFIX}"
                    if not path.is_file():
                        raise KeyError(dataset)
                    self._cubes[code] = Cube(fixture_cube(str(path)))
            return self._cubes[code]

    def _known_cube(self, dataset: str) -> Cube:
        try:
            return self.cube(dataset)
        except KeyError:
            raise ValueError(
                f"dataset {dataset!r} is not served by the stand-in: use one of {', '.join(self.datasets())}"
            ) from None

    def preload(self) -> None:
        """Generate every cube now, so the first request does not wait for it."""
        for code in self.datasets():
            self.cube(code)

    # ------------------------------------------------------------------ control

    def revise(self, dataset: str, n: int = 5) -> dict:
        """Publish a revision of ``dataset``; returns version, new UPDATE_DATA and the changed cells."""
        return self._known_cube(dataset).revise(n)

    def set_structure_update(self, dataset: str) -> str:
        """Bump UPDATE_STRUCTURE of ``dataset``; returns the new timestamp."""
        return self._known_cube(dataset).bump_structure()

    def inject(self, kind: str, count: int = 1, path: str | None = None, **opts: float) -> None:
        """Queue ``count`` faults of ``kind`` for the next requests whose path+query contains ``path``."""
        fault = self.faults.add(kind, count, path, **opts)
        logger.info("standin queued fault %s x%d (path %s)", fault.kind, fault.count, fault.path)

    def clear(self) -> None:
        """Drop queued faults and the request log."""
        self.faults.clear()
        self.request_log.clear()

    def toc_leaves(self) -> list[toc.TocLeaf]:
        """Every served dataset as the catalogue lists it (demography cubes twice: regional and population)."""
        leaves = []
        for code in self.datasets():
            spec = self.regional.get(code)
            cube = self.cube(code)  # generated on first use (300 synthetic ones: about a second)
            times = cube.dim("time").codes
            update_data, update_structure = cube.update_data, cube.update_structure
            start, end, values = times[0], times[-1], cube.obs_count()
            paths = [toc.path_of(code, spec.theme if spec else None)]
            if code in GENERATORS:
                paths.append((toc.ROOT, toc.POPULATION, ("demo", "Demography and migration")))
            for path in paths:
                leaves.append(toc.TocLeaf(path, code, cube.base.label, "dataset", update_data,
                                          update_structure, start, end, values))
        return sorted(leaves, key=lambda leaf: leaf.path)  # stable: dataset order kept within a folder

    def count_requests(self, path_contains: str = "") -> int:
        """How many logged requests have ``path_contains`` in their path+query."""
        return sum(1 for _, target, _ in list(self.request_log) if path_contains in target)

    def state(self) -> dict:
        """Datasets with versions and timestamps, queued faults, the limit, the number of requests."""
        with self._lock:
            cubes = dict(self._cubes)
        return {
            "size": self.size,
            "max_cells": self.max_cells,
            "datasets": {
                code: {
                    "version": cube.version,
                    "update_data": format_ts(cube.update_data),
                    "update_structure": format_ts(cube.update_structure),
                    "obs_count": cube.obs_count(),
                }
                for code, cube in cubes.items()
            },
            "faults": self.faults.pending(),
            "requests": len(self.request_log),
        }


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that logs a client hanging up early (a test's short timeout) as one quiet line."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            logger.debug("standin client %s hung up: %s", client_address, error)
        else:
            logger.exception("standin failed on a request from %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes one request; ``self.server.standin`` is the owning StandIn."""

    protocol_version = "HTTP/1.1"
    server_version = "multilevel-standin"

    # ------------------------------------------------------------------ plumbing

    @property
    def standin(self) -> StandIn:
        return self.server.standin  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        logger.debug("standin %s", format % args)

    def _send(
        self, status: int, body: bytes, content_type: str = JSON_TYPE, headers: dict[str, str] | None = None
    ) -> None:
        fault = getattr(self, "_fault", None)
        if fault is not None and fault.kind == "gzip":
            # deliberately no Content-Encoding header: Eurostat sometimes sends large bodies like that
            body = gzip.compress(body, mtime=0)
        head = self._head
        if (
            not self._admin and not head
        ):  # logged before the body goes out: a client that got it sees it logged
            self.standin.request_log.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            pass
        elif fault is not None and fault.kind == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(body)
        logger.info("standin %s %s -> %d (%d bytes)", self.command, self.path, status, len(body))

    def _error(self, error: render.RequestError) -> None:
        self._send(error.status, error.body())

    def _route(self) -> tuple[str, list[tuple[str, str]]]:
        parts = urlsplit(self.path)
        route = parts.path
        if route.startswith(REAL_PREFIX):
            route = route[len(REAL_PREFIX) :] or "/"
        # one handler serves every request of a keep-alive connection: reset the per-request flags here
        self._admin = route.startswith("/_standin/")
        self._head = self.command == "HEAD"
        return route.rstrip("/") or "/", parse_qsl(parts.query, keep_blank_values=True)

    # ------------------------------------------------------------------ verbs

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        route, params = self._route()
        self._fault = None
        try:
            if self._admin:
                self._admin_get(route)
                return
            if route == SORRY_PATH:
                self._send(200, SORRY_HTML, "text/html; charset=UTF-8")
                return
            self._fault = self.standin.faults.take(self.path)
            if self._fault is not None and self._answer_fault():
                return
            self._api_get(route, params)
        except render.RequestError as error:
            self._error(error)
        except Exception:  # a bug in the stand-in must still answer, or the client would hang
            logger.exception("standin failed on %s", self.path)
            self._send(500, render.error_body(500, 500, "Internal server error"))

    def do_HEAD(self) -> None:  # noqa: N802
        """Headers of the GET answer without the body; no faults and not logged (clients use it as a ping)."""
        route, params = self._route()
        self._fault = None
        try:
            if route == SORRY_PATH:
                self._send(200, SORRY_HTML, "text/html; charset=UTF-8")
            elif self._admin:
                self._send(200, b"")
            else:
                self._api_get(route, params)
        except render.RequestError as error:
            self._error(error)

    def do_POST(self) -> None:  # noqa: N802
        route, params = self._route()
        self._fault = None
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if not self._admin:
            self._error(render.RequestError(405, 140, f"Syntax error: {self.path} accepts GET only"))
            return
        try:
            self._admin_post(route, dict(params))
        except (ValueError, TypeError) as error:
            self._send(400, render.error_body(400, 140, str(error)))

    # ------------------------------------------------------------------ faults

    def _answer_fault(self) -> bool:
        """Answer the request with its fault if the fault replaces the answer; False if it only alters it."""
        fault = self._fault
        kind = fault.kind
        if kind in ("500", "502", "503"):
            labels = {"500": "Internal server error", "502": "Bad Gateway", "503": "Service Unavailable"}
            status = int(kind)
            self._fault = None
            self._send(status, render.error_body(status, 500, labels[kind]))
        elif kind == "429":
            self._fault = None
            seconds = int(fault.opts.get("retry_after", 1))
            self._send(
                429, render.error_body(429, 429, "Too Many Requests"), headers={"Retry-After": str(seconds)}
            )
        elif kind == "sorry":
            self._fault = None
            self._send(
                302, b"", "text/html; charset=UTF-8", headers={"Location": self.standin.url + SORRY_PATH}
            )
        elif kind == "413":
            self._fault = None
            limit = self.standin.max_cells
            self._error(render.too_big(limit * 10, limit))
        elif kind == "413warning":
            self._fault = None
            self._send(
                200,
                json.dumps(
                    {"warning": {"status": 413, "label": ASYNC_WARNING}}, separators=(",", ":")
                ).encode(),
            )
        elif kind == "slow":
            time.sleep(fault.opts.get("seconds", 2.0))
            self._fault = None
            return False
        else:  # gzip, truncate: applied to the normal answer in _send
            return False
        return True

    # ------------------------------------------------------------------ API

    def _api_get(self, route: str, params: list[tuple[str, str]]) -> None:
        parts = route.strip("/").split("/")
        options = {k: v for k, v in params}
        if parts[:3] == ["statistics", "1.0", "data"] and len(parts) == 4:
            cube = self._cube(parts[3])
            positions, lang = render.parse_data_query(cube, params)
            cells = render.count_cells(positions)
            if cells > self.standin.max_cells:
                raise render.too_big(cells, self.standin.max_cells)
            self._send(200, render.jsonstat(cube, positions, lang))
        elif (
            parts[:4] == ["sdmx", "2.1", "dataflow", "ESTAT"] and len(parts) in (5, 6) and _version_ok(parts)
        ):
            cube = self._cube(parts[4])
            if options.get("format", "").lower() == "json":
                self._send(200, render.dataflow_json(cube, options.get("lang", "EN").upper()))
            else:
                self._send(200, render.dataflow_xml(cube, datetime.now(UTC)), SDMX_XML_TYPE)
        elif parts[:2] == ["catalogue", "toc"] and len(parts) == 3 and parts[2] in ("txt", "xml"):
            leaves = self.standin.toc_leaves()  # dates and sizes as of now: revisions move them
            if parts[2] == "txt":
                self._send(200, toc.toc_txt(leaves), "text/plain; charset=UTF-8")
            else:
                self._send(200, toc.toc_xml(leaves, datetime.now(UTC)), "application/xml")
        elif (
            parts[:4] == ["sdmx", "2.1", "contentconstraint", "ESTAT"]
            and len(parts) in (5, 6)
            and _version_ok(parts)
        ):
            cube = self._cube(parts[4])
            self._send(200, render.content_constraint_xml(cube, datetime.now(UTC)), SDMX_XML_TYPE)
        else:
            raise render.RequestError(404, 100, f"No results found: {route} is not an endpoint of this API")

    def _cube(self, dataset: str) -> Cube:
        try:
            return self.standin.cube(dataset)
        except KeyError:
            raise render.RequestError(
                404, 100, f"No results found: dataset {dataset.upper()} does not exist"
            ) from None

    # ------------------------------------------------------------------ admin

    def _admin_get(self, route: str) -> None:
        if route == "/_standin/state":
            self._send(200, json.dumps(self.standin.state()).encode())
        elif route == "/_standin/log":
            self._send(200, json.dumps(self.standin.request_log).encode())
        else:
            self._send(404, render.error_body(404, 100, f"No results found: no admin endpoint {route}"))

    def _admin_post(self, route: str, params: dict[str, str]) -> None:
        standin = self.standin
        if route == "/_standin/revise":
            result = standin.revise(_required(params, "dataset"), int(params.get("n", 5)))
        elif route == "/_standin/structure":
            dataset = _required(params, "dataset")
            result = {"dataset": dataset.lower(), "update_structure": standin.set_structure_update(dataset)}
        elif route == "/_standin/inject":
            opts = {k: float(v) for k, v in params.items() if k not in ("kind", "count", "path")}
            standin.inject(_required(params, "kind"), int(params.get("count", 1)), params.get("path"), **opts)
            result = {"faults": standin.faults.pending()}
        elif route == "/_standin/max_cells":
            value = int(_required(params, "value"))
            if value < 1:
                raise ValueError(f"max_cells must be at least 1, got {value}")
            standin.max_cells = value
            result = {"max_cells": value}
        elif route == "/_standin/clear":
            standin.clear()
            result = {"cleared": True}
        else:
            self._send(404, render.error_body(404, 100, f"No results found: no admin endpoint {route}"))
            return
        self._send(200, json.dumps(result).encode())


def _version_ok(parts: list[str]) -> bool:
    return len(parts) == 5 or parts[5] in ("1.0", "latest")


def _required(params: dict[str, str], name: str) -> str:
    if not params.get(name):
        raise ValueError(f"the admin request needs the query parameter {name}=...")
    return params[name]


def serve(host: str = "127.0.0.1", port: int = 0, size: str = "small", catalogue: int = 0) -> None:
    """Run the stand-in until interrupted (Ctrl-C or SIGTERM); prints ``standin listening on URL`` first."""
    standin = StandIn(host=host, port=port, size=size, catalogue=catalogue)
    standin.preload()
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with standin:
        print(f"standin listening on {standin.url}", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> None:
    """``python -m multilevel.standin [--host H] [--port N] [--size small|full]``."""
    parser = argparse.ArgumentParser(prog="multilevel standin", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--catalogue", type=int, default=0, help="synthetic regional datasets to serve besides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(args.host, args.port, args.size, args.catalogue)
