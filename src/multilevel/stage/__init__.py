"""Staging: object stores behind one small interface (a local folder by default, S3 in production).

``open_store(url)`` picks the implementation from the URL's scheme through ``STORES``, a registry of
``"module:Class"`` strings imported only when a URL asks for one, so the interface (``base``) knows no
implementation and a folder stage never imports boto3's S3 machinery.
"""

from __future__ import annotations

from importlib import import_module
from urllib.parse import urlparse

from multilevel.errors import StageError
from multilevel.stage.base import Store

# URL scheme -> implementation ("" is a plain path; a one-letter scheme is a Windows drive, also a folder)
STORES: dict[str, str] = {
    "": "multilevel.stage.folder:FolderStore",
    "file": "multilevel.stage.folder:FolderStore",
    "s3": "multilevel.stage.s3:S3Store",
}


def store_class(url: str) -> type[Store]:
    """The Store class for ``url``'s scheme, imported now (StageError for an unknown scheme)."""
    scheme = urlparse(url).scheme
    if len(scheme) == 1 and url[1:3] in (":\\", ":/"):
        scheme = ""
    if scheme not in STORES:
        raise StageError(f"unsupported stage URL {url!r}: use a folder path, file:///path or s3://bucket/prefix")
    module_name, class_name = STORES[scheme].split(":")
    return getattr(import_module(module_name), class_name)


def open_store(url: str, *, durable: bool = True) -> Store:
    """Return the store for ``url``: ``s3://bucket/prefix``, ``file:///path`` or a plain path.

    ``durable=False`` for a step's intermediate files (see ``Store.durable``).
    """
    store = store_class(url)(url)
    store.durable = durable
    return store


def split_url(url: str, *, durable: bool = True) -> tuple[Store, str]:
    """Split an object URL into (store of its parent, key).

    Example: ``s3://b/p/run/plan.json`` -> (store at s3://b/p/run, ``plan.json``).
    """
    base, _, key = url.rstrip("/").rpartition("/")
    if not key:
        raise StageError(f"{url!r} does not name an object")
    if url.startswith("/") and base == "":
        base = "/"
    return open_store(base or ".", durable=durable), key


__all__ = ["STORES", "Store", "open_store", "split_url", "store_class"]
