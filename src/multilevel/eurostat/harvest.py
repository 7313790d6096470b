"""``multilevel harvest``: every step of a run in one process, for the given or all configured datasets.

Slices download concurrently, but only a few at a time (``max_concurrent_downloads``): Eurostat is a shared public
service. Parsing and validation run in worker processes, one per core (``slice_processes``). Intermediate files go
to a temporary folder; validated slices go to the configured stage.
Working folders and stage runs left by killed runs are removed by the next run (``multilevel.workdir``,
``plan_step.remove_orphan_runs``).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from multilevel.datasets import get_dataset, load_datasets
from multilevel.errors import (
    EXIT_TERMINAL,
    EXIT_TRANSIENT,
    ConfigError,
    MultilevelError,
    TransientError,
    VersionDrift,
)
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.download import download_step
from multilevel.eurostat.load_step import load_step, record_failure_step, staged_slice_key
from multilevel.eurostat.plan import Plan
from multilevel.eurostat.plan_step import PlanOutcome, plan_step
from multilevel.eurostat.workers import slice_pool, validate_and_stage
from multilevel.runs import new_run_id
from multilevel.settings import Settings
from multilevel.warehouse.history import LoadResult
from multilevel.workdir import remove_abandoned, work_dir

log = logging.getLogger(__name__)


@dataclass
class HarvestResult:
    dataset: str
    run_id: str
    status: str  # loaded | unchanged | already_loaded | staged (its load runs on the loader thread: see wait())
    load: LoadResult | None = None
    pending: Future[HarvestResult] | None = None

    def wait(self) -> HarvestResult:
        """The finished result; waits for a load running on the loader thread (and raises its error)."""
        return self.pending.result() if self.pending is not None else self


def _slice(settings: Settings, plan: Plan, slice_id: str, work: Path, client: EurostatClient,
           workers: Executor) -> int:
    """Download one slice here (a thread: network waits), then parse, validate and stage it in a worker process."""
    raw = work / "raw" / slice_id
    validated = work / "validated" / f"{slice_id}.parquet"
    download_step(settings, plan, slice_id, str(raw), client=client, compress=False)
    try:
        return workers.submit(validate_and_stage, settings, plan, slice_id, str(raw), str(validated)).result()
    except BrokenProcessPool as e:
        raise TransientError(
            f"the worker process validating {plan.dataset} slice {slice_id} died (killed, probably out of memory); "
            "run again, with fewer MULTILEVEL_SLICE_PROCESSES or more memory"
        ) from e


@dataclass
class PlannedRun:
    """A dataset's next run, planned ahead (``plan_ahead``): its run id and its plan step, running on a thread."""

    run_id: str
    outcome: Future[PlanOutcome]


def plan_ahead(planner: Executor, settings: Settings, code: str, client: EurostatClient) -> PlannedRun:
    """Start planning ``code``'s run on ``planner`` (one thread), for ``harvest_dataset(..., planned=...)``.

    ``multilevel harvest`` plans each dataset while the one before it downloads: a plan is a few requests and
    warehouse queries (0.1-0.4 s, the most on a revision: the current rows per split code), which otherwise sat
    between two datasets' downloads, and with many datasets (most of them unchanged) planning is most of the run.
    """
    run_id = new_run_id()
    return PlannedRun(run_id, planner.submit(plan_step, settings, code, run_id=run_id, client=client))


def harvest_dataset(settings: Settings, code: str, *, client: EurostatClient | None = None,
                    progress: Callable[[int, int, str], None] | None = None,
                    loader: Executor | None = None, planned: PlannedRun | None = None,
                    plan_next: Callable[[], None] | None = None) -> HarvestResult:
    """Plan, download, validate and stage every slice, then load the run in one transaction.

    Downloads run in ``max_concurrent_downloads`` threads; parsing and validation in ``slice_processes`` worker
    processes (see ``workers``). ``progress(done, total, message)`` is called after each slice.

    With a ``loader`` (one thread), the load is submitted to it as soon as the run is planned, and copies each slice
    as it is staged (``StagedSlices``); the result comes back ``staged``: the caller fetches the next dataset while
    this one finishes loading (the load is warehouse work, the fetch network and worker processes, so they overlap on
    two cores) and calls ``wait()`` for the loaded result. Loads stay serial and in order on that one thread.

    ``planned``: this run's plan, started ahead by ``plan_ahead``. ``plan_next()`` is called once this run's plan is
    in hand, before its slices download (the caller starts planning the next dataset there).
    """
    client = client or EurostatClient.from_settings(settings)
    remove_abandoned()  # working folders of runs that were killed
    try:
        plan, pending = _fetch_run(settings, code, client, progress, loader, planned, plan_next)
    except VersionDrift as drift:
        # Eurostat published during the run (11:00/23:00 Brussels): that run is recorded as failed and nothing of
        # it was loaded; one fresh run plans and loads the new version whole. A second drift is left to the retry.
        log.warning("%s Restarting the run once.", drift)
        plan, pending = _fetch_run(settings, code, client, progress, loader)
    if not plan.changed:
        return HarvestResult(plan.dataset, plan.run_id, "unchanged")
    if pending is None:
        return _load_run(settings, plan)
    return HarvestResult(plan.dataset, plan.run_id, "staged", pending=pending)


def _load_run(settings: Settings, plan: Plan, staged: StagedSlices | None = None) -> HarvestResult:
    try:
        result = load_step(settings, plan, staged)
    except FetchAborted:
        raise  # the fetch failed, and recorded why: the load only rolled back what it had copied
    except MultilevelError as e:
        _record_failure(settings, plan.dataset, plan.run_id, e, plan)
        raise
    return HarvestResult(plan.dataset, plan.run_id, result.status, result)


class FetchAborted(Exception):
    """Raised in a load that copies a run's slices while they are fetched, when the fetch failed."""


class StagedSlices:
    """The stage keys of a run's slices as the fetch stages them, for the load copying them meanwhile.

    Iterating yields batches (every key staged since the last batch, so a slow COPY catches up in one statement)
    and ends when the fetch says all are staged; it raises ``FetchAborted`` when the fetch failed instead.
    """

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def put(self, key: str) -> None:
        self._queue.put(key)

    def end(self) -> None:
        self._queue.put(self._END)

    def abort(self) -> None:
        self._queue.put(FetchAborted())

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get())
            batch = [i for i in items if isinstance(i, str)]
            if any(isinstance(i, FetchAborted) for i in items):
                raise FetchAborted("the fetch of this run failed; nothing of it is loaded")
            if batch:
                yield batch
            if self._END in items:
                return


def _fetch_run(settings: Settings, code: str, client: EurostatClient,
               progress: Callable[[int, int, str], None] | None,
               loader: Executor | None = None, planned: PlannedRun | None = None,
               plan_next: Callable[[], None] | None = None) -> tuple[Plan, Future[HarvestResult] | None]:
    """Plan a run (or take the ``planned`` one) and stage every slice of it (nothing when the dataset is unchanged).

    Returns the plan and, with a ``loader``, the load already running on it (it copies slices as they are staged).
    """
    run_id = planned.run_id if planned is not None else new_run_id()
    try:
        if planned is not None:
            outcome = planned.outcome.result()
        else:
            outcome = plan_step(settings, code, run_id=run_id, client=client)
    except MultilevelError as e:
        _record_failure(settings, code.lower(), run_id, e)
        raise
    if plan_next is not None:
        plan_next()
    plan = outcome.plan
    if not plan.changed:
        return plan, None
    staged = StagedSlices() if loader is not None else None
    pending = loader.submit(_load_run, settings, plan, staged) if loader is not None else None
    try:
        with work_dir(plan.dataset) as tmp, \
                slice_pool(min(settings.slice_processes, len(plan.slices))) as workers:
            pool = ThreadPoolExecutor(settings.max_concurrent_downloads)
            try:
                futures = {pool.submit(_slice, settings, plan, s.id, Path(tmp), client, workers): s.id
                           for s in plan.slices}
                for done, future in enumerate(as_completed(futures), start=1):
                    rows = future.result()
                    if staged is not None:
                        staged.put(staged_slice_key(plan, futures[future]))
                    if progress:
                        progress(done, len(futures), f"{plan.dataset} {futures[future]}: {rows} rows")
            finally:
                # on the first failed slice, don't start the others: the run fails anyway
                pool.shutdown(wait=True, cancel_futures=True)
        stats = client.stats
        log.info("%s run %s: %d API requests, %d asynchronous waits (%.0fs)", plan.dataset, plan.run_id,
                 stats.requests, stats.async_waits, stats.async_seconds)
    except BaseException as e:
        if staged is not None:  # the load rolls back what it copied; wait for that before recording the failure
            staged.abort()
            wait([pending])
        if isinstance(e, MultilevelError):
            _record_failure(settings, plan.dataset, plan.run_id, e, plan)
        raise
    if staged is not None:
        staged.end()
    return plan, pending


class HarvestFailed(MultilevelError):
    """Some datasets of a multi-dataset harvest failed; exit 75 only if every failure is transient."""

    def __init__(self, failures: dict[str, MultilevelError], total: int):
        names = "; ".join(f"{code} ({str(e).splitlines()[0][:200]})" for code, e in failures.items())
        super().__init__(f"{len(failures)} of {total} datasets failed: {names}")
        self.failures = failures
        transient = all(e.exit_code == EXIT_TRANSIENT for e in failures.values())
        self.exit_code = EXIT_TRANSIENT if transient else EXIT_TERMINAL


def _record_failure(settings: Settings, dataset: str, run_id: str, error: MultilevelError,
                    plan: Plan | None = None) -> None:
    """Write the failure to load_log; if the warehouse itself is what failed, say so in the log and go on."""
    try:
        record_failure_step(settings, dataset, run_id, str(error),
                            update_data=plan.update_data if plan else None,
                            update_structure=plan.update_structure if plan else None)
    except MultilevelError as also:
        log.warning("could not record the failure of %s run %s in load_log: %s", dataset, run_id, also)


def dataset_codes(settings: Settings, codes: list[str] | tuple[str, ...]) -> list[str]:
    """The datasets to harvest (all listed ones by default); an unknown code stops everything before it starts.

    A code that no entry lists but a selection matches (``multilevel check`` chose it from the catalogue) is known
    too: ``get_dataset`` gives it its selection's settings, as the plan step of an Argo run does.
    """
    if not codes:
        return [d.code for d in load_datasets(settings.datasets_file)]
    unknown = []
    for code in codes:
        try:
            get_dataset(code, settings.datasets_file)
        except ConfigError:
            unknown.append(code)
    if unknown:
        configured = [d.code for d in load_datasets(settings.datasets_file)]
        raise ConfigError(
            f"dataset(s) {', '.join(unknown)} not configured (known: {', '.join(configured) or 'none'}) and no "
            "selection matches them; add them, or a selection, to datasets.yaml"
        )
    return [c.lower() for c in codes]
