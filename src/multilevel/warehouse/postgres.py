"""PostgreSQL through psycopg 3: the warehouse of a kind cluster and of the tests.

Staged Parquet streams from the store into ``COPY ... FROM STDIN``: pyarrow reads record batches and writes them as
CSV text, so a file never has to fit in memory and no row passes through Python objects one by one.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from multilevel.errors import ConfigError, WarehouseBusy, WarehouseError
from multilevel.redaction import redact_url, split_credentials
from multilevel.stage import Store
from multilevel.warehouse.base import Dialect, Warehouse
from multilevel.workdir import work_dir

if TYPE_CHECKING:
    from multilevel.settings import Settings

log = logging.getLogger(__name__)

# hashtext() maps the text key ("multilevel:eurostat:demo_r_pjangrp3") to the integer an advisory lock needs;
# the _xact_ form is released by COMMIT/ROLLBACK, or by the server when the client dies.
DIALECT = Dialect(name="postgres", lock_sql="SELECT pg_advisory_xact_lock(hashtext(%s))")

BATCH_ROWS = 64_000
# A second loader of the same dataset waits for the first this long, then exits 75 and is retried later.
LOCK_TIMEOUT = "10min"
_CHANGES = re.compile(r"^(INSERT|UPDATE|DELETE|MERGE|COPY)\b")
# Connection failures a retry cannot fix (libpq reports them without a SQLSTATE, so by their text): wrong password,
# unknown role or database, no pg_hba.conf entry. Everything else (refused, timeout, too many clients) is transient.
_REFUSED_FOR_GOOD = re.compile(
    r"authentication failed|does not exist|no pg_hba\.conf entry|not permitted to log in|password is required|"
    r"permission denied for database",
    re.I,
)


def redact(url: str) -> str:
    """The URL without its password (what logs and error messages may show), even with unencoded delimiters."""
    return redact_url(url)


def password_for(url: str, settings: Settings | None) -> str | None:
    """The password: from the URL if it has one, else settings.warehouse_password (env or /run/secrets)."""
    password = split_credentials(url)[1]
    if password is not None:
        return password
    secret = getattr(settings, "warehouse_password", None) if settings is not None else None
    return secret.get_secret_value() if secret is not None else None


@contextmanager
def parquet_file(store: Store, key: str) -> Iterator[pq.ParquetFile]:
    """Open a staged Parquet file for batch reading: in place for a folder store, else via a temporary download."""
    local = getattr(store, "local_path", None)
    if local is not None:
        with pq.ParquetFile(local(key)) as f:
            yield f
        return
    with work_dir("copy") as tmp:
        path = tmp / "part.parquet"
        store.download(key, path)
        with pq.ParquetFile(path) as f:
            yield f


def parquet_batches(store: Store, keys: list[str], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of the staged files, columns in the given order (a missing column is a clear error)."""
    for key in keys:
        with parquet_file(store, key) as f:
            missing = [c for c in columns if c not in f.schema_arrow.names]
            if missing:
                raise WarehouseError(
                    f"{store.url_for(key)} lacks columns {missing} (it has {f.schema_arrow.names})"
                )
            yield from f.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def batch_to_csv(batch: pa.RecordBatch) -> bytes:
    """CSV text for COPY: NULL is an empty unquoted field, an empty string is ``""`` (PostgreSQL's CSV rules)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, write_options=pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()


class PostgresWarehouse(Warehouse):
    dialect = DIALECT

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

    def _begin(self) -> None:
        self.execute("BEGIN")

    def _commit(self) -> None:
        self.execute("COMMIT")

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

    def close(self) -> None:
        self.con.close()
