"""What a cluster admin would scan: checkov on the rendered chart and the Dockerfiles, and the Kubernetes OpenAPI
schema for every non-Argo object (Argo's own kinds are checked against Argo's schemas in test_argo_chart.py).

checkov runs once per session over all three rendered value sets and all Dockerfiles (it takes a few seconds);
it lives in its own virtualenv (make tools/checkov/bin/checkov, see mk/tools.mk for why).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from chart_support import CHART, ROOT, VALUES_FILES

from workflows import validate

CHECKOV = ROOT / "tools" / "checkov" / "bin" / "checkov"
SKIPS_FILE = ROOT / "charts" / "checkov-skips.yaml"
DOCKERFILES = sorted((ROOT / "images").glob("**/Dockerfile"))
# The kubectl `make tools` ships is 1.34; 1.36 is the newest minor release kubernetes-validate 1.37 knows as GA.
KUBERNETES_VERSIONS = ["1.34.0", "1.36.0"]


def _skips() -> list[dict]:
    return yaml.safe_load(SKIPS_FILE.read_text())["skips"]


@pytest.fixture(scope="session")
def rendered_files(helm, tmp_path_factory) -> dict[str, str]:
    """`helm template` output per values set, as files (what checkov and an admin would read)."""
    folder = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, values in VALUES_FILES.items():
        cmd = [helm, "template", "multilevel", str(CHART), "--namespace", "multilevel"]
        cmd += ["-f", str(values)] if values else []
        path = folder / f"{name}.yaml"
        path.write_text(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        files[name] = str(path)
    return files


@pytest.fixture(scope="session")
def checkov_reports(rendered_files) -> list[dict]:
    if not CHECKOV.exists():
        subprocess.run(["make", "-C", str(ROOT), "tools/checkov/bin/checkov"], check=True, capture_output=True,
                       text=True, timeout=1200)
    skips = ",".join(s["id"] for s in _skips())
    done = subprocess.run(
        [str(CHECKOV), "--skip-download", "--framework", "kubernetes", "dockerfile", "--skip-check", skips,
         "--output", "json", "--file", *rendered_files.values(), *map(str, DOCKERFILES)],
        capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / "tools")},
    )
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


def test_checkov_finds_no_failed_check_in_the_chart_or_the_images(checkov_reports, rendered_files):
    by_framework = {r["check_type"]: r for r in checkov_reports}
    assert set(by_framework) == {"kubernetes", "dockerfile"}
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for r in checkov_reports for c in r["results"]["failed_checks"]
    ]
    assert failed == []
    # It really looked at everything: every rendered values set and every Dockerfile passed checks.
    scanned = {c["file_path"] for r in checkov_reports for c in r["results"]["passed_checks"]}
    assert {Path(f).name for f in scanned} >= {"default.yaml", "kind.yaml", "eks.yaml", "Dockerfile"}
    assert len([f for f in scanned if f.endswith("/Dockerfile")]) == len(DOCKERFILES) >= 1


def test_every_skipped_check_is_listed_once_with_its_reason(checkov_reports):
    skips = _skips()
    ids = [s["id"] for s in skips]
    assert len(ids) == len(set(ids))
    for skip in skips:
        assert len(skip.get("reason", "").split()) >= 10, f"{skip['id']}: say why it is skipped"
    used = {c["check_id"] for r in checkov_reports for c in r["results"]["skipped_checks"]}
    assert used <= set(ids)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_non_argo_object_is_valid_kubernetes(rendered, version):
    kinds = set()
    for name, docs in rendered.items():
        for doc in docs:
            if doc["kind"] in validate.ARGO_KINDS:
                continue
            kinds.add(doc["kind"])
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']} is not valid Kubernetes {version}: {e}")
    assert {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "Job",
            "NetworkPolicy"} <= kinds


def test_the_openapi_check_catches_a_wrong_field(rendered):
    doc = next(d for d in rendered["kind"] if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


# Kubernetes Pod Security Standards, profile "restricted" (kubernetes.io/docs/concepts/security/pod-security-standards)
ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
                   "secret"}


def restricted_violations(pod: dict, containers: list[dict]) -> list[str]:
    found = []
    pod_sc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(key)
    for volume in pod.get("volumes") or []:
        if not set(volume) - {"name"} <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']}")
    for c in containers:
        sc, name = c.get("securityContext") or {}, c.get("name")
        caps = sc.get("capabilities") or {}
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation must be false")
        if "ALL" not in (caps.get("drop") or []) or set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities must drop ALL")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile")
    return found


def test_every_pod_passes_pod_security_restricted(rendered):
    """What `make kind-up` enforces on the namespace: the dev services' pods, and every step pod as Argo builds it
    (our container plus Argo's init and wait containers with charts/argo-workflows-values.yaml's
    executor.securityContext; workflowpod.go newExecContainer; Argo's own volumes are emptyDirs)."""
    executor = yaml.safe_load((ROOT / "charts" / "argo-workflows-values.yaml").read_text())["executor"]
    argo_volumes = [{"name": "var-run-argo", "emptyDir": {}}, {"name": "tmp-dir-argo", "emptyDir": {}}]
    checked = 0
    for doc in rendered["kind"]:
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]
            assert restricted_violations(pod, pod["containers"]) == [], doc["metadata"]["name"]
            checked += 1
        if doc["kind"] == "WorkflowTemplate":
            spec = doc["spec"]
            for template in spec["templates"]:
                if "container" not in template:
                    continue
                pod = {"securityContext": spec.get("securityContext"), "volumes": spec["volumes"] + argo_volumes}
                containers = [template["container"]] + [
                    {"name": n, "securityContext": executor["securityContext"]} for n in ("init", "wait")
                ]
                assert restricted_violations(pod, containers) == [], template["name"]
                checked += 1
    assert checked >= 9
    assert restricted_violations({}, [{"name": "plain"}])  # the check itself is not empty
