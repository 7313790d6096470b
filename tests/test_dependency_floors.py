"""The declared dependency floors are the ones `make test-floors` runs the suite on (mk/floors.txt)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def declared_floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra, listed in project["optional-dependencies"].items():
        if extra not in ("all", "dev"):
            reqs += [Requirement(r) for r in listed]
    floors = {}
    for req in reqs:
        (low,) = [s.version for s in req.specifier if s.operator == ">="]  # every dependency declares one floor
        floors[req.name.lower() + "".join(f"[{e}]" for e in sorted(req.extras))] = low
    return floors


def pinned_floors() -> dict[str, str]:
    lines = (ROOT / "mk" / "floors.txt").read_text().splitlines()
    return dict(re.fullmatch(r"(\S+)==(\S+)", line).groups() for line in lines if line and not line.startswith("#"))


def test_floors_file_pins_every_declared_floor():
    declared, pinned = declared_floors(), pinned_floors()
    assert set(pinned) == set(declared)
    for name, low in declared.items():
        assert Version(pinned[name]) == Version(low), name  # 3.0 and 3.0.0 are one release
