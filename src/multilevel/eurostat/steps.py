"""The steps of a Eurostat harvest run, each reading and writing only files or URLs.

``plan -> download -> validate -> stage -> load``: the CLI runs one step per command (one Argo container each), and
``harvest`` runs them all in-process. Between steps, data lives in a store (folder or S3), never in memory. The load
and record-failure steps live in ``load_step`` (re-exported here), so a load process never imports the parse stack.

Stage layout of a run (immutable once written)::

    {stage}/eurostat/{dataset}/{run_id}/plan.json
    {stage}/eurostat/{dataset}/{run_id}/slices/{slice}.parquet    validated rows of one slice
    {stage}/eurostat/{dataset}/{run_id}/slices/{slice}.json       its row count, sha256 and labels
    {stage}/eurostat/{dataset}/{run_id}/manifest.json             every file of the run (written by load)
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from multilevel.datasets import get_dataset
from multilevel.errors import ConfigError, MultilevelError, ParseError, StageError, ValidationFailed
from multilevel.eurostat.client import EurostatClient, describe_filters
from multilevel.eurostat.download import download_slice
from multilevel.eurostat.guards import (
    check_body,
    check_not_older,
    check_same_version,
    check_vanished_codes,
    check_warehouse_structure,
)
from multilevel.eurostat.jsonstat import FLAG_COLUMN, TIME_COLUMN, VALUE_COLUMN, JsonStatCells, read_jsonstat
from multilevel.eurostat.load_step import (  # noqa: F401  (re-exported: every step is importable from here)
    build_manifest,
    default_plan_url,
    failed_run_of,
    load_step,
    read_plan,
    record_failure_step,
    run_prefix,
)
from multilevel.eurostat.plan import Plan, make_plan
from multilevel.runs import check_run_id
from multilevel.settings import Settings
from multilevel.stage import Store, open_store, split_url
from multilevel.textlimits import MAX_UPDATE_BYTES, utf8_length
from multilevel.validate.eurostat import check_min_rows, fit_labels, validate_slice
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

LABELS_KEY = b"multilevel.labels"


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

        def counts(split: str) -> dict[str, int]:  # rows loaded now per code of the split dimension
            return current_counts(wh, dataset.code, split) if last else {}

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


# --- download ---------------------------------------------------------------------------------------------------
# How raw parts are kept between the download and validate steps: gzip where they travel (the stage, S3, between
# Argo pods), as received in `multilevel harvest`'s own working folder (compressing there only costs CPU).
PART_ENCODINGS = {"gzip": ".json.gz", "identity": ".json"}


def download_step(settings: Settings, plan: Plan, slice_id: str, out: str,
                  client: EurostatClient | None = None, *, compress: bool = True) -> int:
    """Write the slice's JSON-stat bodies as ``part-NNNN.json.gz`` (``.json`` without ``compress``) under ``out``;
    returns the number of parts."""
    client = client or EurostatClient.from_settings(settings)
    raw = open_store(out, durable=False)
    encoding = "gzip" if compress else "identity"
    suffix = PART_ENCODINGS[encoding]

    def write_part(n: int, body: bytes) -> None:
        raw.write_bytes(f"part-{n:04d}{suffix}", gzip.compress(body, 1) if compress else body)

    # parts.json is written last and says how many parts count, so a retried attempt that split differently
    # never mixes its parts with a previous attempt's leftovers.
    parts = download_slice(client, plan, plan.slice(slice_id), write_part)
    raw.write_bytes("parts.json", json.dumps({"parts": parts, "encoding": encoding}).encode())
    return parts


# --- validate --------------------------------------------------------------------------------------------------
# Rows built, checked and written at a time by the validate step: its memory is bounded by one body's compact cells
# (about 20 bytes a row) plus one chunk, however large the slice (one body can be the API's 5 million cells).
CHUNK_ROWS = 500_000


def read_parts(raw: Store, plan: Plan | None = None, settings: Settings | None = None) -> Iterator[JsonStatCells]:
    """Read the downloaded parts one at a time; with ``plan``, each must be the planned dataset, shape and version."""
    index = json.loads(raw.read_bytes("parts.json"))
    count, encoding = index["parts"], index.get("encoding", "gzip")
    if encoding not in PART_ENCODINGS:
        raise StageError(f"{raw.url}/parts.json names an unknown encoding {encoding!r}; run `multilevel download` "
                         "again")
    if not count:
        raise StageError(f"{raw.url} holds no downloaded parts; run `multilevel download` first")
    columns = None
    for n in range(count):
        body = raw.read_bytes(f"part-{n:04d}{PART_ENCODINGS[encoding]}")
        parsed = read_jsonstat(gzip.decompress(body) if encoding == "gzip" else body)
        if plan is not None:
            where = f"part {n} under {raw.url}"
            check_body(plan, parsed.dataset, parsed.dimensions, where)
            if not (settings and settings.accept_older_data):
                check_not_older(plan.dataset, parsed.update_data, plan.update_data, what=where,
                                setting="MULTILEVEL_ACCEPT_OLDER_DATA")
                # (a plan accepted from an older dataflow is newer-bodied by design: no drift check then)
                check_same_version(plan, parsed.update_data, what=where)
        names = parsed.dimensions + [TIME_COLUMN, VALUE_COLUMN, FLAG_COLUMN]
        if columns is not None and names != columns:
            raise ValidationFailed(f"parts under {raw.url} disagree on dimensions: {columns} vs {names}")
        columns = names
        yield parsed


def slice_chunks(raw: Store, plan: Plan | None = None, settings: Settings | None = None,
                 rows: int | None = None) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(rows, labels of the part) of a downloaded slice, at most ``rows`` (``CHUNK_ROWS``) at a time, part by part."""
    rows = rows or CHUNK_ROWS
    for parsed in read_parts(raw, plan, settings):
        for start in range(0, max(parsed.rows, 1), rows):
            yield parsed.frame(start, start + rows), parsed.labels


def parse_parts(raw: Store, plan: Plan | None = None, settings: Settings | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every downloaded part as one frame, and their labels (for callers that want a small slice whole)."""
    frames, labels = zip(*slice_chunks(raw, plan, settings, rows=2**62), strict=True)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame, pd.concat(labels, ignore_index=True).drop_duplicates(["dimension", "code"])


def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def frame_to_parquet(frame: pd.DataFrame, labels: pd.DataFrame) -> bytes:
    table = _arrow(frame)
    meta = dict(table.schema.metadata or {})
    meta[LABELS_KEY] = labels.to_json(orient="values").encode()
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buffer, compression="zstd")
    return buffer.getvalue()


def validate_step(settings: Settings, plan: Plan, slice_id: str, raw: str, out: str) -> int:
    """Parse the downloaded parts, check them, write one Parquet file. Returns the row count.

    Rows are built, checked and written ``CHUNK_ROWS`` at a time (one row group each), so a huge body never becomes
    one huge frame; the row count (``min_rows``) is checked on the whole slice. A rule that fails reports the rows of
    the chunk it failed in; keys repeated across chunks or parts are caught by the load (``check_no_duplicate_keys``).
    Nothing is written to ``out`` unless every chunk passed.
    """
    dataset = get_dataset(plan.dataset, settings.datasets_file)
    slice_ = plan.slice(slice_id)
    buffer, writer, total, labels = io.BytesIO(), None, 0, []
    try:
        for frame, part_labels in slice_chunks(open_store(raw), plan, settings):
            if frame.empty:
                labels.append(part_labels)
                continue
            validate_slice(frame, dataset, filters=slice_.filters)
            table = _arrow(frame)
            if writer is None:
                writer = pq.ParquetWriter(buffer, table.schema, compression="zstd")
            writer.write_table(table)
            total += len(frame)
            labels.append(part_labels)
        if total == 0:
            # the plan's codes come from the content constraint, which lists only codes that hold observations
            raise ValidationFailed(
                f"{plan.dataset} slice {slice_id} [{describe_filters(slice_.filters)}] came back with no observations, "
                "although the content constraint lists its codes: an incomplete answer, not an empty slice. Nothing "
                "was loaded; run again later (if it persists, check the codes in datasets.yaml)"
            )
        check_min_rows(dataset, total, slice_.expected_min_rows)
        label_frame = fit_labels(pd.concat(labels, ignore_index=True).drop_duplicates(["dimension", "code"]),
                                 plan.dataset)
        writer.add_key_value_metadata({LABELS_KEY: label_frame.to_json(orient="values").encode()})
    finally:
        if writer is not None:
            writer.close()
    store, key = split_url(out, durable=False)
    store.write_bytes(key, buffer.getvalue())
    log.info("validate %s slice %s: %d rows ok", plan.dataset, slice_id, total)
    return total


# --- stage -----------------------------------------------------------------------------------------------------
def stage_step(settings: Settings, plan: Plan, slice_id: str, validated: str) -> dict:
    """Publish a validated slice into the run's stage folder (immutable), with its sidecar. Returns the sidecar."""
    plan.slice(slice_id)
    source, key = split_url(validated)
    data = source.read_bytes(key)
    parquet = pq.ParquetFile(io.BytesIO(data))
    # the file's key-value metadata: the validate step adds the labels after the last row group
    labels = json.loads((parquet.metadata.metadata or {}).get(LABELS_KEY, b"[]"))
    stage = open_store(settings.stage_url)
    target = f"{run_prefix(plan.dataset, plan.run_id)}/slices/{slice_id}.parquet"
    sidecar = {
        "slice": slice_id,
        "key": target,
        "rows": parquet.metadata.num_rows,
        "sha256": stage.put_immutable(target, data),
        "columns": parquet.schema_arrow.names,
        "labels": labels,
    }
    stage.put_immutable(target[: -len(".parquet")] + ".json", json.dumps(sidecar, sort_keys=True).encode())
    log.info("stage %s slice %s: %d rows -> %s", plan.dataset, slice_id, sidecar["rows"], stage.url_for(target))
    return sidecar


