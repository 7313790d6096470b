"""Run ids: the name of one harvest, check or ESS load in the stage folders, the load log and Argo.

A run id becomes a folder name in the stage (``eurostat/DATASET/RUN_ID/``), so it must be a single safe path
segment; a time-stamped default sorts by start time when read by a person.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from multilevel.errors import ConfigError

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def new_run_id() -> str:
    """A fresh run id: UTC start time and a random suffix (two runs in one second still differ)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_run_id(run_id: str) -> str:
    """Return ``run_id`` if it can name a run's stage folder, else raise ConfigError (``..`` never can)."""
    if not RUN_ID.match(run_id or "") or ".." in run_id:
        raise ConfigError(
            f"run id {run_id!r} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return run_id
