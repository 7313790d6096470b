"""The local executor follows Argo v4.1.2's rules (workflows/argo_rules.py cites the source of each), not kinder ones.

Each test runs a small WorkflowTemplate through workflows.local.LocalArgo: real subprocesses for real exit codes
and stdout, and `Fault`s for outcomes a laptop cannot produce on demand (a pod evicted without an exit code, an
attempt that ran for 15 minutes).
"""

from __future__ import annotations

import os
import sys

import pytest

from workflows import argo_rules
from workflows.local import Fault, LocalArgo
from workflows.steps import retry

PRODUCTION_RETRY = retry().build().model_dump(by_alias=True, exclude_none=True)


def python(code: str) -> dict:
    return {"image": "python", "command": ["python", "-c", code]}


def workflow(templates: list[dict], entrypoint: str = "main", metrics: dict | None = None) -> dict:
    spec = {"entrypoint": entrypoint, "templates": templates}
    if metrics:
        spec["metrics"] = metrics
    return {"kind": "WorkflowTemplate", "metadata": {"name": "t"}, "spec": spec}


def dag(*tasks: dict) -> dict:
    return {"name": "main", "dag": {"tasks": list(tasks)}}


@pytest.fixture
def argo(tmp_path):
    def make(**faults):
        env = {"PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
        return LocalArgo({}, base_env=env, workdir=tmp_path / "pods", faults=faults)

    return make


def step(name: str, code: str, **fields) -> dict:
    return {"name": name, "container": python(code), **fields}


# --- outputs.result --------------------------------------------------------------------------------------------
ROWS_FROM_STDOUT = {"prometheus": [{"name": "rows_total", "help": "rows", "counter": {"value": "{{outputs.result}}"}}]}


def test_stdout_is_not_a_result_unless_the_parent_refers_to_it(argo):
    """operator.go hasOutputResultRef: without `tasks.count.outputs.result` in the parent, nothing is captured,
    so a metric on outputs.result is a MetricsError (argoproj/argo-workflows#13464), as it was for the load step."""
    count = step("count", "print(7)", metrics=ROWS_FROM_STDOUT)
    run = argo().submit(workflow([dag({"name": "count", "template": "count"}), count]), {}, "r1")
    assert run.phase == "Succeeded"
    assert run.metrics == [] and len(run.metric_errors) == 1 and "outputs.result" in run.metric_errors[0]


def test_stdout_is_the_result_when_a_later_task_refers_to_it(argo):
    count = step("count", "print(7)", metrics=ROWS_FROM_STDOUT)
    echo = step("echo", "import sys; print(sys.argv[1])", inputs={"parameters": [{"name": "n"}]})
    echo["container"]["args"] = ["{{inputs.parameters.n}}"]
    main = dag({"name": "count", "template": "count"},
               {"name": "echo", "template": "echo", "depends": "count",
                "arguments": {"parameters": [{"name": "n", "value": "{{tasks.count.outputs.result}}"}]}})
    run = argo().submit(workflow([main, count, echo]), {}, "r2")
    assert run.phase == "Succeeded" and run.metric_errors == []
    assert [(m.name, m.value) for m in run.metrics] == [("argo_workflows_rows_total", 7.0)]
    assert run.pods("echo")[0].stdout == "7\n"  # one trailing newline trimmed (CaptureScriptResult)


def test_output_parameters_come_from_files_with_one_newline_trimmed_and_a_default(argo):
    # The path reaches the process as an argument, as in our steps: the pod's /tmp is its own emptyDir.
    write = step("write", "import sys; open(sys.argv[1], 'w').write('12\\n\\n')",
                 outputs={"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}},
                                         {"name": "m", "valueFrom": {"path": "/tmp/missing", "default": "0"}}]})
    write["container"]["args"] = ["/tmp/n"]
    write["container"]["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    run = argo().submit(workflow([dag({"name": "write", "template": "write"}), write]), {}, "r3")
    assert run.pods("write")[0].outputs == {"parameters.n": "12\n", "parameters.m": "0"}


def test_a_missing_output_file_without_default_is_an_error(argo):
    write = step("write", "pass", outputs={"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]})
    run = argo().submit(workflow([dag({"name": "write", "template": "write"}), write]), {}, "r4")
    assert run.phase == "Failed" and run.pods("write")[0].phase == "Error"


# --- metrics ---------------------------------------------------------------------------------------------------
def test_metrics_resolve_against_what_the_step_produced_or_fail(argo):
    metrics = {"prometheus": [
        {"name": "ok_seconds", "help": "h", "gauge": {"value": "{{duration}}"}},
        {"name": "by_status_total", "help": "h", "labels": [{"key": "status", "value": "{{status}}"}],
         "counter": {"value": "1"}},
        {"name": "only_on_success", "help": "h", "when": "{{status}} == Succeeded", "counter": {"value": "1"}},
        {"name": "typo_total", "help": "h", "counter": {"value": "{{outputs.parameters.rowz}}"}},
        {"name": "no_help", "counter": {"value": "1"}},
        {"name": "bad-name", "help": "h", "counter": {"value": "1"}},
        {"name": "not_a_number", "help": "h", "counter": {"value": "{{status}}"}},
    ]}
    fail = step("fail", "raise SystemExit(1)", metrics=metrics)
    run = argo().submit(workflow([dag({"name": "fail", "template": "fail"}), fail]), {}, "r5")
    assert {m.name for m in run.metrics} == {"argo_workflows_ok_seconds", "argo_workflows_by_status_total"}
    assert next(m for m in run.metrics if m.name.endswith("by_status_total")).labels == {"status": "Failed"}
    assert len(run.metric_errors) == 4
    assert any("rowz" in e for e in run.metric_errors) and any("help" in e for e in run.metric_errors)


def test_workflow_metrics_see_workflow_status_and_duration(argo):
    metrics = {"prometheus": [
        {"name": "run_seconds", "help": "h", "gauge": {"value": "{{workflow.duration}}"}},
        {"name": "runs_total", "help": "h", "labels": [{"key": "status", "value": "{{workflow.status}}"}],
         "counter": {"value": "1"}},
    ]}
    run = argo().submit(workflow([dag({"name": "ok", "template": "ok"}), step("ok", "pass")], metrics=metrics),
                        {}, "r6")
    assert run.metric_errors == [] and [m.labels for m in run.metrics][1] == {"status": "Succeeded"}


# --- retries ---------------------------------------------------------------------------------------------------
def run_retried(argo, strategy, faults, code="raise SystemExit(0)"):
    flaky = step("flaky", code, retryStrategy=strategy)
    run = argo(flaky=faults).submit(workflow([dag({"name": "flaky", "template": "flaky"}), flaky]), {}, "r")
    return run, run.pods("flaky")[0]


def test_a_real_exit_75_is_retried_with_the_production_backoff(argo):
    code = "import os, sys; first = not os.path.exists('once'); open('once', 'w'); sys.exit(75 if first else 0)"
    # each attempt is a new pod with its own filesystem: the marker never survives, so every attempt exits 75
    run, node = run_retried(argo, PRODUCTION_RETRY, [], code)
    assert run.phase == "Failed" and [a.exit_code for a in node.attempts] == [75] * 5
    assert node.waits == [30, 60, 120, 240] and node.message == "No more retries left"


def test_exit_1_fails_without_retry_after_argo_waits_out_the_first_backoff(argo):
    run, node = run_retried(argo, PRODUCTION_RETRY, [], "raise SystemExit(1)")
    assert run.phase == "Failed" and len(node.attempts) == 1 and node.exit_code == 1
    assert node.message == "retryStrategy.expression evaluated to false" and node.waits == [30]


def test_a_pod_lost_without_exit_code_is_retried(argo):
    run, node = run_retried(argo, PRODUCTION_RETRY, [Fault(None), Fault(None)])
    assert run.phase == "Succeeded" and [a.phase for a in node.attempts] == ["Error", "Error", "Succeeded"]


def test_the_old_expression_did_not_retry_a_lost_pod(argo):
    old = {**PRODUCTION_RETRY, "expression": "asInt(lastRetry.exitCode) == 75"}
    run, node = run_retried(argo, old, [Fault(None)])
    assert run.phase == "Failed" and len(node.attempts) == 1  # exitCode is "-1" without one


def test_backoff_is_duration_times_factor_to_the_n_capped(argo):
    strategy = {**PRODUCTION_RETRY, "limit": 5, "backoff": {"duration": "30s", "factor": 2, "cap": "1m"}}
    run, node = run_retried(argo, strategy, [Fault(75)] * 5)
    assert run.phase == "Succeeded" and node.waits == [30, 60, 60, 60, 60]


def test_max_duration_is_one_window_from_the_first_attempt(argo):
    """The old manifests' `maxDuration: 10m` (meant as a cap per wait) never retried a step failing after 10m."""
    old = {**PRODUCTION_RETRY, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}}
    run, node = run_retried(argo, old, [Fault(75, seconds=900)])
    assert run.phase == "Failed" and node.message == "Max duration limit exceeded"
    run, node = run_retried(argo, old, [Fault(75, seconds=400), Fault(75, seconds=150)])
    assert len(node.attempts) == 2 and node.message == "Backoff would exceed max duration limit"
    run, node = run_retried(argo, PRODUCTION_RETRY, [Fault(75, seconds=900)])
    assert run.phase == "Succeeded" and len(node.attempts) == 2


def test_max_duration_also_becomes_the_deadline_of_every_retried_pod():
    attempts = [argo_rules.Attempt("Failed", 75, 0.0, 100.0)]
    decision = argo_rules.next_retry({"limit": 3, "retryPolicy": "Always",
                                      "backoff": {"duration": "30s", "maxDuration": "10m"}}, attempts)
    assert decision.retry and decision.wait == 30 and decision.deadline == 600
    assert argo_rules.pod_timeout(3600, decision.deadline, now=130.0) == 470.0  # workflowpod.go getDeadline
    assert argo_rules.pod_timeout(300, None, now=130.0) == 300.0


def test_retry_policy_on_error_does_not_retry_a_failure():
    attempts = [argo_rules.Attempt("Failed", 75, 0.0, 1.0)]
    assert not argo_rules.next_retry({"limit": 3, "retryPolicy": "OnError"}, attempts).retry
    assert argo_rules.next_retry({"limit": 3, "retryPolicy": "OnFailure"}, attempts).retry
    assert not argo_rules.next_retry({"limit": 0, "retryPolicy": "Always"}, attempts).retry


def test_when_treats_bare_words_as_strings_and_expressions_need_variables():
    assert argo_rules.should_execute("Failed != Succeeded")
    assert not argo_rules.should_execute("'[]' != '[]'")
    assert argo_rules.evaluate_expression('asInt(lastRetry.exitCode) == 75 || lastRetry.status == "Error"',
                                          {"lastRetry.exitCode": "-1", "lastRetry.status": "Error"})
    with pytest.raises(argo_rules.ArgoRuleError):
        argo_rules.evaluate_expression("lastRetry.exitCode == 75", {})
