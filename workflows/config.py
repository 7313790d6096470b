"""What the manifests are generated from: the dataset configuration file and the project version.

workflows/ reads the files a user edits (``src/multilevel/datasets.yaml``, ``pyproject.toml``), not the library's
classes: the manifests describe the cluster side of the CLI contract, and generating them must not depend on what
the step library happens to import.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATASETS_FILE = ROOT / "src" / "multilevel" / "datasets.yaml"
PYPROJECT = ROOT / "pyproject.toml"
# Eurostat publishes at 11:00 and 23:00 Brussels time; a dataset without `schedule` runs half an hour later.
DEFAULT_SCHEDULE = ("30 11 * * *", "30 23 * * *")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class ScheduledDataset:
    """The part of one dataset entry that the CronWorkflows need."""

    code: str
    description: str
    schedule: tuple[str, ...]


def datasets(path: Path | None = None) -> list[ScheduledDataset]:
    """Every entry of the dataset configuration file, checked only as far as the manifests need."""
    path = Path(path or DATASETS_FILE)
    entries = (yaml.safe_load(path.read_text()) or {}).get("datasets")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty `datasets:` list")
    found = []
    for entry in entries:
        code = str(entry.get("code", "")).lower()
        if not _CODE.match(code):
            raise ValueError(f"{path}: dataset code {entry.get('code')!r} is not a Eurostat code like demo_r_pjangrp3")
        schedule = entry.get("schedule") or DEFAULT_SCHEDULE
        schedule = (schedule,) if isinstance(schedule, str) else tuple(schedule)
        found.append(ScheduledDataset(code, entry.get("description") or "", schedule))
    return found


def version() -> str:
    """The project version (pyproject.toml): the tag of every step image."""
    return tomllib.loads(PYPROJECT.read_text())["project"]["version"]
