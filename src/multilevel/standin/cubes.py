"""Which cubes the stand-in serves: the seeded demography datasets by size, and real fixture files.

The model lives in ``cube`` (Dimension, BaseCube, Cube, timestamps), the generators in ``demography`` (built
from ``synthetic``), the fixture loader in ``fixture``; this module is the registry the server asks.
"""

from __future__ import annotations

from functools import lru_cache

from multilevel.standin.cube import BaseCube, Cube, format_ts
from multilevel.standin.demography import make_pjangrp3, make_pjanind3
from multilevel.standin.fixture import fixture_cube

__all__ = ["GENERATORS", "SIZES", "BaseCube", "Cube", "base_cube", "fixture_cube", "format_ts"]

SIZES = ("small", "full")

GENERATORS = {"demo_r_pjangrp3": make_pjangrp3, "demo_r_pjanind3": make_pjanind3}


@lru_cache(maxsize=8)
def base_cube(code: str, size: str) -> BaseCube:
    """The generated cube for a synthetic dataset, made once per process (arrays are read-only)."""
    if size not in SIZES:
        raise ValueError(f"stand-in size {size!r} is unknown: use one of {', '.join(SIZES)}")
    cube = GENERATORS[code](size)
    cube.values.flags.writeable = False
    cube.status.flags.writeable = False
    return cube
