"""Warehouses behind one small interface: DuckDB (default), PostgreSQL, Amazon Redshift.

``connect(url)`` picks the implementation from the URL's scheme through ``WAREHOUSES``, a registry of
``"module:Class"`` strings imported only when a URL asks for one (as dlt names its destinations). So the interface
(``base``) knows no implementation, and each implementation imports only its own driver: ``multilevel[redshift]``
alone (no psycopg) loads Redshift, the core install alone DuckDB.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from multilevel.errors import ConfigError
from multilevel.warehouse.base import Dialect, Warehouse, quote

if TYPE_CHECKING:
    from multilevel.settings import Settings

# URL scheme -> (implementation, the pip extra that brings its driver)
WAREHOUSES: dict[str, tuple[str, str | None]] = {
    "duckdb": ("multilevel.warehouse.duckdb:DuckDBWarehouse", None),
    "postgresql": ("multilevel.warehouse.postgres:PostgresWarehouse", "postgres"),
    "postgres": ("multilevel.warehouse.postgres:PostgresWarehouse", "postgres"),
    "redshift": ("multilevel.warehouse.redshift:RedshiftWarehouse", "redshift"),
    "redshift+iam": ("multilevel.warehouse.redshift:RedshiftWarehouse", "redshift"),
}


def warehouse_class(url: str) -> type[Warehouse]:
    """The Warehouse class for ``url``'s scheme, imported now (ConfigError for an unknown scheme or missing extra)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in WAREHOUSES:
        raise ConfigError(
            f"unsupported warehouse URL scheme {scheme!r}: use duckdb:///path.duckdb, postgresql://... "
            "or redshift://..."
        )
    target, extra = WAREHOUSES[scheme]
    module_name, class_name = target.split(":")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as e:
        if extra is None or (e.name or "").startswith("multilevel"):
            raise
        raise ConfigError(
            f"the {scheme}:// warehouse needs {e.name}, which is not installed: pip install 'multilevel[{extra}]'"
        ) from e
    return getattr(module, class_name)


def connect(url: str, settings: Settings | None = None) -> Warehouse:
    """Open the warehouse named by ``url`` (``duckdb:///path``, ``postgresql://...``, ``redshift://...``)."""
    return warehouse_class(url)(url, settings)


__all__ = ["WAREHOUSES", "Dialect", "Warehouse", "connect", "quote", "warehouse_class"]
