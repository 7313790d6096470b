"""Where the project's shipped files live: ``sql/`` and ``data/`` (next to ``src/`` in a checkout or an image)."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# src/multilevel -> repo root. Images copy sql/ and data/ to the same place relative to the installed source.
ROOT = Path(os.environ.get("MULTILEVEL_ROOT", _PACKAGE.parent.parent))
SQL_DIR = Path(os.environ.get("MULTILEVEL_SQL_DIR", _PACKAGE / "sql"))
DATA_DIR = Path(os.environ.get("MULTILEVEL_DATA_DIR", ROOT / "data"))
