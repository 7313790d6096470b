"""The plan step of a Eurostat run: ask the API what changed, plan the slices, refuse a plan that would do harm.

Kept apart from the parse/validate stack (pandas, pyarrow, pandera): the plan step and `multilevel harvest`'s own
process (which plans, downloads and loads, and leaves parsing to its worker processes) never import it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from multilevel.datasets import get_dataset
from multilevel.errors import ConfigError, MultilevelError, ParseError
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.guards import check_not_older, check_vanished_codes, check_warehouse_structure
from multilevel.eurostat.load_step import default_plan_url
from multilevel.eurostat.plan import Plan, make_plan
from multilevel.runs import check_run_id
from multilevel.settings import Settings
from multilevel.stage import open_store, split_url
from multilevel.textlimits import MAX_UPDATE_BYTES, utf8_length
from multilevel.warehouse import connect
from multilevel.warehouse.history import (
    current_counts,
    ensure_schema,
    last_load_finished_at,
    last_successful_load,
    loaded_dimensions,
    now_utc,
    record_run,
)

log = logging.getLogger(__name__)


# --- plan ------------------------------------------------------------------------------------------------------
@dataclass
class PlanOutcome:
    plan: Plan
    url: str | None  # where the plan was written; None when unchanged (nothing is written to the stage)


def plan_step(settings: Settings, dataset_code: str, *, run_id: str | None = None, out: str | None = None,
              client: EurostatClient | None = None) -> PlanOutcome:
    dataset = get_dataset(dataset_code, settings.datasets_file)
    if run_id:  # a retried plan step of the same run keeps the plan it already wrote (run files are immutable)
        check_run_id(run_id)
        url = out or default_plan_url(settings, dataset.code, run_id)
        store, key = split_url(url)
        if store.exists(key):
            log.info("plan %s run %s: already planned at %s", dataset.code, run_id, url)
            return PlanOutcome(Plan.from_json(store.read_bytes(key)), url)
    client = client or EurostatClient.from_settings(settings)
    with connect(settings.warehouse_url, settings) as wh:
        last = last_successful_load(wh, dataset.code)
        last_at = last_load_finished_at(wh, dataset.code) if last else None

        counted: dict[str, dict[str, int]] = {}

        def counts(split: str) -> dict[str, int]:  # rows loaded now per code of the split dimension
            # Asked by the planner and again by check_plan: one scan of the current rows (0.2-0.3 s per 1.6M rows)
            if split not in counted:
                counted[split] = current_counts(wh, dataset.code, split) if last else {}
            return counted[split]

        started_at = now_utc()
        plan = make_plan(client, dataset, last_loaded=last, current_counts=counts,
                         max_row_drop_fraction=settings.max_row_drop_fraction, run_id=run_id,
                         max_cells=settings.max_cells_per_request, last_loaded_at=last_at)
        remove_orphan_runs(settings, wh, dataset.code, keep=plan.run_id)
        if not plan.changed:
            # The check itself is worth a log row (when did we last look?); no data, no stage files.
            ensure_schema(wh)
            with wh.transaction():
                record_run(wh, dataset.code, plan.run_id, "unchanged", started_at=started_at,
                           update_data=plan.update_data, update_structure=plan.update_structure)
            return PlanOutcome(plan, None)
        check_plan(settings, plan, last, counts(plan.split) if plan.split else {}, loaded_dimensions(wh, dataset.code))
    url = out or default_plan_url(settings, dataset.code, plan.run_id)
    store, key = split_url(url)
    store.put_immutable(key, plan.to_json())
    return PlanOutcome(plan, url)


def remove_orphan_runs(settings: Settings, wh, dataset: str, *, keep: str) -> list[str]:
    """Delete the stage folders of runs of ``dataset`` that never loaded and never will (killed or failed runs).

    A run is an orphan when it has no manifest.json (the load writes it first), is not recorded as loaded, and was
    planned more than ``orphan_run_hours`` ago (younger runs may still be running elsewhere). Loaded runs are left to
    the retention of loaded runs. A failed clean-up is logged, never fatal: it must not block the harvest.
    """
    cutoff = now_utc().replace(tzinfo=UTC) - timedelta(hours=settings.orphan_run_hours)
    try:
        stage = open_store(settings.stage_url)
        keys = stage.list(f"eurostat/{dataset}")
        runs: dict[str, list[str]] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) >= 4:
                runs.setdefault(parts[2], []).append(key)
        loaded = set()
        if runs and wh.relation_exists("eurostat", "load_log"):
            sql = "SELECT run_id FROM eurostat.load_log WHERE dataset = %s AND status = 'loaded'"
            loaded = {r for (r,) in wh.query(sql, (dataset,))}
        removed = []
        for run, files in sorted(runs.items()):
            prefix = f"eurostat/{dataset}/{run}"
            if run == keep or run in loaded or f"{prefix}/manifest.json" in files:
                continue
            planned = _planned_at(stage, prefix, run, files)
            if planned is None or planned > cutoff:
                continue
            files.sort(key=lambda k: k.endswith("/plan.json"))  # plan last: an interrupted clean-up is found again
            stage.delete(files)
            removed.append(run)
        if removed:
            log.info("removed %d orphan run(s) of %s from the stage (never loaded, planned before %s): %s",
                     len(removed), dataset, cutoff.isoformat(timespec="seconds"), ", ".join(removed))
        return removed
    except (MultilevelError, ValueError, KeyError) as e:
        log.warning("could not remove orphan runs of %s from the stage: %s", dataset, e)
        return []


def _planned_at(stage, prefix: str, run: str, files: list[str]) -> datetime | None:
    """When an unloaded run was planned: its plan.json, else the time in its default run id (a run killed while it
    wrote plan.json leaves only a temporary file); None if neither says (such a folder is left alone)."""
    if f"{prefix}/plan.json" in files:
        try:
            planned = datetime.fromisoformat(json.loads(stage.read_bytes(f"{prefix}/plan.json"))["created_at"])
            return planned if planned.tzinfo else planned.replace(tzinfo=UTC)
        except (ValueError, KeyError, TypeError) as e:  # a torn plan.json: judge by the run id
            log.warning("orphan run %s: unreadable plan.json (%s)", prefix, e)
    try:
        return datetime.strptime(run[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def check_plan(settings: Settings, plan: Plan, last: tuple[str | None, str | None] | None, counts: dict[str, int],
               loaded: list[str]) -> None:
    """Refuse a plan that would leave the current view wrong: older data, no slice, another shape, vanished codes."""
    if last is not None and not settings.accept_older_data:
        check_not_older(plan.dataset, plan.update_data, last[0], what="the dataflow",
                        setting="MULTILEVEL_ACCEPT_OLDER_DATA", required=True)
    for name, value in (("UPDATE_DATA", plan.update_data), ("UPDATE_STRUCTURE", plan.update_structure)):
        if value is not None and utf8_length(value) > MAX_UPDATE_BYTES:
            raise ParseError(f"{plan.dataset}: the dataflow's {name} {value[:80]!r} is not a date; is the API right?")
    if not plan.slices:
        wanted = get_dataset(plan.dataset, settings.datasets_file).filters.get(plan.split)
        among = f" among those datasets.yaml's filters select ({', '.join(wanted)})" if wanted else ""
        raise ParseError(
            f"{plan.dataset}: nothing to harvest: the API's content constraint lists no code of the split dimension "
            f"{plan.split}{among}. A partial answer from an overloaded API is the usual cause: run again later; "
            "if the filters are wrong, fix them in datasets.yaml"
        )
    check_fan_out(settings, plan)
    check_warehouse_structure(plan, loaded)
    check_vanished_codes(plan, counts, max_fraction=settings.max_row_drop_fraction,
                         accept=settings.accept_vanished_codes)


def check_fan_out(settings: Settings, plan: Plan) -> None:
    """Refuse a plan with more slices than ``max_slices_per_run``: each is a task (a pod) and a request to Eurostat."""
    if len(plan.slices) <= settings.max_slices_per_run:
        return
    configured = bool(get_dataset(plan.dataset, settings.datasets_file).split)
    how = (f"one per code of its split dimension {plan.split!r} in datasets.yaml" if configured
           else f"automatic slices of up to {settings.max_cells_per_request:,} cells")
    fix = ("split on a dimension with fewer codes, or remove `split` to let the planner choose slices of up to "
           "MULTILEVEL_MAX_CELLS_PER_REQUEST cells" if configured
           else "raise MULTILEVEL_MAX_CELLS_PER_REQUEST (the API accepts up to 5,000,000 cells a request)")
    raise ConfigError(
        f"{plan.dataset}: the plan has {len(plan.slices)} slices ({how}), more than MULTILEVEL_MAX_SLICES_PER_RUN="
        f"{settings.max_slices_per_run} allows; nothing was downloaded. Fix: {fix}, or add filters in datasets.yaml; "
        "raise MULTILEVEL_MAX_SLICES_PER_RUN only if the workflow and Eurostat can take that many requests"
    )
