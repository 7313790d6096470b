"""Fixtures for the Argo/Helm tests: generated manifests, a real helm binary, rendered chart documents."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from chart_support import ROOT, VALUES_FILES, helm_template


@pytest.fixture(scope="session")
def manifests() -> dict[str, dict]:
    """Freshly generated Argo manifests, keyed by file name."""
    from workflows.generate import build_manifests

    return build_manifests()


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of a real helm binary: tools/bin/helm, built with `make tools/bin/helm` when absent (as in CI)."""
    path = ROOT / "tools" / "bin" / "helm"
    if not path.exists():
        make = shutil.which("make")
        assert make, "make is needed to fetch helm (make tools/bin/helm)"
        subprocess.run([make, "-C", str(ROOT), "tools/bin/helm"], check=True, capture_output=True, text=True)
    assert path.exists(), f"{path} missing after `make tools/bin/helm`"
    return str(path)


@pytest.fixture(scope="session")
def rendered(helm) -> dict[str, list[dict]]:
    """`helm template` output for the default, kind and EKS values."""
    return {name: helm_template(helm, path) for name, path in VALUES_FILES.items()}
