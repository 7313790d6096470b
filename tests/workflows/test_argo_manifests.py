"""Generated Argo manifests: strictly valid for Argo v4.1.2, wired correctly, production settings set."""

from __future__ import annotations

import copy

import pytest

from multilevel.datasets import load_datasets
from workflows import catalogue, generate, validate
from workflows.argo_rules import Attempt, next_retry
from workflows.steps import TRANSIENT_EXIT_CODE


def test_committed_manifests_equal_fresh_ones():
    assert generate.differences() == [], "charts/multilevel/files/argo is stale: run `make manifests`"


def test_one_cron_workflow_per_configured_dataset(manifests):
    crons = {
        m["spec"]["workflowSpec"]["arguments"]["parameters"][0]["value"]: m
        for m in manifests.values()
        if m["kind"] == "CronWorkflow" and m["metadata"]["name"] != "eurostat-catalogue"
    }
    datasets = load_datasets()
    assert set(crons) == {d.code for d in datasets}
    for d in datasets:
        spec = crons[d.code]["spec"]
        assert spec["schedules"] == d.schedule
        assert spec["timezone"] == "Europe/Brussels"
        assert spec["concurrencyPolicy"] == "Forbid"
        assert spec["startingDeadlineSeconds"] > 0
        assert spec["successfulJobsHistoryLimit"] > 0 and spec["failedJobsHistoryLimit"] > 0
        assert spec["workflowSpec"]["workflowTemplateRef"] == {"name": "eurostat-harvest"}
        annotations = spec["workflowSpec"]["workflowMetadata"]["annotations"]
        assert d.code in annotations["workflows.argoproj.io/title"]


def test_manifests_follow_a_different_dataset_configuration(tmp_path):
    config = tmp_path / "datasets.yaml"
    config.write_text("datasets:\n  - {code: nama_10r_3gdp, split: unit, schedule: '0 12 * * 1'}\n")
    manifests = generate.build_manifests(config)
    crons = [m for m in manifests.values()
             if m["kind"] == "CronWorkflow" and m["metadata"]["name"] != "eurostat-catalogue"]
    assert [c["metadata"]["name"] for c in crons] == ["eurostat-nama-10r-3gdp"]
    assert crons[0]["spec"]["schedules"] == ["0 12 * * 1"]
    written = generate.write(tmp_path / "out", config)
    assert sorted(p.name for p in written) == sorted(manifests)


@pytest.mark.parametrize("name", sorted(generate.build_manifests()))
def test_manifest_validates_strictly_against_argo_schemas(manifests, name):
    assert validate.schema_errors(manifests[name]) == []


def test_schema_check_rejects_unknown_keys_and_v3_fields(manifests):
    harvest = copy.deepcopy(manifests["workflowtemplate-eurostat-harvest.yaml"])
    harvest["spec"]["templates"][0]["activeDeadlineSecond"] = 60
    cron = copy.deepcopy(manifests["cronworkflow-eurostat-demo-r-pjangrp3.yaml"])
    cron["spec"]["schedule"] = "30 11 * * *"  # removed in Argo v4
    errors = validate.schema_errors(harvest) + validate.schema_errors(cron)
    assert any("activeDeadlineSecond" in e and "schema.json" in e for e in errors)
    assert any("activeDeadlineSecond" in e and "CRD" in e for e in errors)
    assert any("'schedule' was unexpected" in e for e in errors)


def test_every_reference_and_template_resolves(manifests):
    assert validate.manifest_errors(list(manifests.values())) == []


def test_wiring_check_catches_broken_references(manifests):
    harvest = copy.deepcopy(manifests["workflowtemplate-eurostat-harvest.yaml"])
    dag = next(t for t in harvest["spec"]["templates"] if t["name"] == "harvest")["dag"]["tasks"]
    dag[1]["withParam"] = "{{tasks.plan.outputs.parameters.slice}}"
    dag[2]["template"] = "lode"
    slice_dag = next(t for t in harvest["spec"]["templates"] if t["name"] == "slice")["dag"]["tasks"]
    slice_dag[0]["arguments"]["parameters"][0]["value"] = "{{item}}"  # no loop here
    errors = validate.wiring_errors(harvest["spec"], "harvest")
    assert any("parameters.slice'" in e for e in errors)
    assert any("'lode' does not exist" in e for e in errors)
    assert any("task download" in e and "'item'" in e for e in errors)


def _containers(manifest):
    return [t for t in manifest["spec"].get("templates", []) if "container" in t]


def test_every_step_has_production_settings(manifests):
    for manifest in manifests.values():
        if manifest["kind"] != "WorkflowTemplate":
            continue
        spec = manifest["spec"]
        assert spec["serviceAccountName"] and spec["activeDeadlineSeconds"] > 0
        assert spec["podGC"]["strategy"] and spec["ttlStrategy"]["secondsAfterSuccess"] > 0
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert {"workflows.argoproj.io/title", "workflows.argoproj.io/description"} <= set(
            spec["workflowMetadata"]["annotations"]
        )
        assert spec["metrics"]["prometheus"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for template in _containers(manifest):
            c = template["container"]
            assert template["activeDeadlineSeconds"] > 0
            _retries_as_argo_would(template["name"], template["retryStrategy"])
            assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
            assert "emptyDir" in volumes[tmp["name"]]
            assert c["envFrom"][0] == {"configMapRef": {"name": "multilevel-settings"}}
            for env in c.get("env", []):
                assert "value" not in env, f"{template['name']}: plain env {env['name']}; use the ConfigMap"


def _retries_as_argo_would(name: str, strategy: dict) -> None:
    """The retry strategy judged by what Argo does with it (workflows/argo_rules.next_retry follows operator.go
    processNodeRetries), not by its text."""
    minute = 60.0
    # a transient failure late in a long step (50 min in) is still retried: no window cut it short
    late = next_retry(strategy, [Attempt("Failed", TRANSIENT_EXIT_CODE, 0.0, 50 * minute)])
    assert late.retry and late.deadline is None, f"{name}: a late exit {TRANSIENT_EXIT_CODE} is not retried"
    # a pod that died without an exit code (eviction, spot interruption, node loss) is retried
    assert next_retry(strategy, [Attempt("Error", None, 0.0, 1.0)]).retry, f"{name}: a lost pod is not retried"
    # bad input (exit 1) is not retried: retrying cannot help
    assert not next_retry(strategy, [Attempt("Failed", 1, 0.0, 1.0)]).retry, f"{name}: exit 1 is retried"
    # waits grow and stop at a cap, and the retries end
    attempts, waits = [], []
    for n in range(1, 20):
        attempts.append(Attempt("Failed", TRANSIENT_EXIT_CODE, n * minute, n * minute + 1))
        decision = next_retry(strategy, attempts)
        if not decision.retry:
            break
        waits.append(decision.wait)
    assert waits and waits == sorted(waits) and waits[-1] > waits[0], f"{name}: waits {waits} do not back off"
    assert len(waits) < 19, f"{name}: retries never end"
    assert max(waits) <= 10 * minute, f"{name}: a wait of {max(waits)} s is longer than a transient outage needs"


def test_downloads_share_a_semaphore_and_loads_hold_a_dataset_mutex(manifests):
    templates = {
        t["name"]: t for t in manifests["workflowtemplate-eurostat-harvest.yaml"]["spec"]["templates"]
    }
    semaphore = templates["download"]["synchronization"]["semaphores"][0]["configMapKeyRef"]
    assert semaphore == {"name": "multilevel-semaphores", "key": "eurostat-downloads"}
    assert templates["load"]["synchronization"]["mutexes"] == [
        {"name": "eurostat-load-{{inputs.parameters.dataset}}"}  # per dataset, also under the catalogue's templateRef
    ]


def test_data_moves_through_the_stage_not_parameters(manifests):
    """Only the slice-id list (and, for metrics, the load's row count and each download's asynchronous waits) are
    output parameters; every data argument is a URL under the stage."""
    harvest = manifests["workflowtemplate-eurostat-harvest.yaml"]
    outputs = [
        (t["name"], p["name"])
        for t in harvest["spec"]["templates"]
        for p in (t.get("outputs") or {}).get("parameters", [])
    ]
    assert outputs == [("plan", "slices"), ("download", "async_waits"), ("download", "async_seconds"),
                       ("load", "rows")]
    for template in _containers(harvest):
        args = template["container"]["args"]
        for option in ("--plan", "--out", "--raw", "--in"):
            if option in args and args[args.index(option) + 1] not in ("/tmp/slices.json", "/tmp/rows"):
                assert args[args.index(option) + 1].startswith(
                    "$(MULTILEVEL_STAGE_URL)/eurostat/{{inputs.parameters.dataset}}/{{workflow.name}}/"
                ) or template["name"] == "record-failure"


def test_exit_handler_records_failures_only(manifests):
    spec = manifests["workflowtemplate-eurostat-harvest.yaml"]["spec"]
    handler = next(t for t in spec["templates"] if t["name"] == spec["onExit"])
    task = handler["dag"]["tasks"][0]
    assert task["when"] == "{{workflow.status}} != Succeeded"
    record = next(t for t in spec["templates"] if t["name"] == task["template"])
    assert record["container"]["args"][0] == "record-failure"


def test_catalogue_cron_checks_then_fans_out_eurostat_harvest_by_template_ref(manifests):
    cron = manifests["cronworkflow-eurostat-catalogue.yaml"]["spec"]
    assert cron["workflowSpec"]["workflowTemplateRef"] == {"name": "eurostat-catalogue"}
    assert cron["timezone"] == "Europe/Brussels" and cron["concurrencyPolicy"] == "Forbid"
    spec = manifests["workflowtemplate-eurostat-catalogue.yaml"]["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    check = templates["check"]["container"]["args"]
    assert check[:1] == ["check"] and "--run-id" in check and "--out" in check
    entry = {t["name"]: t for t in templates[spec["entrypoint"]]["dag"]["tasks"]}
    assert entry["harvests"]["depends"] == "check"
    assert entry["harvests"]["when"] == "'{{tasks.check.outputs.parameters.changed}}' != '[]'"
    fan_out = templates["harvests"]
    assert fan_out["parallelism"] == catalogue.DATASETS_IN_FLIGHT  # datasets in flight
    assert fan_out["dag"]["failFast"] is False  # one dataset's failure never stops the others
    task = fan_out["dag"]["tasks"][0]
    assert task["templateRef"] == {"name": "eurostat-harvest", "template": "harvest"}
    assert task["withParam"] == "{{inputs.parameters.changed}}"
    assert task["arguments"]["parameters"] == [{"name": "dataset", "value": "{{item}}"}]
    handler = {t["name"]: t for t in templates[spec["onExit"]]["dag"]["tasks"]}["record-failures"]
    assert handler["when"] == "{{workflow.status}} != Succeeded"
    record = templates["record-failures"]["container"]["args"]
    assert record[:3] == ["record-failure", "--check-run", "{{workflow.name}}"]


def test_a_template_ref_reading_the_callers_workflow_parameters_is_caught(manifests):
    """The harvest as it was (dataset from workflow.parameters) would run under the catalogue with no dataset."""
    harvest = copy.deepcopy(manifests["workflowtemplate-eurostat-harvest.yaml"])
    load = next(t for t in harvest["spec"]["templates"] if t["name"] == "load")
    load["synchronization"]["mutexes"][0]["name"] = "eurostat-load-{{workflow.parameters.dataset}}"
    others = [m for n, m in manifests.items() if n != "workflowtemplate-eurostat-harvest.yaml"]
    errors = validate.manifest_errors([*others, harvest])
    assert any("eurostat-harvest/load reads {{workflow.parameters.dataset}}" in e for e in errors)
    broken = copy.deepcopy(manifests["workflowtemplate-eurostat-catalogue.yaml"])
    fan_out = next(t for t in broken["spec"]["templates"] if t["name"] == "harvests")
    fan_out["dag"]["tasks"][0]["templateRef"]["template"] = "harvst"
    rest = [m for n, m in manifests.items() if n != "workflowtemplate-eurostat-catalogue.yaml"]
    errors = validate.manifest_errors([*rest, broken])
    assert any("'harvst'" in e for e in errors)
