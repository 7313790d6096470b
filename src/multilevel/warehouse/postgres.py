"""PostgreSQL through psycopg 3: the warehouse of a kind cluster and of the tests.

Staged Parquet streams from the store into ``COPY ... FROM STDIN``: pyarrow reads record batches and writes them as
CSV text, so a file never has to fit in memory and no row passes through Python objects one by one.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg.sql
import pyarrow as pa
import pyarrow.csv as pa_csv

from multilevel.errors import ConfigError, DuplicateKey, WarehouseBusy, WarehouseError
from multilevel.redaction import split_credentials
from multilevel.stage import Store
from multilevel.warehouse.base import Dialect, Warehouse
from multilevel.warehouse.parquet import parquet_batches
from multilevel.warehouse.urls import password_for, redact

if TYPE_CHECKING:
    from multilevel.settings import Settings

log = logging.getLogger(__name__)

DIALECT = Dialect.load("postgres")

# A second loader of the same dataset waits for the first this long, then exits 75 and is retried later.
LOCK_TIMEOUT = "10min"
# For the statements of one merge only (SET LOCAL). The merge's one big join (sql/eurostat/changes.sql) is a full
# outer join of a run's staged rows with every current row on the key; with the server's default work_mem (4MB) and
# merge joins allowed, PostgreSQL sorted both sides on disk (10 s of 13 s per statement at 1.3M rows); as a hash join
# in memory it takes 2-4 s. The closing UPDATE then probes the unique current-key index once per changed key
# (nested loop: 0.11 s for 8,269 keys, against 0.65 s for a hash join over all current rows; EXPLAIN ANALYZE in the
# notes of issue 10), so nested loops stay allowed. maintenance_work_mem: a first load builds the unique current-key
# index (sql/postgres/current_key_index.sql), a sort that spilled to disk at the default 64MB. Other queries
# (reports, views) keep the server's settings.
MERGE_SETTINGS = {"work_mem": "256MB", "maintenance_work_mem": "256MB", "enable_mergejoin": "off"}
_CHANGES = re.compile(r"^(INSERT|UPDATE|DELETE|MERGE|COPY)\b")
# Connection failures a retry cannot fix (libpq reports them without a SQLSTATE, so by their text): wrong password,
# unknown role or database, no pg_hba.conf entry. Everything else (refused, timeout, too many clients) is transient.
_REFUSED_FOR_GOOD = re.compile(
    r"authentication failed|does not exist|no pg_hba\.conf entry|not permitted to log in|password is required|"
    r"permission denied for database",
    re.I,
)


def batch_to_csv(batch: pa.RecordBatch) -> bytes:
    """CSV text for COPY: NULL is an empty unquoted field, an empty string is ``""`` (PostgreSQL's CSV rules)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()


class PostgresWarehouse(Warehouse):
    dialect = DIALECT
    unique_current_keys = True  # sql/postgres/current_key_index.sql

    def __init__(self, url: str, settings: Settings | None = None):
        self.url = redact(url)
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": 15, "application_name": "multilevel"}
        password = password_for(url, settings)
        if password is not None:
            kwargs["password"] = password  # never inside the conninfo: libpq would echo a mis-parsed URL
        url = split_credentials(url)[0]
        conninfo = "postgresql" + url[url.index(":") :] if url.startswith("postgres:") else url
        started = time.perf_counter()
        try:
            self.con = psycopg.connect(conninfo, **kwargs)
        except psycopg.OperationalError as e:
            reason = str(e).strip()
            if _REFUSED_FOR_GOOD.search(reason):
                raise ConfigError(
                    f"PostgreSQL refused {self.url}: {reason}. Retrying cannot help: check the user, the password "
                    "(MULTILEVEL_WAREHOUSE_PASSWORD or the URL) and the database name in MULTILEVEL_WAREHOUSE_URL"
                ) from None
            raise WarehouseBusy(f"cannot connect to {self.url}: {reason}; run again when it is up") from None
        except psycopg.ProgrammingError as e:
            raise ConfigError(f"bad PostgreSQL URL {self.url}: {e}") from e
        self.con.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        log.info("connected to %s in %.2fs", self.url, time.perf_counter() - started)

    # --- errors ------------------------------------------------------------------------------------------------
    def _error(self, e: psycopg.Error, sql: str) -> Exception:
        statement = " ".join(sql.split())[:300]
        if isinstance(e, psycopg.OperationalError):
            # lock/statement timeouts, serialization failures, deadlocks, dropped connections: worth a retry
            return WarehouseBusy(
                f"PostgreSQL {self.url} is busy or went away ({e.sqlstate}): {str(e).strip()}; "
                f"run again\n  statement: {statement}"
            )
        if isinstance(e, psycopg.errors.UniqueViolation) and (e.diag.constraint_name or "").startswith("pg_"):
            # two first-ever loads racing to CREATE ... IF NOT EXISTS the same object: the retry finds it made
            return WarehouseBusy(f"concurrent DDL on {self.url} ({e.diag.constraint_name}); run again")
        if isinstance(e, psycopg.errors.UniqueViolation):
            return DuplicateKey(f"PostgreSQL refused a duplicate key: {str(e).strip()}\n  statement: {statement}")
        return WarehouseError(
            f"PostgreSQL statement failed ({e.sqlstate}): {str(e).strip()}\n  statement: {statement}"
        )

    # --- primitives --------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        try:
            with self.con.cursor() as cur:
                cur.execute(sql, params)
                changed = _CHANGES.match(cur.statusmessage or "")
                return cur.rowcount if changed else -1
        except psycopg.Error as e:
            raise self._error(e, sql) from e

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            with self.con.cursor() as cur:
                cur.executemany(sql, rows)
        except psycopg.Error as e:
            raise self._error(e, sql) from e

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self._query_with_names(sql, params)[0]

    def _query_with_names(self, sql, params):
        try:
            with self.con.cursor() as cur:
                cur.execute(sql, params)
                names = [d.name for d in cur.description or []]
                return cur.fetchall(), names
        except psycopg.Error as e:
            raise self._error(e, sql) from e

    def _rollback(self) -> None:
        try:
            self.con.execute("ROLLBACK")
        except psycopg.Error:  # the connection may be gone; the server rolls back on its own then
            pass

    def copy_parquet(self, table: str, store: Store, keys: list[str], columns: list[str]) -> int:
        if not keys:
            return 0
        started = time.perf_counter()
        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)"
        rows = 0
        try:
            with self.con.cursor() as cur, cur.copy(sql) as copy:
                for batch in parquet_batches(store, keys, columns):
                    copy.write(batch_to_csv(batch))
                    rows += batch.num_rows
        except psycopg.Error as e:
            raise self._error(e, sql) from e
        log.info(
            "copy %s: %d rows from %d files in %.2fs", table, rows, len(keys), time.perf_counter() - started
        )
        return rows

    def copy_first_run(self, f: Mapping[str, str], store: Store, keys: list[str], columns: list[str],
                       version: Mapping[str, Any]) -> int:
        # COPY fills the columns it is not given from their defaults, so the new version's values (load time, run)
        # become the history columns' defaults for this one copy. The ALTERs run inside the load's transaction, which
        # holds the table (created by it, on a first load) until COMMIT; nobody ever sees those defaults. Sent as
        # three constant CSV columns instead they tripled the text COPY parses (70 -> 203 MB for 1.6M rows; 2.6-2.9 s
        # against 1.4-1.9 s).
        table = f["history"]
        defaults = ", ".join(  # DDL takes no parameters: the values go in as quoted literals
            f'ALTER "{c}" SET DEFAULT {psycopg.sql.Literal(v).as_string(self.con)}' for c, v in version.items()
        )
        self.execute(f"ALTER TABLE {table} {defaults}")
        rows = self.copy_parquet(table, store, keys, columns)
        self.execute(f"ALTER TABLE {table} " + ", ".join(f'ALTER "{c}" DROP DEFAULT' for c in version))
        return rows

    def build_current_key_index(self, f: Mapping[str, str]) -> None:
        self.run_sql_file("postgres/current_key_index.sql", **f)

    def prepare_merge(self) -> None:
        for name, value in MERGE_SETTINGS.items():
            self.execute(f"SET LOCAL {name} = '{value}'")

    def close(self) -> None:
        self.con.close()
