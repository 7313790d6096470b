"""Paths and helpers shared by the Argo/Helm tests (a module of its own, so tests can import it by name)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "multilevel"
VALUES_FILES = {"default": None, "kind": CHART / "values-kind.yaml", "eks": CHART / "values-eks.yaml"}
NAMESPACE = "multilevel-test"
RELEASE = "multilevel"  # the release name the docs use; other names prefix every object (test_argo_chart.py)

if str(ROOT) not in sys.path:  # `workflows/` lives at the repo root, beside src/
    sys.path.insert(0, str(ROOT))


def helm_template(helm: str, values: Path | None, *extra: str) -> list[dict]:
    """Every document `helm template` renders for the chart with a values file."""
    cmd = [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if values:
        cmd += ["-f", str(values)]
    out = subprocess.run(cmd + list(extra), check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]
