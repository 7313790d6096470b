"""Staging: object stores behind one small interface (a local folder by default, S3 in production)."""

from multilevel.stage.base import Store, open_store, split_url

__all__ = ["Store", "open_store", "split_url"]
