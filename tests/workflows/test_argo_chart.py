"""The Helm chart, rendered by a real helm: lint, values schema, valid Argo documents, overlays only."""

from __future__ import annotations

import copy
import json
import re
import subprocess

import jsonschema
import pytest
import yaml
from chart_support import CHART, NAMESPACE, RELEASE, VALUES_FILES, helm_template

from workflows import validate

ARGO = validate.ARGO_KINDS


def _values(name: str) -> dict:
    """Effective values: values.yaml with the named values file merged on top (one level deep is enough)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if VALUES_FILES[name]:
        for key, override in yaml.safe_load(VALUES_FILES[name].read_text()).items():
            values[key] = {**values.get(key, {}), **override} if isinstance(override, dict) else override
    return values


@pytest.mark.parametrize("name", VALUES_FILES)
def test_helm_lint_passes(helm, name):
    cmd = [helm, "lint", "--strict", str(CHART)] + (
        ["-f", str(VALUES_FILES[name])] if VALUES_FILES[name] else []
    )
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", VALUES_FILES)
def test_values_files_validate_against_values_schema(name):
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(_values(name), schema)


def test_values_schema_refuses_a_password_in_the_warehouse_url(helm):
    result = subprocess.run(
        [helm, "template", "ml", str(CHART), "--set", "settings.warehouseUrl=postgresql://u:hunter2@db/x"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "warehouseUrl" in result.stderr


@pytest.mark.parametrize("name", VALUES_FILES)
def test_rendered_argo_documents_validate_and_resolve(rendered, name):
    argo = [d for d in rendered[name] if d["kind"] in ARGO]
    assert sorted(d["kind"] for d in argo) == [
        "CronWorkflow",
        "CronWorkflow",
        "CronWorkflow",  # eurostat-catalogue
        "WorkflowTemplate",
        "WorkflowTemplate",
        "WorkflowTemplate",  # eurostat-catalogue
    ]
    assert validate.manifest_errors(argo) == []


def _strip_overlays(doc: dict) -> dict:
    """A copy without the fields the chart overlays: namespace, labels, images, Secret names, schedules..."""
    doc = copy.deepcopy(doc)
    doc["metadata"].pop("namespace", None)
    doc["metadata"].pop("labels", None)
    spec = doc["spec"]
    if doc["kind"] == "CronWorkflow":
        spec.pop("schedules"), spec.pop("suspend")
        return doc
    spec.pop("serviceAccountName")
    for template in spec["templates"]:
        container = template.get("container")
        if not container:
            continue
        container.pop("image")
        for env in container.get("env", []):
            env.get("valueFrom", {}).get("secretKeyRef", {}).pop("name", None)
            env.get("valueFrom", {}).get("secretKeyRef", {}).pop("key", None)
        for source in container.get("envFrom", []):
            source.get("secretRef", {}).pop("name", None)
    return doc


@pytest.mark.parametrize("name", VALUES_FILES)
def test_rendered_argo_documents_equal_generated_apart_from_overlays(rendered, manifests, name):
    generated = {(m["kind"], m["metadata"]["name"]): m for m in manifests.values()}
    for doc in (d for d in rendered[name] if d["kind"] in ARGO):
        assert _strip_overlays(doc) == _strip_overlays(generated[doc["kind"], doc["metadata"]["name"]])


@pytest.mark.parametrize("name", VALUES_FILES)
def test_overlays_follow_the_values(rendered, manifests, name):
    values = _values(name)
    tag = values["image"]["tag"] or yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    prefix = "/".join(p for p in (values["image"]["registry"], values["image"]["repository"]) if p)
    image = re.compile(rf"^{re.escape(prefix)}/(eurostat|validate|stage|load|ess):{re.escape(tag)}$")
    for doc in (d for d in rendered[name] if d["kind"] in ARGO):
        assert doc["metadata"]["namespace"] == NAMESPACE
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        if doc["kind"] == "CronWorkflow":
            assert doc["spec"]["suspend"] is values["harvest"]["suspend"]
            continue
        assert doc["spec"]["serviceAccountName"] == values["serviceAccount"]["name"]
        for template in doc["spec"]["templates"]:
            container = template.get("container")
            if not container:
                continue
            assert image.match(container["image"]), container["image"]
            for env in container.get("env", []):
                ref = env["valueFrom"]["secretKeyRef"]
                assert ref == {
                    "name": values["warehouse"]["existingSecret"],
                    "key": values["warehouse"]["passwordKey"],
                    "optional": True,
                }
            if values["stage"]["existingSecret"]:
                assert {
                    "secretRef": {"name": values["stage"]["existingSecret"], "optional": True}
                } in container["envFrom"]


def test_schedule_and_suspend_overrides(helm):
    docs = helm_template(
        helm,
        None,
        "--set",
        "harvest.suspend=true",
        "--set-json",
        'harvest.schedules={"demo_r_pjanind3": ["0 6 * * *"]}',
    )
    crons = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "CronWorkflow"}
    assert crons["eurostat-demo-r-pjanind3"]["schedules"] == ["0 6 * * *"]
    assert crons["eurostat-demo-r-pjangrp3"]["schedules"] == ["30 11 * * *", "30 23 * * *"]
    assert all(spec["suspend"] is True for spec in crons.values())


@pytest.mark.parametrize("name", VALUES_FILES)
def test_steps_find_every_setting_and_object_they_reference(rendered, name):
    docs = rendered[name]
    by_kind_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    settings = by_kind_name["ConfigMap", "multilevel-settings"]["data"]
    assert settings["MULTILEVEL_STAGE_URL"] and settings["MULTILEVEL_WAREHOUSE_URL"]
    semaphores = by_kind_name["ConfigMap", "multilevel-semaphores"]["data"]
    values = _values(name)
    if values["serviceAccount"]["create"]:
        assert ("ServiceAccount", values["serviceAccount"]["name"]) in by_kind_name
    for doc in (d for d in docs if d["kind"] == "WorkflowTemplate"):
        for template in doc["spec"]["templates"]:
            for ref in (template.get("synchronization") or {}).get("semaphores", []):
                assert ref["configMapKeyRef"]["key"] in semaphores
            container = template.get("container") or {}
            for arg in container.get("args", []):
                for var in re.findall(r"\$\(([A-Z_0-9]+)\)", arg):
                    assert var in settings, f"{template['name']}: $({var}) is not in multilevel-settings"


@pytest.mark.parametrize("name", VALUES_FILES)
def test_no_secret_is_created_or_written(rendered, name):
    assert not [d for d in rendered[name] if d["kind"] == "Secret"]
    text = yaml.safe_dump_all(rendered[name])
    assert not re.search(r"(?i)(password|secret_access_key)\s*:\s*\S", text.replace("passwordKey", ""))


def test_rbac_grants_only_what_the_executor_needs(rendered):
    role = next(d for d in rendered["default"] if d["kind"] == "Role")
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]


def test_eks_service_account_has_an_irsa_role(rendered):
    sa = next(d for d in rendered["eks"] if d["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_kind_brings_its_own_stage_and_warehouse(rendered):
    names = {(d["kind"], d["metadata"]["name"]) for d in rendered["kind"]}
    assert {
        ("Deployment", "multilevel-minio"),
        ("Deployment", "multilevel-postgres"),
        ("Job", "multilevel-minio-bucket"),
    } <= names
    settings = next(d for d in rendered["kind"] if d["metadata"]["name"] == "multilevel-settings")["data"]
    assert settings["AWS_ENDPOINT_URL"] == "http://multilevel-minio:9000"
    assert settings["MULTILEVEL_WAREHOUSE_URL"].startswith(
        "postgresql://multilevel@multilevel-postgres:5432/"
    )


def test_values_schema_accepts_iam_database_auth(helm):
    """docs/deploy.md documents redshift+iam:// (temporary credentials through IRSA); the schema must take it."""
    url = "redshift+iam://multilevel@example.abc123.eu-west-1.redshift.amazonaws.com:5439/analytics"
    docs = helm_template(helm, VALUES_FILES["eks"], "--set", f"settings.warehouseUrl={url}")
    settings = next(d for d in docs if d["kind"] == "ConfigMap" and d["data"].get("MULTILEVEL_WAREHOUSE_URL"))
    assert settings["data"]["MULTILEVEL_WAREHOUSE_URL"] == url


def test_two_releases_in_one_namespace_share_no_object_and_each_refers_to_its_own(helm):
    """Item 8 of issue 8: any release but `multilevel` prefixes every object and every reference to one."""
    first = helm_template(helm, VALUES_FILES["kind"])
    second = [d for d in yaml.safe_load_all(subprocess.run(
        [helm, "template", "second", str(CHART), "--namespace", NAMESPACE, "-f", str(VALUES_FILES["kind"])],
        check=True, capture_output=True, text=True).stdout) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in first}
    assert not names & {(d["kind"], d["metadata"]["name"]) for d in second}
    own = {d["metadata"]["name"] for d in second}
    text = json.dumps([d for d in second if d["kind"] in ARGO])
    refs = r'"(?:configMapRef|configMapKeyRef|workflowTemplateRef|templateRef)": \{[^}]*"name": "([^"]+)"'
    assert len(re.findall(refs, text)) >= 5
    for reference in re.findall(refs, text):
        assert reference in own, f"the second release refers to {reference}, which is not its own"
    for doc in (d for d in second if d["kind"] == "WorkflowTemplate"):
        assert doc["spec"]["serviceAccountName"] in own
        for template in doc["spec"]["templates"]:
            for mutex in (template.get("synchronization") or {}).get("mutexes") or []:
                assert mutex["name"].startswith("second-")
    assert validate.manifest_errors([d for d in second if d["kind"] in ARGO]) == []
