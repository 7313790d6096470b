"""The load and record-failure steps of a Eurostat harvest run (see ``steps``), and what they share with it.

In a module of their own so that ``multilevel load`` imports only what loading needs: the warehouse driver, the
stage and the settings, not the parse/validate stack of ``steps`` (pandas, pyarrow, pandera, requests: about
100 MiB of a load process's peak RSS before any SQL, issue 10). tests/eurostat/test_step_imports.py guards it.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable

from multilevel.errors import MultilevelError, StageError
from multilevel.ess.views import create_context_views, missing_sources
from multilevel.eurostat.plan import Plan
from multilevel.runs import check_run_id
from multilevel.settings import Settings
from multilevel.stage import Store, open_store, split_url
from multilevel.stage.retention import prune_runs
from multilevel.warehouse import connect
from multilevel.warehouse.history import Labels, LoadResult, ensure_schema, load_run_as_staged, now_utc, record_run

log = logging.getLogger(__name__)


def run_prefix(dataset: str, run_id: str) -> str:
    return f"eurostat/{dataset}/{run_id}"


def default_plan_url(settings: Settings, dataset: str, run_id: str) -> str:
    return open_store(settings.stage_url).url_for(f"{run_prefix(dataset, run_id)}/plan.json")


def read_plan(url: str) -> Plan:
    store, key = split_url(url)
    return Plan.from_json(store.read_bytes(key))


# --- load ------------------------------------------------------------------------------------------------------
def build_manifest(stage: Store, plan: Plan) -> tuple[dict, list[tuple[str, str, str]]]:
    """Collect every slice's sidecar; a missing or altered slice stops the load (nothing is silently dropped)."""
    files, labels, columns = [], {}, None
    for s in plan.slices:
        base = f"{run_prefix(plan.dataset, plan.run_id)}/slices/{s.id}"
        if not stage.exists(f"{base}.json"):
            raise StageError(
                f"slice {s.id} of {plan.dataset} run {plan.run_id} was never staged ({stage.url_for(base)}.json "
                "missing); rerun its download/validate/stage steps, then load"
            )
        sidecar = json.loads(stage.read_bytes(f"{base}.json"))
        if stage.checksum(sidecar["key"]) != sidecar["sha256"]:
            raise StageError(f"{stage.url_for(sidecar['key'])} changed after it was staged (checksum mismatch)")
        if columns is None:
            columns = sidecar["columns"]
        elif sidecar["columns"] != columns:
            raise StageError(f"slice {s.id} has columns {sidecar['columns']}, other slices {columns}")
        files.append({"slice": s.id, "key": sidecar["key"], "rows": sidecar["rows"], "sha256": sidecar["sha256"]})
        for dim, code, label in sidecar["labels"]:
            labels[(dim, code)] = label
    dimensions = [c for c in (columns or []) if c not in ("time_period", "value", "flag")]
    manifest = {
        "dataset": plan.dataset, "run_id": plan.run_id, "update_data": plan.update_data,
        "update_structure": plan.update_structure, "dimensions": dimensions, "files": files,
    }
    return manifest, [(dim, code, label) for (dim, code), label in sorted(labels.items())]


def staged_slice_key(plan: Plan, slice_id: str) -> str:
    """Where the stage step puts a slice's validated rows (its sidecar is the same key ending in .json)."""
    return f"{run_prefix(plan.dataset, plan.run_id)}/slices/{slice_id}.parquet"


def load_step(settings: Settings, plan: Plan, staged: Iterable[list[str]] | None = None) -> LoadResult:
    """Load a staged run: check every slice's sidecar, write the manifest, load it in one transaction.

    With ``staged`` (``multilevel harvest``: the keys of the run's slices as they are staged, ending when all are),
    the load copies each slice as it arrives; the manifest is built and checked against the copied files at the end.
    """
    stage = open_store(settings.stage_url)

    def manifest_and_labels() -> tuple[dict, Labels]:
        manifest, labels = build_manifest(stage, plan)
        stage.put_immutable(f"{run_prefix(plan.dataset, plan.run_id)}/manifest.json",
                            json.dumps(manifest, indent=1, sort_keys=True).encode())
        return manifest, labels

    batches = iter(staged or [])
    first = next(batches, [])  # waits for the first staged slice: its columns name the run's dimensions
    if first:
        head, batches, finish = _head(stage, plan, first[0]), itertools.chain([first], batches), manifest_and_labels
    else:  # the load step: the manifest's files in one batch
        manifest, labels = manifest_and_labels()
        head, batches = manifest, [[e["key"] for e in manifest["files"]]]

        def finish() -> tuple[dict, Labels]:
            return manifest, labels
    with connect(settings.warehouse_url, settings) as wh:
        result = load_run_as_staged(wh, stage, head, batches, finish)
        # The regional-context views join these tables; create them as soon as every source is there, whichever
        # of the ESS load and the harvest came last.
        if not missing_sources(wh):
            create_context_views(wh)
    # Only now, with the run safely in the warehouse: drop the dataset's older runs beyond the newest few. A failure
    # here costs disk space, not data, so it is a warning (the next load tries again), never a failed load.
    try:
        prune_runs(stage, plan.dataset, plan.run_id, settings.stage_keep_runs)
    except MultilevelError as e:
        log.warning("stage retention for %s failed (the load itself succeeded): %s", plan.dataset, e)
    return result


def _head(stage: Store, plan: Plan, key: str) -> dict:
    """What the load needs to know of a run before its manifest exists: its dimensions from a staged slice."""
    columns = json.loads(stage.read_bytes(key[: -len(".parquet")] + ".json"))["columns"]
    return {"dataset": plan.dataset, "run_id": plan.run_id, "update_data": plan.update_data,
            "update_structure": plan.update_structure,
            "dimensions": [c for c in columns if c not in ("time_period", "value", "flag")]}


def failed_run_of(plan_url: str) -> tuple[str, str, str | None, str | None]:
    """(dataset, run_id, update_data, update_structure) of a run, even when its plan was never written.

    The exit handler must record a failure of the plan step itself, so fall back to the plan's path, which
    names the dataset and run: ``.../eurostat/{dataset}/{run_id}/plan.json``.
    """
    try:
        plan = read_plan(plan_url)
        return plan.dataset, plan.run_id, plan.update_data, plan.update_structure
    except StageError:
        parts = plan_url.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-4] == "eurostat" and parts[-1] == "plan.json":
            return parts[-3], parts[-2], None, None
        raise


def record_failure_step(settings: Settings, dataset: str, run_id: str, reason: str, *,
                        update_data: str | None = None, update_structure: str | None = None) -> None:
    check_run_id(run_id)
    with connect(settings.warehouse_url, settings) as wh:
        ensure_schema(wh)
        with wh.transaction():
            record_run(wh, dataset, run_id, "failed", started_at=now_utc(), update_data=update_data,
                       update_structure=update_structure, message=reason)
