"""A store in a local folder: the default stage, and the working area of a local run."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from multilevel.errors import StageError
from multilevel.stage.base import Store, sha256_file


def _path_of(url: str) -> Path:
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)


class FolderStore(Store):
    """Objects are files below a root folder; writes go to a temporary file first, then rename (atomic)."""

    def __init__(self, url: str):
        self.root = _path_of(url).resolve()
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root != path and self.root not in path.parents:
            raise StageError(f"key {key!r} points outside the stage folder {self.root}")
        return path

    def _atomic_write(self, key: str, write) -> None:
        target = self._path(key)
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                write(f)
                if self.durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as e:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if isinstance(e, OSError):  # disk full, read-only, permissions: a clear error, not a traceback
                hint = (
                    "the disk is full: free space there and run again"
                    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
                    else "check that the folder exists and is writable"
                )
                raise StageError(f"cannot write {self.url_for(key)}: {e.strerror or e}; {hint}") from None
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda f: f.write(data))

    def upload(self, key: str, local_path: str | Path) -> None:
        def copy(f):
            with open(local_path, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)

        self._atomic_write(key, copy)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StageError(f"{self.url_for(key)} does not exist; did the step that writes it run?") from None

    def download(self, key: str, local_path: str | Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise StageError(f"{self.url_for(key)} does not exist; did the step that writes it run?")
        if source != Path(local_path).resolve():
            shutil.copyfile(source, local_path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")
        )

    def checksum(self, key: str) -> str:
        if not self.exists(key):
            raise StageError(f"{self.url_for(key)} does not exist")
        return sha256_file(self._path(key))

    def delete(self, keys: list[str]) -> None:
        folders = set()
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            folders.update(p for p in path.parents if self.root in p.parents)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):  # deepest first
            try:
                folder.rmdir()  # only if now empty
            except OSError:
                pass

    def size(self, key: str) -> int:
        if not self.exists(key):
            raise StageError(f"{self.url_for(key)} does not exist")
        return self._path(key).stat().st_size

    def local_path(self, key: str) -> Path:
        return self._path(key)
