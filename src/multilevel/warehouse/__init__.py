"""Warehouses behind one small interface: DuckDB (default), PostgreSQL, Amazon Redshift."""

from multilevel.warehouse.base import Dialect, Warehouse, connect, quote

__all__ = ["Dialect", "Warehouse", "connect", "quote"]
