"""Processes for the CPU-bound part of a harvest: parse, validate and stage each slice on every core.

Parsing and validating a slice is pure Python/numpy work that holds the GIL, so threads cannot use a second core
(measured: three concurrent downloads gained nothing over one). ``harvest`` therefore downloads in threads (network
waits) and hands each downloaded slice to a pool of worker processes that run the same step functions Argo runs as
pods (``validate_step``, ``stage_step``). A worker holds one slice at a time, so its memory is bounded by the slice,
not by the dataset.

Workers are forked from a fork server that has already imported the step library (fast start, no threads or locks
inherited from the harvest process); each gets the caller's environment (S3 endpoint and credentials can change
after the fork server started) and log level.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager

from multilevel import redaction
from multilevel.eurostat.plan import Plan
from multilevel.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Imported once by the fork server, so every worker starts with pandas, pyarrow and pandera loaded.
PRELOAD = ["multilevel.eurostat.steps"]

log = logging.getLogger(__name__)


class InlineExecutor(Executor):
    """Runs each task at once in the calling thread (``slice_processes = 0``: debugging, profiling one process)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 (handed to the caller through the future, like a pool does)
            future.set_exception(e)
        return future


def _init_worker(environ: dict[str, str], level: int, secrets: tuple[str, ...] = ()) -> None:
    os.environ.clear()
    os.environ.update(environ)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    redaction.register(*secrets)  # e.g. a password read from /run/secrets, not in the environment
    redaction.install()  # botocore's DEBUG lines from a worker carry keys and tokens too


def _fork_server_context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_fork_server() -> None:
    """Start the fork server now, so its imports (about 1 s: pandas, pyarrow, pandera) overlap the planning and the
    first downloads instead of holding up the first slice (measured: the first slice was validated 1.1 s after it
    was downloaded). Returns at once: the server imports in its own process while this one goes on."""
    _fork_server_context()
    multiprocessing.forkserver.ensure_running()


@contextmanager
def slice_pool(processes: int) -> Iterator[Executor]:
    """An executor for per-slice work: ``processes`` worker processes, or the calling thread when 0."""
    if processes <= 0:
        yield InlineExecutor()
        return
    context = _fork_server_context()
    level = logging.getLogger("multilevel").getEffectiveLevel()
    pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker,
                               initargs=(dict(os.environ), level, redaction.registered()))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def validate_and_stage(settings: Settings, plan: Plan, slice_id: str, raw: str, validated: str) -> int:
    """Parse and validate one downloaded slice, then stage it; returns its row count (runs in a worker)."""
    from multilevel.eurostat.steps import stage_step, validate_step

    validate_step(settings, plan, slice_id, raw, validated)
    rows = stage_step(settings, plan, slice_id, validated)["rows"]
    # make bench reads this line: a worker's peak memory is what one slice costs
    log.debug("worker %d, %s slice %s: peak RSS %d MiB", os.getpid(), plan.dataset, slice_id, peak_rss_mib())
    return rows


def peak_rss_mib() -> int:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
