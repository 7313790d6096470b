"""The HTTP stand-in for Eurostat's dissemination API, on 127.0.0.1, for tests and the offline demo.

``StandIn.url`` plays the role of ``https://ec.europa.eu/eurostat/api/dissemination``. The package splits
along its seams:

- ``server``: ``StandIn`` (lifecycle, the served datasets, the control methods) and the ``multilevel standin``
  entry point;
- ``handler``: HTTP plumbing (threading server, request handler, HEAD, request log);
- ``api``: the API routes and their answers (see its docstring for the URLs); ``render``: the bodies;
- ``admin``: the ``/_standin/...`` control endpoints; ``faults``: injectable faults;
- ``cube`` (the data model), ``cubes`` (the registry), ``demography``/``synthetic`` (generated cubes),
  ``fixture`` (cubes from real JSON-stat files), ``geo`` (NUTS code lists).

``max_cells`` (default 1,000,000): a data request whose selected cube (empty cells included) is larger gets
the real HTTP 413 EXTRACTION_TOO_BIG answer. The real API's limit is 5,000,000 cells, but the stand-in's
full cubes are 2-3 million cells, so the limit is scaled down to keep a whole-dataset request too big
(clients must split) while a per-age or per-indicator slice (about 100,000 cells) fits with a wide margin.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from multilevel import paths
from multilevel.standin import catalogue as toc
from multilevel.standin import current_codes as current_codes_mode
from multilevel.standin.cubes import GENERATORS, SIZES, Cube, base_cube, fixture_cube, format_ts
from multilevel.standin.faults import FaultQueue
from multilevel.standin.handler import Handler, Server
from multilevel.standin.large import CODE as LARGE_CODE
from multilevel.standin.large import large_cube

logger = logging.getLogger(__name__)

DEFAULT_MAX_CELLS = 1_000_000
FIXTURES_DIR = paths.ROOT / "tests" / "fixtures" / "eurostat"
FIXTURE_PREFIX, FIXTURE_SUFFIX = "statsapi_jsonstat_", "_full.json"


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
        async_cells: int | None = None,
        async_seconds: float = 0.0,
        large_obs: int = 0,
        current_codes: Iterable[str] = (),
    ):
        if size not in SIZES:
            raise ValueError(f"stand-in size {size!r} is unknown: use one of {', '.join(SIZES)}")
        self.host = host
        self.port = port
        self.size = size
        self.max_cells = max_cells
        # countries whose regions the demography cubes serve only in current NUTS codes (current_codes.py)
        self.current_codes = current_codes_mode.countries_of(current_codes)
        self.fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else FIXTURES_DIR
        self.faults = FaultQueue()
        # the asynchronous regime: a data request over ``async_cells`` cells first gets 413 ASYNCHRONOUS_RESPONSE
        # and is served once "prepared", ``async_seconds`` after it was first asked (None: every request is sync)
        self.async_cells = async_cells
        self.async_seconds = async_seconds
        self._preparing: dict[tuple, float] = {}
        # synthetic regional datasets served besides the demography cubes and fixtures (``catalogue`` of them)
        self.regional = {spec.code: spec for spec in toc.regional_specs(catalogue)}
        # the scale-test dataset ``synth_r_large`` with this many observations (0: not served); see ``large``
        if large_obs < 0:
            raise ValueError(f"large_obs must be 0 (not served) or a number of observations, got {large_obs}")
        self.large_obs = large_obs
        self.request_log: list[tuple[str, str, int]] = []
        self._cubes: dict[str, Cube] = {}
        self._lock = threading.Lock()
        self._server: Server | None = None
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
        server = Server((self.host, self.port), Handler)
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
        return codes + list(self.regional) + ([LARGE_CODE] if self.large_obs else [])

    def cube(self, dataset: str) -> Cube:
        """The served cube of ``dataset`` (case-insensitive); KeyError if the stand-in has no such dataset."""
        code = dataset.lower()
        with self._lock:
            if code not in self._cubes:
                if code in GENERATORS and self.current_codes:
                    self._cubes[code] = Cube(current_codes_mode.base_cube(code, self.size, self.current_codes))
                elif code in GENERATORS:
                    self._cubes[code] = Cube(base_cube(code, self.size))
                elif code in self.regional:
                    self._cubes[code] = Cube(toc.regional_cube(self.regional[code]))
                elif code == LARGE_CODE and self.large_obs:
                    self._cubes[code] = Cube(large_cube(self.large_obs))
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

    def redisseminate(self, dataset: str, old: str = "e", new: str = "i") -> dict:
        """Re-disseminate ``dataset`` (flags ``old`` -> ``new``, UPDATE_DATA unchanged); returns the recoded cells."""
        return self._known_cube(dataset).redisseminate(old, new)

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

    def prepared(self, cube: Cube, params: list[tuple[str, str]]) -> bool:
        """Whether the extraction asked by ``params`` is ready; the first ask starts preparing it."""
        key = (cube.code, cube.version, tuple(sorted((k.lower(), v.lower()) for k, v in params)))
        now = time.monotonic()
        with self._lock:
            first = self._preparing.setdefault(key, now)
        return first != now and now - first >= self.async_seconds

    def set_async(self, cells: int | None, seconds: float = 0.0) -> None:
        """Turn the asynchronous regime on above ``cells`` cells (None: off); forget prepared extractions."""
        with self._lock:
            self.async_cells, self.async_seconds = cells, seconds
            self._preparing.clear()

    def count_requests(self, path_contains: str = "") -> int:
        """How many logged requests have ``path_contains`` in their path+query."""
        return sum(1 for _, target, _ in list(self.request_log) if path_contains in target)

    def state(self) -> dict:
        """Datasets with versions and timestamps, queued faults, the limit, the number of requests."""
        with self._lock:
            cubes = dict(self._cubes)
        return {
            "size": self.size,
            "current_codes": sorted(self.current_codes),
            "max_cells": self.max_cells,
            "async_cells": self.async_cells,
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


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    size: str = "small",
    catalogue: int = 0,
    large_obs: int = 0,
    current_codes: Iterable[str] = (),
) -> None:
    """Run the stand-in until interrupted (Ctrl-C or SIGTERM); prints ``standin listening on URL`` first."""
    standin = StandIn(
        host=host, port=port, size=size, catalogue=catalogue, large_obs=large_obs, current_codes=current_codes
    )
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
    parser.add_argument("--large-obs", type=int, default=0,
                        help="also serve synth_r_large with this many observations (scale runs; 0: not served)")
    parser.add_argument("--current-codes", default="", help="countries served only in current NUTS codes, e.g. NO,IE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(args.host, args.port, args.size, args.catalogue, args.large_obs, args.current_codes.split(","))
