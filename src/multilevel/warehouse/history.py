"""The history-keeping load of one Eurostat run.

A run's staged slices load in ONE transaction: copy into a staging table (a first load on PostgreSQL: straight into
the empty history), close current rows whose value or flag changed or that vanished, insert the new versions, replace
the dataset's labels, write the load_log row. Loading the same run again changes nothing; a failure anywhere rolls
everything back. The history therefore grows with Eurostat's revisions, not with the number of runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from multilevel.datasets import check_identifier
from multilevel.errors import DuplicateKey, StageError, StructureChanged, ValidationFailed, WarehouseError
from multilevel.redaction import redact
from multilevel.stage import Store
from multilevel.textlimits import MAX_CODE_BYTES, MAX_MESSAGE_BYTES, fit_text
from multilevel.warehouse.base import Dialect, Warehouse, qualified, quote

log = logging.getLogger(__name__)

SCHEMA = "eurostat"
VALUE_COLUMNS = ["time_period", "value", "flag"]
HISTORY_COLUMNS = ["valid_from", "valid_to", "source_updated", "run_id"]
# what a load sets on the rows it inserts (valid_to stays NULL: current)
NEW_VERSION_COLUMNS = ["valid_from", "source_updated", "run_id"]
MAX_DUPLICATE_EXAMPLES = 5
# A load refreshes the history's planner statistics when it is the first or changed at least this fraction of the
# rows (inserted + closed per received row), the threshold of PostgreSQL's autovacuum (autovacuum_analyze_scale_factor)
# and Redshift's ANALYZE (analyze_threshold_percent). A typical revision (0.5 % revised) leaves them as good as they
# were; ANALYZE costs 0.2-0.3 s per 1.6M rows.
ANALYZE_AFTER_CHANGED = 0.1


@dataclass
class LoadResult:
    dataset: str
    run_id: str
    status: str  # loaded | already_loaded
    rows_received: int = 0
    rows_inserted: int = 0
    rows_closed: int = 0
    rows_unchanged: int = 0
    seconds: float = 0.0


def now_utc() -> datetime:
    # Naive UTC: TIMESTAMP columns (no time zone) behave the same in DuckDB, PostgreSQL and Redshift.
    return datetime.now(UTC).replace(tzinfo=None)


def ensure_schema(wh: Warehouse) -> None:
    for relpath in ("eurostat/schema.sql", "eurostat/load_log.sql", "eurostat/labels.sql"):
        wh.run_sql_file(relpath)


def _fragments(dataset: str, dimensions: list[str], dialect: Dialect | None = None) -> dict[str, str]:
    """The names and clauses the SQL files of a load take, as ``dialect`` (code collation, staging kind) wants."""
    dialect = dialect or Dialect(name="default")  # no dialect: Dialect's defaults (default collation, TEMP staging)
    dims = [check_identifier(d, "dimension") for d in dimensions]
    keys = dims + ["time_period"]
    collate = f" {dialect.code_collation}" if dialect.code_collation else ""
    staging_kind = dialect.staging_kind

    def dimension_columns(collation: str) -> str:
        return ",\n    ".join(f"{quote(d)} VARCHAR({MAX_CODE_BYTES}){collation} NOT NULL" for d in dims)

    return {
        "history": qualified(SCHEMA, f"{dataset}_history"),
        "current": qualified(SCHEMA, dataset),
        # a temporary table lives in the session's own schema; an unlogged one in the dataset's
        "staging": quote(f"stg_{dataset}") if staging_kind == "TEMP" else qualified(SCHEMA, f"stg_{dataset}"),
        "staging_kind": staging_kind,
        "changes": quote(f"chg_{dataset}"),
        "current_index": quote(f"{dataset}_current_key"),
        "dimension_columns": dimension_columns(""),  # the staging table's: the server's default collation
        "history_dimension_columns": dimension_columns(collate),
        "code_collation": collate,
        "dimension_list": ", ".join(quote(d) for d in dims),
        "staged_dimension_list": ", ".join(f"s.{quote(d)}" for d in dims),
        "key_columns": ", ".join(quote(k) for k in keys),
        "coalesced_key_list": ", ".join(f"COALESCE(s.{quote(k)}, h.{quote(k)}) AS {quote(k)}" for k in keys),
        # The unique current-key index (PostgreSQL) lists region and period first: building it sorts the rows by
        # these columns, and leading with the most distinct ones (not freq/unit, the same in every row) halves the
        # build (7.5 s -> 3.3 s for 1.65M rows, notes of issue 10).
        "index_key_columns": ", ".join(quote(k) for k in sorted(keys, key=lambda k: (k != "geo", k != "time_period"))),
        "key_match": " AND ".join(f"h.{quote(k)} = s.{quote(k)}" for k in keys),
        # Redshift DDL: rows are distributed by region (geo), so history joins to respondents by region stay local.
        "distribution_key": quote("geo") if "geo" in dims else quote(keys[0]),
    }


def last_successful_load(wh: Warehouse, dataset: str) -> tuple[str | None, str | None] | None:
    """(update_data, update_structure) of the dataset's last loaded run, or None if never loaded."""
    if not wh.relation_exists(SCHEMA, "load_log"):
        return None
    rows = wh.query(
        "SELECT update_data, update_structure FROM eurostat.load_log WHERE dataset = %s AND status = 'loaded' "
        "ORDER BY finished_at DESC LIMIT 1",
        (dataset,),
    )
    return (rows[0][0], rows[0][1]) if rows else None


def last_load_finished_at(wh: Warehouse, dataset: str) -> datetime | None:
    """When the dataset's last loaded run finished (naive UTC), or None if never loaded."""
    if not wh.relation_exists(SCHEMA, "load_log"):
        return None
    rows = wh.query(
        "SELECT max(finished_at) FROM eurostat.load_log WHERE dataset = %s AND status = 'loaded'", (dataset,)
    )
    value = rows[0][0] if rows else None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value


def current_counts(wh: Warehouse, dataset: str, split: str) -> dict[str, int]:
    """Current rows per value of the split dimension (for the 'not many fewer rows than last time' check)."""
    check_identifier(split, "split dimension")
    if not wh.relation_exists(SCHEMA, dataset):
        return {}
    rows = wh.query(f"SELECT {quote(split)}, count(*) FROM {qualified(SCHEMA, dataset)} GROUP BY 1")
    return {code: int(n) for code, n in rows}


def loaded_dimensions(wh: Warehouse, dataset: str) -> list[str]:
    """The dimension columns of the dataset's history table ([] when it was never loaded)."""
    check_identifier(dataset, "dataset")
    if not wh.relation_exists(SCHEMA, f"{dataset}_history"):
        return []
    return [c for c in wh.columns_of(SCHEMA, f"{dataset}_history") if c not in VALUE_COLUMNS + HISTORY_COLUMNS]


def check_no_duplicate_keys(wh: Warehouse, f: dict[str, str], dataset: str, run_id: str, table: str) -> None:
    """Every key must appear once in the loaded run: overlapping slices would give a key several current rows.

    Checked in SQL on the run's rows (``table``: the staging table, or the history of a first load); when and where
    it runs, see ``duplicate_keys_refused``. The usual answer (no duplicate) costs one hashed GROUP BY; the examples,
    which sort the groups (5 s for 1.6M keys on PostgreSQL), are only looked up for a failure.
    """
    duplicated = wh.query(
        f"SELECT count(*) FROM (SELECT 1 AS k FROM {table} GROUP BY {f['key_columns']} HAVING count(*) > 1) AS d"
    )[0][0]
    if duplicated:
        rows = wh.query(
            f"SELECT {f['key_columns']}, count(*) AS n FROM {table} GROUP BY {f['key_columns']} "
            f"HAVING count(*) > 1 ORDER BY {f['key_columns']} LIMIT {MAX_DUPLICATE_EXAMPLES}"
        )
        shown = "; ".join(" ".join(str(v) for v in r[:-1]) + f" ({r[-1]} times)" for r in rows)
        raise ValidationFailed(
            f"run {run_id} of {dataset}: {duplicated} key(s) arrive more than once across the staged slices, "
            f"e.g. {shown}. The slices overlap (the API ignored a filter, or a slice was staged twice); nothing was "
            "loaded. Check the split dimension and filters in datasets.yaml, then harvest again."
        )


@contextmanager
def duplicate_keys_refused(wh: Warehouse, f: dict[str, str], dataset: str, run_id: str, table: str,
                           received: int, *, all_inserted: bool = False) -> Iterator[None]:
    """Around the merge of ``received`` rows (in ``table``): refuse a run with a key twice, naming the keys.

    DuckDB and Redshift: ``check_no_duplicate_keys`` before the merge. PostgreSQL's unique current-key index makes
    the merge itself the check, 1.5 s cheaper per 1.6M rows than the GROUP BY (a hash of every staged key): the index
    refuses a changed or new key inserted twice, and a key staged twice but unchanged leaves fewer current rows than
    staged rows (after a merge every staged key has exactly one current row, every other key none). Either way the
    merge goes back to its savepoint and the check names the keys; the transaction then rolls back whole.
    ``all_inserted``: every received row went in as a current row (a first load), so the index holds every key and
    there are no unchanged keys to count (the count scanned 1.6M rows for nothing, 0.25-0.5 s).
    """
    if not wh.unique_current_keys:
        check_no_duplicate_keys(wh, f, dataset, run_id, table)
        yield
        return
    wh.execute("SAVEPOINT merge")
    try:
        yield
        current = received if all_inserted else wh.query(f"SELECT count(*) FROM {f['current']}")[0][0]
    except DuplicateKey:
        current = None
    if current != received:
        wh.execute("ROLLBACK TO SAVEPOINT merge")
        check_no_duplicate_keys(wh, f, dataset, run_id, table)
        raise WarehouseError(  # no duplicate, yet the merge did not leave one current row per staged row: a bug
            f"run {run_id} of {dataset}: the merge left {current} current rows for {received} staged rows; "
            "nothing was loaded. Please report this."
        )
    wh.execute("RELEASE SAVEPOINT merge")


def record_run(wh: Warehouse, dataset: str, run_id: str, status: str, *, started_at: datetime,
               update_data: str | None = None, update_structure: str | None = None,
               counts: tuple[int, int, int, int] = (0, 0, 0, 0), message: str | None = None) -> None:
    """Append one load_log row (used for 'unchanged' checks and for failed runs)."""
    wh.execute(
        "INSERT INTO eurostat.load_log (dataset, run_id, started_at, finished_at, update_data, update_structure, "
        "status, rows_received, rows_inserted, rows_closed, rows_unchanged, message) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (dataset, run_id, started_at, now_utc(), update_data, update_structure, status, *counts,
         fit_text(redact(message or ""), MAX_MESSAGE_BYTES) or None),
    )


Labels = list[tuple[str, str, str]]


def load_run(wh: Warehouse, store: Store, manifest: dict, labels: Labels) -> LoadResult:
    """Load the staged files of one run (described by its manifest) with full history, in one transaction."""
    return load_run_as_staged(wh, store, manifest, [[e["key"] for e in manifest["files"]]], lambda: (manifest, labels))


def load_run_as_staged(wh: Warehouse, store: Store, head: dict, batches: Iterable[list[str]],
                       finish: Callable[[], tuple[dict, Labels]]) -> LoadResult:
    """``load_run`` of a run whose slices may still be arriving: each batch of staged files is copied as it comes.

    ``head`` names the run (dataset, run_id, dimensions, update_data, update_structure). ``batches`` yields the keys
    of newly staged files and ends when every slice is staged; it raises when staging failed, which rolls back what
    was copied. ``finish()`` then returns the run's manifest and labels, and the files copied must be exactly the
    manifest's. ``multilevel harvest`` copies a run's slices while the rest still download (issue 10: the last
    dataset's load could overlap nothing); the load step copies the manifest's files in one batch.
    """
    started = time.perf_counter()
    started_at = now_utc()
    dataset = check_identifier(head["dataset"], "dataset")
    run_id = head["run_id"]
    dimensions = head["dimensions"]
    f = _fragments(dataset, dimensions, wh.dialect)
    ensure_schema(wh)
    with wh.transaction():
        wh.lock(f"multilevel:eurostat:{dataset}", "eurostat.load_log")
        done = wh.query(
            "SELECT count(*) FROM eurostat.load_log WHERE dataset = %s AND run_id = %s AND status = 'loaded'",
            (dataset, run_id),
        )[0][0]
        if done:
            log.info("load %s run %s: already loaded, nothing to do", dataset, run_id)
            return LoadResult(dataset, run_id, "already_loaded", seconds=time.perf_counter() - started)

        wh.run_sql_file("eurostat/history_table.sql", **f)
        existing = wh.columns_of(SCHEMA, f"{dataset}_history")
        loaded = [c for c in existing if c not in VALUE_COLUMNS + HISTORY_COLUMNS]
        if sorted(loaded) != sorted(dimensions) or existing[len(loaded):] != VALUE_COLUMNS + HISTORY_COLUMNS:
            added = [d for d in dimensions if d not in loaded]
            removed = [d for d in loaded if d not in dimensions]
            raise StructureChanged(
                f"{dataset} changed structure: run {run_id} has dimensions {', '.join(dimensions)}, "
                f"eurostat.{dataset}_history has {', '.join(loaded)} (added: {', '.join(added) or 'none'}; removed: "
                f"{', '.join(removed) or 'none'}). Keep the old history with ALTER TABLE eurostat.{dataset}_history "
                f"RENAME TO {dataset}_history_old (and drop the view eurostat.{dataset}), then harvest again."
            )
        wh.run_sql_file("eurostat/current_view.sql", **f)
        columns = dimensions + VALUE_COLUMNS
        load_time = now_utc()
        new_version = (load_time, head.get("update_data"), run_id)
        first = not wh.query(f"SELECT 1 FROM {f['history']} LIMIT 1")
        # A first load (empty history) where the warehouse can (PostgreSQL, DuckDB): straight into the history
        # table, no staging table and no INSERT ... SELECT of every row. Still one transaction: a failure, or a key
        # that arrives twice (duplicate_keys_refused), rolls the copied rows back with everything else.
        version = dict(zip(NEW_VERSION_COLUMNS, new_version, strict=True))
        direct, received, copied = first, 0, []
        for batch in batches:
            rows = wh.copy_first_run(f, store, batch, columns, version) if direct else None
            if rows is None:  # not a first load, or a warehouse without the direct path: the staging table
                if direct or not copied:
                    wh.run_sql_file("eurostat/staging_table.sql", **f)
                direct = False
                rows = wh.copy_parquet(f["staging"], store, batch, columns)
            received += rows
            copied += batch
        manifest, labels = finish()
        if sorted(copied) != sorted(e["key"] for e in manifest["files"]):
            raise StageError(
                f"run {run_id} of {dataset}: the files copied ({len(copied)}) are not the manifest's "
                f"({len(manifest['files'])}); nothing was loaded. Load the run again with `multilevel load`"
            )
        expected_rows = sum(e["rows"] for e in manifest["files"])
        if received != expected_rows:
            raise StageError(
                f"run {run_id} of {dataset}: manifest promises {expected_rows} rows, files hold {received}"
            )
        if not direct and wh.dialect.analyze_staging:
            # Planner statistics of the staged rows before anything joins them (where the dialect's planner uses
            # them for the merge; sql/dialects.toml).
            wh.execute(f"ANALYZE {f['staging']}")
        wh.prepare_merge()
        with duplicate_keys_refused(wh, f, dataset, run_id, f["history"] if direct else f["staging"], received,
                                    all_inserted=first):
            if direct:
                wh.build_current_key_index(f)
                closed, inserted = 0, received
            elif first:  # nothing to compare with, a plain insert
                closed, inserted = 0, wh.run_sql_file("eurostat/insert_all.sql", new_version, **f)
            else:
                wh.run_sql_file("eurostat/changes.sql", **f)
                closed = wh.run_sql_file("eurostat/close_changed.sql", (load_time,), **f)
                inserted = wh.run_sql_file("eurostat/insert_new.sql", new_version, **f)
                wh.execute(f"DROP TABLE {f['changes']}")
        wh.execute("DELETE FROM eurostat.labels WHERE dataset = %s", (dataset,))
        wh.executemany(
            "INSERT INTO eurostat.labels (dataset, dimension, code, label) VALUES (%s, %s, %s, %s)",
            [(dataset, dim, code, label) for dim, code, label in labels],
        )
        if not direct:
            wh.execute(f"DROP TABLE IF EXISTS {f['staging']}")
        counts = (received, inserted, closed, received - inserted)
        record_run(wh, dataset, run_id, "loaded", started_at=started_at, update_data=head.get("update_data"),
                   update_structure=head.get("update_structure"), counts=counts)
    if first or inserted + closed >= ANALYZE_AFTER_CHANGED * received:
        wh.analyze(f"{SCHEMA}.{dataset}_history")  # fresh statistics for the views that join it (Warehouse.analyze)
    wh.checkpoint()  # DuckDB: write the run into the file and reuse freed blocks, so the file grows with rows, not runs
    result = LoadResult(dataset, run_id, "loaded", *counts, seconds=time.perf_counter() - started)
    log.info("load %s run %s: %d received, %d inserted, %d closed, %d unchanged in %.1fs",
             dataset, run_id, received, inserted, closed, received - inserted, result.seconds)
    return result
