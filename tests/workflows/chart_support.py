"""Paths and helpers shared by the Argo/Helm tests (a module of its own, so tests can import it by name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
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


def s3_bucket(s3_env: dict) -> tuple[object, str]:
    """A fresh bucket on the test S3 server, and a boto3 client for it."""
    client = boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"argo-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def local_cluster(helm: str, workdir: Path, *, eurostat_url: str, bucket: str, warehouse: str, s3_env: dict,
                  datasets: Path, extra_env: dict | None = None, helm_args: tuple[str, ...] = ()):
    """The chart rendered against local servers, run by LocalArgo as a cluster would: (argo, WorkflowTemplates).

    The pods see what the chart's ConfigMaps and Secrets give them, plus the package on PATH (what the image
    provides); nothing MULTILEVEL_* or AWS_* leaks in from this machine.
    """
    from workflows.local import LocalArgo  # importable once ROOT is on sys.path (above)

    env = {
        "AWS_ENDPOINT_URL": s3_env["AWS_ENDPOINT_URL"], "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "MULTILEVEL_DATASETS_FILE": str(datasets),
        **(extra_env or {}),
    }
    docs = helm_template(
        helm, None,
        "--set", f"settings.eurostatUrl={eurostat_url}",
        "--set", f"settings.stageUrl=s3://{bucket}/stage",
        "--set", f"settings.warehouseUrl={warehouse}",
        "--set", "stage.existingSecret=stage-keys",
        "--set-json", f"settings.extraEnv={json.dumps(env)}",
        *helm_args,
    )
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "WorkflowTemplate"}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("MULTILEVEL_", "AWS_"))}
    base_env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{base_env.get('PATH', '')}"
    argo = LocalArgo(
        configmaps,
        secrets={"stage-keys": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}},
        base_env=base_env,
        workdir=workdir,
        image_paths=[datasets],  # in a cluster the dataset configuration is part of the image
        workflow_templates=templates,  # what templateRef finds in the namespace
    )
    return argo, templates


def explain(run) -> str:
    """The failed (or otherwise unfinished) nodes of a LocalArgo run, with the end of their stderr."""
    return "\n".join(f"{n.path} {n.phase} exit={n.exit_code}\n{n.stderr[-1500:]}" for n in run.nodes
                     if n.phase not in ("Succeeded", "Skipped"))
