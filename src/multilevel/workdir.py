"""Temporary working folders that a killed run cannot leave behind for good.

Every ``multilevel-*`` folder the product makes under the temporary directory (``$TMPDIR``, else ``/tmp``) comes from
``work_dir``, which writes an owner file (host, process id, process start time) into it. A run that ends removes its
folder; a run that is killed (SIGKILL, OOM, a pulled plug) cannot, so the next harvest or ESS load calls
``remove_abandoned`` first: it deletes the folders whose owner process on this host is gone. Folders without an owner
file (made by something else) are never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "multilevel-"
OWNER_FILE = ".multilevel-owner"


def _start_ticks(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux), so a reused pid is not mistaken for the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5), counted after the command name


def _owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()} {pid} {_start_ticks(pid)}"


def _alive(owner: str) -> bool:
    """Whether the process named by an owner line still runs (unknown hosts and unreadable lines count as alive)."""
    try:
        host, pid_text, ticks = owner.split()
        pid = int(pid_text)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return ticks == "?" or _start_ticks(pid) in (ticks, "?")


@contextmanager
def work_dir(what: str) -> Iterator[Path]:
    """A fresh ``multilevel-{what}-*`` folder under the temporary directory, removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{what}-"))
    try:
        (path / OWNER_FILE).write_text(_owner())
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_abandoned(root: Path | None = None) -> list[Path]:
    """Delete the working folders of processes that died without cleaning up; returns what was removed."""
    base = Path(root or tempfile.gettempdir())
    removed = []
    for path in base.glob(f"{PREFIX}*"):
        marker = path / OWNER_FILE
        try:
            owner = marker.read_text()
        except OSError:  # not ours, or still being created
            continue
        if not _alive(owner):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        log.info("removed %d working folder(s) of killed runs: %s", len(removed), ", ".join(map(str, removed)))
    return removed
