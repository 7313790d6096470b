"""DuckDB: the default, embedded warehouse (one file, no server)."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from multilevel.errors import ConfigError, WarehouseBusy, WarehouseError
from multilevel.stage import Store
from multilevel.warehouse.base import Dialect, Warehouse
from multilevel.workdir import work_dir

if TYPE_CHECKING:
    from multilevel.settings import Settings

log = logging.getLogger(__name__)

DIALECT = Dialect.load("duckdb")
DEFAULT_MEMORY_LIMIT = "128MB"  # the settings default (settings.py says why)
# INSERT INTO t (a, b) VALUES (%s, %s): the statements executemany can send as one (see there)
_INSERT_VALUES = re.compile(r"(?is)^\s*(INSERT\s+INTO\s+.+?)\s+VALUES\s*\(\s*%s(?:\s*,\s*%s)*\s*\)\s*;?\s*$")
_SIZE = re.compile(r"\s*\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B)?\s*", re.IGNORECASE)


def _memory_size(text: str) -> str:
    """A memory size such as ``512MB`` or ``2GiB``, checked before it goes into a SET statement."""
    if not _SIZE.fullmatch(text or ""):
        raise ConfigError(f"MULTILEVEL_DUCKDB_MEMORY_LIMIT={text!r} must be a size such as 512MB or 2GB")
    return text.strip()

# DuckDB allows one writing process per file; another process waits this long for the file lock, then gives up
# with a transient error (the CLI exits 75 and the orchestrator retries later).
LOCK_WAIT_SECONDS = 30.0


@contextmanager
def _local_files(store: Store, keys: list[str]) -> Iterator[list[str]]:
    """Local paths of staged files for read_parquet: a folder store's own files, S3 objects downloaded for the call."""
    with work_dir("copy") as tmp:
        files = []
        for i, key in enumerate(keys):
            local = store.local_path(key)
            if local is None:  # S3: DuckDB's httpfs would download an extension at run time, so fetch through boto3
                local = Path(tmp) / f"{i:05d}.parquet"
                store.download(key, local)
            files.append(str(local))
        yield files


def _path_of(url: str) -> str:
    # SQLAlchemy's convention: duckdb:///relative/path.duckdb, duckdb:////absolute/path.duckdb, duckdb:///:memory:
    if not url.startswith("duckdb:///"):
        raise WarehouseError(f"DuckDB URL {url!r} must look like duckdb:///path/to/file.duckdb")
    return url[len("duckdb:///") :] or ":memory:"


# Connections this process holds, per database file. Connections to one file in one process share a DuckDB instance
# (its instance cache), so a compaction, which swaps the file under the path, may only run when it holds the only
# one: another (the harvest's loader thread, say) would go on writing the old, unlinked file.
_open_lock = threading.Lock()
_open_files: Counter[str] = Counter()


class DuckDBWarehouse(Warehouse):
    dialect = DIALECT

    def __init__(self, url: str, settings: Settings | None = None, *, lock_wait_seconds: float = LOCK_WAIT_SECONDS):
        self.url = url
        limit = _memory_size(settings.duckdb_memory_limit if settings is not None else DEFAULT_MEMORY_LIMIT)
        path = _path_of(url)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + lock_wait_seconds
        while True:
            try:
                self.con = duckdb.connect(path)
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower():  # not a DuckDB file, no permission, another version: for good
                    raise ConfigError(
                        f"cannot open the DuckDB warehouse {path}: {e}. Retrying cannot help: point "
                        "MULTILEVEL_WAREHOUSE_URL at a DuckDB database file (a new path creates one)"
                    ) from None
                if time.monotonic() > deadline:
                    raise WarehouseBusy(
                        f"DuckDB file {path} is in use by another process ({e}); run again when it has finished"
                    ) from e
                time.sleep(0.5)
        self._file = os.path.realpath(path) if path != ":memory:" else None
        if self._file:
            with _open_lock:
                _open_files[self._file] += 1
        # DuckDB's default limit is 80 % of the machine's memory, which it never reaches on a 24 GiB machine, so
        # a merge grows instead of spilling to disk (next to the file). A bounded limit makes it spill.
        try:
            self.con.execute(f"SET memory_limit = '{limit}'")
        except duckdb.Error as e:
            self.close()
            raise ConfigError(f"MULTILEVEL_DUCKDB_MEMORY_LIMIT={limit!r} is not a memory size DuckDB accepts "
                              f"(e.g. 512MB, 2GB): {e}") from e

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%s", "?")

    def _run(self, sql: str, params: Sequence[Any] | None):
        try:
            return self.con.execute(self._sql(sql), list(params) if params is not None else None)
        except duckdb.TransactionException as e:
            raise WarehouseBusy(f"DuckDB transaction conflict: {e}; run again") from e
        except duckdb.Error as e:
            raise WarehouseError(f"DuckDB statement failed: {e}\n  statement: {sql.strip()[:300]}") from e

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        result = self._run(sql, params)
        if re.match(r"\s*(insert|update|delete)\b", sql, re.IGNORECASE):
            row = result.fetchone()
            return int(row[0]) if row else 0
        return -1

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        insert = _INSERT_VALUES.match(sql)
        if rows and insert and all(v is None or isinstance(v, str) for row in rows for v in row):
            # DuckDB runs executemany's statement once per row: 0.7 s for a dataset's 2,400 labels. Each column
            # bound as one list and the lists unnested side by side is one statement (12 ms).
            columns = [list(c) for c in zip(*rows, strict=True)]
            self._run(f"{insert[1]} SELECT {', '.join(['unnest(%s::VARCHAR[])'] * len(columns))}", columns)
        elif rows:
            try:
                self.con.executemany(self._sql(sql), [list(r) for r in rows])
            except duckdb.Error as e:
                raise WarehouseError(f"DuckDB statement failed: {e}\n  statement: {sql.strip()[:300]}") from e

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self._run(sql, params).fetchall()

    def _query_with_names(self, sql, params):
        result = self._run(sql, params)
        names = [d[0] for d in result.description]
        return result.fetchall(), names

    def query_df(self, sql: str, params: Sequence[Any] | None = None):
        return self._run(sql, params).df()

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error:  # the failed statement may already have aborted the transaction
            pass

    @contextmanager
    def _one_thread(self) -> Iterator[None]:
        """DuckDB on one thread for a bulk INSERT ... SELECT from Parquet, then as many as before.

        Measured (DuckDB 2.0.1, 2 cores, 1.62M rows from 22 staged files into the history): 1.0-1.2 s of CPU on one
        thread against 1.5-1.9 s on two, and less wall time too (1.0-1.2 s against 1.3-1.6 s): the insert does not
        run faster in parallel, it only pays for it. Inside ``multilevel harvest`` the copies also share the cores
        with the worker processes. The merge that follows (a hash join) keeps every thread.
        """
        threads = self.query("SELECT current_setting('threads')")[0][0]
        self._run("SET threads = 1", None)
        try:
            yield
        finally:
            self._run(f"SET threads = {int(threads)}", None)

    def copy_parquet(self, table: str, store: Store, keys: list[str], columns: list[str]) -> int:
        if not keys:
            return 0
        started = time.perf_counter()
        cols = ", ".join(f'"{c}"' for c in columns)
        with _local_files(store, keys) as files, self._one_thread():
            count = self.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?)", [files])
        log.info("copy %s: %d rows from %d files in %.2fs", table, count, len(keys), time.perf_counter() - started)
        return count

    def copy_first_run(self, f: Mapping[str, str], store: Store, keys: list[str], columns: list[str],
                       version: Mapping[str, Any]) -> int:
        # Straight from the staged files into the empty history: no staging table (held in memory, then copied a
        # second time by insert_all). history.load_run checks the inserted rows for duplicate keys afterwards, in
        # the same transaction.
        started = time.perf_counter()
        cols = ", ".join(f'"{c}"' for c in columns)
        versions = ", ".join(f'"{c}"' for c in version)
        with _local_files(store, keys) as files, self._one_thread():
            count = self.execute(
                f"INSERT INTO {f['history']} ({cols}, {versions}) SELECT {cols}, {', '.join(['?'] * len(version))} "
                "FROM read_parquet(?)", [*version.values(), files]
            )
        log.info("copy %s: %d rows from %d files in %.2fs", f["history"], count, len(keys),
                 time.perf_counter() - started)
        return count

    def checkpoint(self) -> None:
        # Writes the WAL into the file and lets the next run reuse the blocks its UPDATE freed.
        self._run("CHECKPOINT", None)

    def close(self) -> None:
        self.con.close()
        if self._file:
            with _open_lock:
                _open_files[self._file] -= 1
            self._file = None


# --- compaction ------------------------------------------------------------------------------------------------
# DuckDB (2.0) never reuses the blocks a revision's UPDATE frees inside the file, so a warehouse file grows with
# runs, not rows; only a copy into a new file shrinks it (notes of issue 10). The copy is written next to the file
# and renamed over it while this process holds the old file's lock, so no reader ever sees a half-written file and a
# kill at any point leaves the old file whole (plus, at worst, a leftover copy the next compaction deletes).
COMPACT_SUFFIX = ".compacting"
# After the rename, the old file's lock is kept this long. A process that opened the old file just before the
# rename fails to lock it (its open and its lock attempt are microseconds apart), waits, and opens the path again,
# now the new file; released at once, it could lock the old, unlinked file and write there.
SWAP_HOLD_SECONDS = 0.5


@dataclass
class Compaction:
    path: str
    total_blocks: int
    free_blocks: int
    bytes_before: int
    bytes_after: int
    compacted: bool


def compact(url: str, settings: Settings | None = None, *, force: bool = False,
            lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> Compaction:
    """Copy the DuckDB warehouse at ``url`` into a new file and swap it in, when at least
    ``duckdb_compact_free_fraction`` of its blocks are free (always with ``force``).

    Waits for other processes' connections like a load (WarehouseBusy after ``lock_wait_seconds``), and refuses to
    run while this process holds another connection to the file.
    """
    path = Path(_path_of(url))
    if str(path) == ":memory:" or not path.is_file():
        raise ConfigError(f"no DuckDB warehouse file at {path} to compact; check MULTILEVEL_WAREHOUSE_URL")
    threshold = settings.duckdb_compact_free_fraction if settings is not None else 0.25
    copy = path.with_name(path.name + COMPACT_SUFFIX)
    wh = DuckDBWarehouse(url, settings, lock_wait_seconds=lock_wait_seconds)
    try:
        with _open_lock:
            others = _open_files[wh._file] - 1
        if others:
            raise WarehouseBusy(f"cannot compact {path}: {others} other connection(s) of this process use it")
        for leftover in (copy, Path(f"{copy}.wal")):  # of a compaction killed midway (we hold the lock: not running)
            leftover.unlink(missing_ok=True)
        wh.checkpoint()
        name, total, free = wh.query("SELECT database_name, total_blocks, free_blocks FROM pragma_database_size() "
                                     "WHERE database_name = current_database()")[0]
        before = path.stat().st_size
        if not force and (threshold >= 1 or total == 0 or free < threshold * total):
            return Compaction(str(path), total, free, before, before, False)
        started = time.perf_counter()
        quoted = str(copy).replace("'", "''")
        wh._run(f"ATTACH '{quoted}' AS multilevel_compacted", None)
        try:
            wh._run(f'COPY FROM DATABASE "{name}" TO multilevel_compacted', None)
        finally:
            wh._run("DETACH multilevel_compacted", None)  # checkpoints the copy: all of it is in the file now
        if Path(f"{copy}.wal").exists():  # never swap in a file whose data is still (partly) in its WAL
            raise WarehouseError(f"the compacted copy {copy} kept a WAL after DETACH; {path} is unchanged")
        _fsync(copy)
        # From the rename on, the path's WAL belongs to the new file: this connection's close must not touch it.
        wh._run("PRAGMA disable_checkpoint_on_shutdown", None)
        os.replace(copy, path)
        _fsync(path.parent)
        time.sleep(SWAP_HOLD_SECONDS)
        after = path.stat().st_size
        log.info("compacted %s: %d of %d blocks were free; %.1f -> %.1f MB in %.1fs", path, free, total,
                 before / 1e6, after / 1e6, time.perf_counter() - started)
        return Compaction(str(path), total, free, before, after, True)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    finally:
        wh.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
