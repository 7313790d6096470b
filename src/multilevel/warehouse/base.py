"""The warehouse interface.

A warehouse does a handful of things: run SQL (``execute``, ``query``), group statements in one transaction,
run a SQL file from ``sql/``, and bulk-copy staged Parquet files into a table. Everything the product does on top
(the history merge, the ESS load, the views) is written once against this interface; what differs between DuckDB,
PostgreSQL and Redshift is data: a ``Dialect``, read from ``sql/dialects.toml`` (lock statement, table attributes
such as Redshift's DISTKEY/SORTKEY, extra indexes), filled into the one common SQL file per object.
"""

from __future__ import annotations

import logging
import re
import time
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multilevel import paths
from multilevel.datasets import check_identifier
from multilevel.errors import ConfigError, MultilevelError, WarehouseError

if TYPE_CHECKING:
    import pandas as pd

    from multilevel.stage import Store

log = logging.getLogger(__name__)


DIALECTS_FILE = "dialects.toml"
STAGING_KINDS = ("TEMP", "UNLOGGED")


@dataclass(frozen=True)
class Dialect:
    """What differs between warehouses, as data (``sql/dialects.toml`` says what each field means)."""

    name: str
    # Statement that serialises loads of one object within a transaction: a %s placeholder binds the lock key (an
    # advisory lock), a {table} placeholder takes the table the load writes (a table lock, where there is no other).
    lock_sql: str = ""
    # SQL file (path under sql/ without .sql) -> what fills its CREATE TABLE's {table_attributes}
    table_attributes: Mapping[str, str] = field(default_factory=dict)
    # SQL file -> statements run right after it
    indexes: Mapping[str, str] = field(default_factory=dict)
    # COLLATE clause of the code columns (dimensions, time_period) of a history table; "" keeps the default
    code_collation: str = ""
    # how a load's staging table is created: TEMP (session-private) or UNLOGGED (in the dataset's schema)
    staging_kind: str = "TEMP"
    # whether a load refreshes the staging table's planner statistics before the merge joins it
    analyze_staging: bool = True

    @classmethod
    def load(cls, name: str) -> Dialect:
        """The dialect ``name`` as ``sql/dialects.toml`` describes it."""
        path = paths.SQL_DIR / DIALECTS_FILE
        try:
            with open(path, "rb") as f:
                entry = tomllib.load(f).get(name)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read {path} ({e}); is MULTILEVEL_SQL_DIR right?") from e
        if entry is None:
            raise ConfigError(f"{path} has no [{name}] section")
        known = ["lock", "table_attributes", "indexes", "code_collation", "staging_kind", "analyze_staging"]
        unknown = set(entry) - set(known)
        if unknown:
            raise ConfigError(f"{path} [{name}]: unknown keys {sorted(unknown)}; known: {', '.join(known)}")
        staging_kind = entry.get("staging_kind", "TEMP")
        if staging_kind not in STAGING_KINDS:
            raise ConfigError(
                f"{path} [{name}]: staging_kind {staging_kind!r} is not one of {', '.join(STAGING_KINDS)}"
            )
        return cls(
            name=name,
            lock_sql=entry.get("lock", ""),
            table_attributes={k: " ".join(v.split()) for k, v in entry.get("table_attributes", {}).items()},
            indexes={k: v.strip() for k, v in entry.get("indexes", {}).items()},
            code_collation=entry.get("code_collation", ""),
            staging_kind=staging_kind,
            analyze_staging=bool(entry.get("analyze_staging", True)),
        )

    def sql(self, relpath: str) -> str:
        """The text of ``sql/<relpath>`` as this dialect runs it: its table attributes in place of
        ``{table_attributes}`` (nothing where it has none), its extra statements after."""
        path = paths.SQL_DIR / relpath
        if not path.is_file():
            raise ConfigError(f"SQL file sql/{relpath} not found under {paths.SQL_DIR}; is MULTILEVEL_SQL_DIR right?")
        text = path.read_text()
        name = relpath.removesuffix(".sql")
        attributes = self.table_attributes.get(name, "")
        if attributes and "{table_attributes}" not in text:
            raise ConfigError(f"{DIALECTS_FILE} gives [{self.name}] table attributes for sql/{relpath}, "
                              "which has no {table_attributes} placeholder")
        text = text.replace("{table_attributes}", attributes)
        if name in self.indexes:
            text = text.rstrip() + "\n" + self.indexes[name] + "\n"
        return text


def quote(name: str) -> str:
    """Quote an identifier after checking it against the strict pattern (lower-case letters, digits, '_')."""
    return '"' + check_identifier(name) + '"'


def qualified(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def render_sql(text: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders (identifiers and clause fragments the caller built from quoted identifiers)."""

    def fill(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise WarehouseError(f"SQL template needs {{{key}}} but it was not given")
        return values[key]

    return _PLACEHOLDER.sub(fill, text)


def split_statements(text: str) -> list[str]:
    """Split a SQL file on ';' at line ends (our files keep one statement per ';' and no ';' inside strings)."""
    without_comments = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", without_comments) if s.strip()]


class Warehouse(ABC):
    """A connection to one warehouse. Use as a context manager or call ``close()``."""

    dialect: Dialect
    url: str  # always without password
    # True where a unique index keeps at most one current row per observation key in every history table, refusing a
    # second one with ``DuplicateKey`` (PostgreSQL); DuckDB and Redshift have no such index.
    unique_current_keys: bool = False

    # --- the four primitives every warehouse implements -------------------------------------------------------
    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run one statement (``%s`` placeholders); return the number of rows it changed (or -1)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one query and return all rows."""

    # Plain SQL on every warehouse; _rollback differs (what a dead connection raises), so each implements it.
    def _begin(self) -> None:
        self.execute("BEGIN")

    def _commit(self) -> None:
        self.execute("COMMIT")

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def copy_parquet(self, table: str, store: Store, keys: list[str], columns: list[str]) -> int:
        """Bulk-load the staged Parquet files ``keys`` of ``store`` into ``table`` (columns in this order)."""

    @abstractmethod
    def close(self) -> None: ...

    # --- shared behaviour ------------------------------------------------------------------------------------
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows (small inserts such as labels)."""
        for row in rows:
            self.execute(sql, row)

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        import pandas as pd

        rows, names = self._query_with_names(sql, params)
        return pd.DataFrame.from_records(rows, columns=names)

    @abstractmethod
    def _query_with_names(self, sql: str, params: Sequence[Any] | None) -> tuple[list[tuple], list[str]]:
        """Rows and column names of one query."""

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Everything inside commits together or not at all."""
        self._begin()
        try:
            yield self
        except BaseException:
            self._rollback()
            raise
        try:
            self._commit()
        except MultilevelError as e:
            self._rollback()  # a failed COMMIT leaves nothing written; make sure the connection is clean again
            raise type(e)(f"COMMIT failed, nothing of this transaction was written: {e}") from None

    def sql_file(self, relpath: str) -> str:
        """The text of ``sql/<relpath>`` as this warehouse's dialect runs it (see ``Dialect.sql``)."""
        return self.dialect.sql(relpath)

    def run_sql_file(self, relpath: str, params: Sequence[Any] | None = None, **fragments: str) -> int:
        """Run every statement of a SQL file; ``fragments`` fill ``{name}`` placeholders. Returns rows changed."""
        started = time.perf_counter()
        changed = 0
        for statement in split_statements(render_sql(self.sql_file(relpath), fragments)):
            count = self.execute(statement, params if "%s" in statement else None)
            changed += max(count, 0)
        log.debug("sql %s: %d rows in %.2fs", relpath, changed, time.perf_counter() - started)
        return changed

    def relation_exists(self, schema: str, name: str) -> bool:
        rows = self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        )
        return rows[0][0] > 0

    def columns_of(self, schema: str, name: str) -> list[str]:
        rows = self.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (schema, name),
        )
        return [r[0] for r in rows]

    def analyze(self, *tables: str) -> None:
        """Refresh the planner statistics of freshly loaded tables (``schema.name``, checked identifiers).

        Run after the load commits. PostgreSQL's autovacuum analyses a new table only after a while, and until then
        plans the context view's joins as if every table had one row (measured: 10.7 s instead of 65 ms for 3000
        respondents). DuckDB and Redshift accept the same statement (Redshift skips it when little changed).
        """
        for table in tables:
            schema, name = table.split(".", 1)
            self.execute(f"ANALYZE {qualified(schema, name)}")
        log.debug("analyzed %s", ", ".join(tables))

    def prepare_merge(self) -> None:
        """Planner settings for the history merge, for the rest of the transaction (PostgreSQL); a no-op elsewhere."""
        return None

    def copy_first_run(self, f: Mapping[str, str], store: Store, keys: list[str], columns: list[str],
                       version: Mapping[str, Any]) -> int | None:
        """Copy a dataset's first run straight into its empty history table ``f["history"]`` (``columns`` from the
        staged files, the other columns set to ``version``) and return the rows copied; None where the warehouse
        loads a first run like any other, through the staging table (the default)."""
        return None

    def build_current_key_index(self, f: Mapping[str, str]) -> None:
        """After a first run copied straight into the history: build the unique current-key index (raising
        ``DuplicateKey`` when a key is there twice) where the warehouse keeps one (``unique_current_keys``)."""
        return None

    def checkpoint(self) -> None:
        """Persist and compact after a load where the warehouse needs to be told (DuckDB); a no-op elsewhere."""
        return None

    def lock(self, key: str, table: str) -> None:
        """Serialise concurrent loads of the same object (a dataset, an ESS round) inside a transaction.

        ``key`` names the object (advisory locks, PostgreSQL); ``table`` (``schema.name``, an existing table the load
        writes) is what a table lock takes (Redshift), so an ESS load never depends on the Eurostat tables.
        """
        if self.dialect.lock_sql:
            schema, name = table.split(".", 1)
            sql = render_sql(
                self.dialect.lock_sql,
                {"table": f"{check_identifier(schema, 'schema')}.{check_identifier(name, 'table')}"},
            )
            self.execute(sql, (key,) if "%s" in sql else None)

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

