"""Amazon Redshift through redshift-connector.

URLs::

    redshift://user[:password]@cluster.xxxx.eu-west-1.redshift.amazonaws.com:5439/dev
    redshift+iam://user@cluster.xxxx.eu-west-1.redshift.amazonaws.com:5439/dev?cluster_identifier=cluster&region=eu-west-1
    redshift+iam://wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com:5439/dev?serverless_work_group=wg

``redshift+iam`` gets temporary database credentials with the AWS default credential chain (IRSA on EKS); a
password comes from the URL or ``MULTILEVEL_WAREHOUSE_PASSWORD`` / ``/run/secrets``. Query options are passed to
``redshift_connector.connect`` (only those in ``_OPTIONS``), plus ``copy_mode``:

* ``s3`` (default): staged files are loaded by Redshift itself, ``COPY ... FROM 's3://.../x.manifest' IAM_ROLE ...
  MANIFEST FORMAT AS PARQUET`` (``sql/redshift/copy_parquet.sql``), with ``MULTILEVEL_REDSHIFT_IAM_ROLE``;
* ``client``: the files listed in the same manifest are read from the store by this process and inserted in
  multi-row INSERTs. Slow, but it needs no S3 access from the server: the local test setup (PostgreSQL behind
  the tests' start-up filter) and nothing else should use it.

The history merge uses the staging-table form Redshift documents (``sql/eurostat/``; Redshift's distribution and sort
keys come from ``sql/dialects.toml``); loads of all datasets serialise on ``LOCK eurostat.load_log``, which also
prevents Redshift's serializable-isolation aborts; ESS loads on ``LOCK ess.respondents`` (the table they replace a
round of), so they need no Eurostat table.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import redshift_connector

from multilevel.errors import ConfigError, WarehouseBusy, WarehouseError
from multilevel.redaction import split_credentials
from multilevel.stage import Store
from multilevel.warehouse.base import Dialect, Warehouse, render_sql
from multilevel.warehouse.parquet import parquet_batches
from multilevel.warehouse.urls import password_for, redact

if TYPE_CHECKING:
    from multilevel.settings import Settings

log = logging.getLogger(__name__)

DIALECT = Dialect.load("redshift")

COPY_MODES = ("s3", "client")
INSERT_ROWS = 1000  # rows per multi-row INSERT in client mode, at most ...
# ... and at most this many bind parameters per statement (Redshift's limit is 32767: a 53-column ess.respondents
# row would exceed it at 1000 rows per INSERT).
MAX_BIND_PARAMETERS = 32767

_BOOL = {
    "true": True,
    "1": True,
    "yes": True,
    "on": True,
    "false": False,
    "0": False,
    "no": False,
    "off": False,
}
# URL query options passed through to redshift_connector.connect, with their types.
_OPTIONS: dict[str, type] = {
    "ssl": bool,
    "sslmode": str,
    "timeout": int,
    "iam": bool,
    "db_user": str,
    "cluster_identifier": str,
    "region": str,
    "profile": str,
    "auto_create": bool,
    "db_groups": list,
    "is_serverless": bool,
    "serverless_acct_id": str,
    "serverless_work_group": str,
    "role_arn": str,
    "application_name": str,
}
_BUSY_CODES = {"40001", "40P01", "55P03", "57014", "53300", "57P01", "08000", "08003", "08006"}
_IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()/=+-]+)?$")
_CHANGES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.I)


def connection_options(url: str, settings: Settings | None) -> tuple[dict[str, Any], str]:
    """(keyword arguments for redshift_connector.connect, copy mode) from a redshift:// or redshift+iam:// URL."""
    parts = urlsplit(split_credentials(url)[0])  # a password with unencoded '/', '#' or '?' must not split the URL
    if parts.scheme not in ("redshift", "redshift+iam") or not parts.hostname:
        raise ConfigError(
            f"Redshift URL {redact(url)!r} must look like redshift://user@host:5439/database "
            "or redshift+iam://user@host:5439/database?cluster_identifier=..."
        )
    kwargs: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or 5439,
        "database": unquote(parts.path.lstrip("/")) or "dev",
        "application_name": "multilevel",
    }
    copy_mode = "s3"
    for name, raw in parse_qsl(parts.query, keep_blank_values=True):
        if name == "copy_mode":
            if raw not in COPY_MODES:
                raise ConfigError(
                    f"copy_mode={raw!r} in the warehouse URL: use one of {', '.join(COPY_MODES)}"
                )
            copy_mode = raw
            continue
        kind = _OPTIONS.get(name)
        if kind is None:
            raise ConfigError(
                f"unknown option {name!r} in the Redshift URL; known: copy_mode, {', '.join(_OPTIONS)}"
            )
        if kind is bool:
            if raw.lower() not in _BOOL:
                raise ConfigError(f"option {name}={raw!r} in the Redshift URL must be true or false")
            kwargs[name] = _BOOL[raw.lower()]
        elif kind is int:
            kwargs[name] = int(raw)
        elif kind is list:
            kwargs[name] = [g for g in raw.split(",") if g]
        else:
            kwargs[name] = raw
    user = unquote(parts.username) if parts.username else None
    if parts.scheme == "redshift+iam":
        kwargs["iam"] = True
        if "serverless_work_group" in kwargs:
            kwargs["is_serverless"] = True
        if user:
            kwargs.setdefault("db_user", user)
            kwargs["user"] = user
    else:
        if not user:
            raise ConfigError(
                f"Redshift URL {redact(url)!r} names no user: redshift://user@host:5439/database"
            )
        kwargs["user"] = user
        password = password_for(url, settings)
        if password is None:
            raise ConfigError(
                f"no password for {redact(url)}: set MULTILEVEL_WAREHOUSE_PASSWORD (or the "
                "warehouse_password secret file), or use redshift+iam://"
            )
        kwargs["password"] = password
    return kwargs, copy_mode


def sql_literal(text: str, pattern: re.Pattern, what: str) -> str:
    """A single-quoted SQL literal for COPY (it takes no bind parameters), after a strict pattern check."""
    if not pattern.match(text):
        raise ConfigError(f"{what} {text!r} does not look valid for Redshift COPY")
    return "'" + text + "'"


def copy_manifest(store: Store, keys: list[str]) -> bytes:
    """A Redshift COPY manifest for staged Parquet files (content_length is required for Parquet)."""
    entries = [
        {"url": store.url_for(key), "mandatory": True, "meta": {"content_length": store.size(key)}} for key in keys
    ]
    return json.dumps({"entries": entries}, indent=1, sort_keys=True).encode()


def manifest_key(table: str, keys: list[str]) -> str:
    """Where the manifest goes: next to the staged files (their common folder), named after the target table."""
    folder = (
        posixpath.commonpath([posixpath.dirname(k) for k in keys])
        if len(keys) > 1
        else posixpath.dirname(keys[0])
    )
    name = re.sub(r"[^a-z0-9_]+", "", table.lower().split(".")[-1])
    return f"{folder}/redshift-copy-{name}.manifest" if folder else f"redshift-copy-{name}.manifest"


def copy_statement(template: str, table: str, manifest_url: str, iam_role: str | None) -> str:
    """Render the COPY template: literals only after strict checks, never credentials other than a role ARN."""
    if not iam_role:
        raise ConfigError(
            "Redshift COPY needs the IAM role the cluster assumes to read the stage: set "
            "MULTILEVEL_REDSHIFT_IAM_ROLE=arn:aws:iam::<account>:role/<name>"
        )
    text = render_sql(
        template,
        {
            "staging": table,
            "manifest_url": sql_literal(manifest_url, _S3_URL, "manifest URL"),
            "iam_role": sql_literal(iam_role, _IAM_ROLE, "IAM role"),
        },
    )
    return (
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        .strip()
        .rstrip(";")
    )


class RedshiftWarehouse(Warehouse):
    dialect = DIALECT

    def __init__(self, url: str, settings: Settings | None = None):
        self.url = redact(url)
        self.settings = settings
        kwargs, self.copy_mode = connection_options(url, settings)
        started = time.perf_counter()
        try:
            self.con = redshift_connector.connect(**kwargs)
        except (redshift_connector.Error, OSError) as e:
            detail = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
            # authentication and the like: retrying will not help. The client raises a ProgrammingError for some
            # and an InterfaceError for others (a wrong password, an unknown user), so the SQLSTATE decides:
            # class 28 (invalid authorization) and 3D000 (no such database)
            code = str(detail.get("C", ""))
            if isinstance(e, redshift_connector.ProgrammingError) or code.startswith("28") or code == "3D000":
                raise ConfigError(
                    f"Redshift {self.url} refused the connection: {self._message(e)}. Retrying cannot help: check "
                    "the user, the password (MULTILEVEL_WAREHOUSE_PASSWORD or the URL) and the database name"
                ) from None
            raise WarehouseBusy(
                f"cannot connect to Redshift {self.url}: {self._message(e)}; run again later"
            ) from e
        except Exception as e:  # noqa: BLE001 - the login's own libraries (scramp: a SCRAM mechanism it cannot use)
            raise ConfigError(
                f"Redshift {self.url} refused the connection: the login failed ({type(e).__name__}: {e}). Retrying "
                "cannot help: check the user, the password and how the server authenticates"
            ) from None
        # Explicit BEGIN/COMMIT (transaction()), every other statement on its own, as with PostgreSQL.
        self.con.autocommit = True
        log.info(
            "connected to %s (copy mode %s) in %.2fs", self.url, self.copy_mode, time.perf_counter() - started
        )

    # --- errors ------------------------------------------------------------------------------------------------
    @staticmethod
    def _message(e: Exception) -> str:
        detail = e.args[0] if e.args else e
        if isinstance(detail, dict):  # the server's error fields: S severity, C SQLSTATE, M message
            return f"{detail.get('M', '')} ({detail.get('C', '')})"
        return str(detail)

    def _error(self, e: Exception, sql: str) -> Exception:
        statement = " ".join(sql.split())[:300]
        detail = e.args[0] if e.args and isinstance(e.args[0], dict) else {}
        message = self._message(e)
        if (
            isinstance(e, (redshift_connector.InterfaceError, redshift_connector.OperationalError, OSError))
            or detail.get("C") in _BUSY_CODES
            or "Serializable isolation violation" in message
        ):
            return WarehouseBusy(
                f"Redshift {self.url} is busy or went away: {message}; run again\n  statement: {statement}"
            )
        return WarehouseError(f"Redshift statement failed: {message}\n  statement: {statement}")

    # --- primitives --------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        cursor = self.con.cursor()
        try:
            cursor.execute(sql, tuple(params) if params is not None else None)
            return cursor.rowcount if _CHANGES.match(sql) else -1
        except (redshift_connector.Error, OSError) as e:
            raise self._error(e, sql) from e
        finally:
            cursor.close()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # The connector's executemany is one round trip per row; a multi-row VALUES list is one per INSERT_ROWS.
        match = re.match(r"(?is)^(\s*INSERT\s+INTO\s+.+?\s+VALUES\s*)(\(.*\))\s*$", sql)
        if not match:
            return super().executemany(sql, rows)
        head, row_sql = match.groups()
        per_statement = max(1, min(INSERT_ROWS, MAX_BIND_PARAMETERS // max(1, row_sql.count("%s"))))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            self.execute(head + ", ".join([row_sql] * len(chunk)), [v for row in chunk for v in row])

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self._query_with_names(sql, params)[0]

    def _query_with_names(self, sql, params):
        cursor = self.con.cursor()
        try:
            cursor.execute(sql, tuple(params) if params is not None else None)
            names = [d[0] for d in cursor.description or []]
            return [tuple(r) for r in cursor.fetchall()], names
        except (redshift_connector.Error, OSError) as e:
            raise self._error(e, sql) from e
        finally:
            cursor.close()

    def _rollback(self) -> None:
        try:
            self.execute("ROLLBACK")
        except WarehouseBusy:  # the connection is gone; the server rolls back on its own
            pass

    # --- bulk load ---------------------------------------------------------------------------------------------
    def copy_statement(self, table: str, manifest_url: str) -> str:
        """The COPY of ``sql/redshift/copy_parquet.sql`` for ``table`` and a staged manifest."""
        role = getattr(self.settings, "redshift_iam_role", None) if self.settings is not None else None
        return copy_statement(self.sql_file("redshift/copy_parquet.sql"), table, manifest_url, role)

    def copy_parquet(self, table: str, store: Store, keys: list[str], columns: list[str]) -> int:
        if not keys:
            return 0
        started = time.perf_counter()
        if self.copy_mode == "s3" and not store.url.startswith("s3://"):
            raise ConfigError(
                f"Redshift loads staged files from S3, but the stage is {store.url}: set "
                "MULTILEVEL_STAGE_URL=s3://bucket/prefix (or copy_mode=client for local tests)"
            )
        key = manifest_key(table, keys)
        store.put_immutable(key, copy_manifest(store, keys))  # same files, same bytes: a rerun is a no-op
        if self.copy_mode == "s3":
            self.execute(self.copy_statement(table, store.url_for(key)))
            rows = int(self.query("SELECT pg_last_copy_count()")[0][0])
        else:
            rows = self._insert_from_manifest(table, store, key, columns)
        log.info(
            "copy %s (%s): %d rows from %d files via %s in %.2fs",
            table,
            self.copy_mode,
            rows,
            len(keys),
            store.url_for(key),
            time.perf_counter() - started,
        )
        return rows

    def _insert_from_manifest(self, table: str, store: Store, key: str, columns: list[str]) -> int:
        """Client-side stand-in for COPY: the files the manifest lists, read here and inserted in multi-row INSERTs."""
        base = store.url.rstrip("/") + "/"
        keys = []
        for entry in json.loads(store.read_bytes(key))["entries"]:
            if not entry["url"].startswith(base):
                raise ConfigError(
                    f"manifest {store.url_for(key)} lists {entry['url']}, outside the stage {store.url}"
                )
            keys.append(entry["url"][len(base) :])
        cols = ", ".join(f'"{c}"' for c in columns)
        row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
        rows = 0
        for batch in parquet_batches(store, keys, columns):
            values = list(zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True))
            self.executemany(f"INSERT INTO {table} ({cols}) VALUES {row_sql}", values)
            rows += len(values)
        return rows

    def close(self) -> None:
        try:
            self.con.close()
        except (redshift_connector.Error, OSError):
            pass
