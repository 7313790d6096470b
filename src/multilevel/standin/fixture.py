"""Cubes loaded from real whole-dataset Statistics API JSON-stat files (tests/fixtures/eurostat)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from multilevel.standin.cube import BaseCube, Dimension


def load_jsonstat_file(path: Path) -> BaseCube:
    """A cube from a whole-dataset Statistics API JSON-stat file (e.g. the real hlth_ehis_hc8 sample)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    dims = []
    for dim_id in doc["id"]:
        spec = doc["dimension"][dim_id]
        index = spec["category"]["index"]
        codes = sorted(index, key=index.__getitem__) if isinstance(index, dict) else list(index)
        labels = spec["category"].get("label", {c: c for c in codes})
        dims.append(Dimension(dim_id, spec.get("label", dim_id), codes, labels))
    shape = tuple(doc["size"])
    values = np.full(int(np.prod(shape)), np.nan)
    status = np.zeros(values.size, dtype=np.int8)
    flags = [""]
    for key, value in doc.get("value", {}).items():
        values[int(key)] = np.nan if value is None else float(value)
    for key, flag in doc.get("status", {}).items():
        if flag not in flags:
            flags.append(flag)
        status[int(key)] = flags.index(flag)
    extension = doc["extension"]
    return BaseCube(
        code=extension["id"].lower(),
        label=doc["label"],
        dims=dims,
        values=values.reshape(shape),
        status=status.reshape(shape),
        flags=flags,
        annotations=extension["annotation"],
        dsd_version=extension.get("datastructure", {}).get("version", "1.0"),
    )


@lru_cache(maxsize=8)
def fixture_cube(path: str) -> BaseCube:
    """A cube loaded from a JSON-stat fixture file, loaded once per process (arrays are read-only)."""
    cube = load_jsonstat_file(Path(path))
    cube.values.flags.writeable = False
    cube.status.flags.writeable = False
    return cube
