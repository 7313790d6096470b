"""The steps of a Eurostat harvest run, each reading and writing only files or URLs.

``plan -> download -> validate -> stage -> load``: the CLI runs one step per command (one Argo container each), and
``harvest`` runs them all in-process. Between steps, data lives in a store (folder or S3), never in memory.

This module holds the per-slice steps that need the parse/validate stack (pandas, pyarrow, pandera): validate and
stage. The others live apart so that their processes never import it (``plan_step``, ``download``, ``load_step``)
and are re-exported here, so every step is importable from one place.

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

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from multilevel.datasets import get_dataset
from multilevel.errors import StageError, ValidationFailed
from multilevel.eurostat.client import describe_filters
from multilevel.eurostat.download import PART_ENCODINGS, download_step  # noqa: F401  (re-exported)
from multilevel.eurostat.guards import check_body, check_not_older, check_same_version
from multilevel.eurostat.jsonstat import FLAG_COLUMN, TIME_COLUMN, VALUE_COLUMN, JsonStatCells, read_jsonstat
from multilevel.eurostat.load_step import (  # noqa: F401  (re-exported: every step is importable from here)
    build_manifest,
    default_plan_url,
    failed_run_of,
    load_step,
    read_plan,
    record_failure_step,
    run_prefix,
    staged_slice_key,
)
from multilevel.eurostat.plan import Plan
from multilevel.eurostat.plan_step import (  # noqa: F401  (re-exported)
    PlanOutcome,
    check_fan_out,
    check_plan,
    plan_step,
    remove_orphan_runs,
)
from multilevel.settings import Settings
from multilevel.stage import Store, open_store, split_url
from multilevel.validate.eurostat import check_min_rows, fit_labels, validate_slice

log = logging.getLogger(__name__)

LABELS_KEY = b"multilevel.labels"


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
    target = staged_slice_key(plan, slice_id)
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


