"""The store interface (``open_store`` in the package face picks an implementation from a URL).

A store is rooted at a URL (``/data/stage``, ``file:///data/stage``, ``s3://bucket/prefix``); keys are
``/``-separated paths below it. Writes are atomic (a reader never sees half a file) and staged run files are
immutable: writing a key again is allowed only with identical bytes, so a retried step is harmless and a changed
file is an error instead of a silent overwrite.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

from multilevel.errors import StageError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Store(ABC):
    """An object store rooted at ``url``."""

    url: str
    # Whether a write must reach the disk before it returns (a folder fsyncs). Off for a step's intermediate
    # outputs (raw bodies, a validated slice before it is staged): losing one fails the next step clearly and the
    # run is retried, so paying an fsync per file buys nothing. Object stores are durable either way.
    durable: bool = True

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` atomically, replacing what was there."""

    @abstractmethod
    def upload(self, key: str, local_path: str | Path) -> None:
        """Copy a local file to ``key`` atomically (large files in parts where the store supports it)."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Return the bytes at ``key``; StageError naming the URL if it is missing."""

    @abstractmethod
    def download(self, key: str, local_path: str | Path) -> None:
        """Copy ``key`` to a local file."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys below ``prefix``, sorted."""

    @abstractmethod
    def checksum(self, key: str) -> str:
        """SHA-256 hex digest of the object at ``key``."""

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Delete the objects ``keys`` (missing ones are fine: a retried clean-up finds some gone)."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Bytes of the object at ``key`` (a Redshift COPY manifest must state them); StageError if it is missing."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """The local file behind ``key`` when the store is a folder on this machine (readers such as DuckDB then use
        it in place, no copy), or None for a remote store (download it instead)."""

    def url_for(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{key.lstrip('/')}"

    def put_immutable(self, key: str, data: bytes) -> str:
        """Write ``data`` once; rewriting the same bytes is a no-op, different bytes a StageError. Returns sha256."""
        return self._write_once(key, sha256_bytes(data), lambda: self.write_bytes(key, data))

    def upload_immutable(self, key: str, local_path: str | Path) -> str:
        """Upload a file once (same rule as put_immutable). Returns its sha256."""
        return self._write_once(key, sha256_file(local_path), lambda: self.upload(key, local_path))

    def _write_once(self, key: str, digest: str, write) -> str:
        # A retried step may write the same file again (harmless); anything else would silently change a run.
        if self.exists(key):
            if self.checksum(key) != digest:
                raise StageError(
                    f"{self.url_for(key)} already exists with different content; staged run files are immutable. "
                    "Start a new run (new run id) instead of rewriting this one."
                )
            return digest
        write()
        return digest

