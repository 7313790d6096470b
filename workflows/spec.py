"""Workflow-level settings shared by every WorkflowTemplate: pods, garbage collection, UI text, metrics."""

from __future__ import annotations

from hera.workflows.models import (
    Counter,
    EmptyDirVolumeSource,
    Gauge,
    Metadata,
    MetricLabel,
    Metrics,
    PodGC,
    PodSecurityContext,
    Prometheus,
    SeccompProfile,
    TTLStrategy,
    Volume,
)

from workflows.steps import SERVICE_ACCOUNT, TMP_VOLUME

# A non-root uid/gid that the images create (images/Dockerfile: USER 10001).
RUN_AS = 10001
LABELS = {"app.kubernetes.io/name": "multilevel", "app.kubernetes.io/part-of": "multilevel"}


def workflow_settings(deadline: int = 6 * 3600) -> dict:
    """Keyword arguments for a WorkflowTemplate: service account, pod security, /tmp volume, GC, deadline."""
    return dict(
        labels=dict(LABELS),
        service_account_name=SERVICE_ACCOUNT,
        active_deadline_seconds=deadline,
        security_context=PodSecurityContext(
            run_as_non_root=True,
            run_as_user=RUN_AS,
            run_as_group=RUN_AS,
            fs_group=RUN_AS,
            seccomp_profile=SeccompProfile(type="RuntimeDefault"),
        ),
        # readOnlyRootFilesystem: /tmp is the only writable place in a step container.
        volumes=[Volume(name=TMP_VOLUME, empty_dir=EmptyDirVolumeSource(size_limit="2Gi"))],
        # Keep failed pods for `kubectl logs`; drop successful ones at once.
        pod_gc=PodGC(strategy="OnPodSuccess", delete_delay_duration="30s"),
        ttl_strategy=TTLStrategy(seconds_after_success=3 * 86400, seconds_after_failure=7 * 86400),
    )


def workflow_metadata(title: str, description: str) -> Metadata:
    """Title and description every run shows in the Argo UI."""
    return Metadata(
        annotations={
            "workflows.argoproj.io/title": title,
            "workflows.argoproj.io/description": description,
        },
        labels=dict(LABELS),
    )


def _duration_and_result(prefix: str, labels: list[MetricLabel], what: str, variables: str) -> list[Prometheus]:
    """The two metrics every workflow run and every step reports.

    ``what`` names the thing measured ("workflow run", "step"); ``variables`` is Argo's scope ("workflow." or "").
    """
    return [
        Prometheus(
            name=f"{prefix}_duration_seconds",
            help=f"Duration of the {what} in seconds",
            labels=labels,
            gauge=Gauge(value=f"{{{{{variables}duration}}}}", realtime=False),
        ),
        Prometheus(
            name=f"{prefix}_result_total",
            help=f"{what.split()[0].capitalize()} runs by final status",
            labels=labels + [MetricLabel(key="status", value=f"{{{{{variables}status}}}}")],
            counter=Counter(value="1"),
        ),
    ]


def async_wait_metrics(prefix: str, waits_parameter: str, seconds_parameter: str, **labels: str) -> list[Prometheus]:
    """Eurostat's asynchronous answers a step waited for (issue 9: "its own log line and metric"): how many, and the
    seconds spent waiting. Counted for every attempt, failed ones included: the CLI writes both files in a
    ``finally`` and Argo's wait container saves output parameters whatever the exit code (the local executor does
    the same, workflows/local.py); a missing file gives the parameter's default "0", so the value always parses.
    """
    metric_labels = [MetricLabel(key=k, value=v) for k, v in labels.items()]
    return [
        Prometheus(
            name=f"{prefix}_async_waits_total",
            help="Asynchronous answers (HTTP 413 ASYNCHRONOUS_RESPONSE) the step waited for",
            labels=metric_labels,
            counter=Counter(value=f"{{{{outputs.parameters.{waits_parameter}}}}}"),
        ),
        Prometheus(
            name=f"{prefix}_async_wait_seconds_total",
            help="Seconds the step spent waiting for asynchronous answers",
            labels=metric_labels,
            counter=Counter(value=f"{{{{outputs.parameters.{seconds_parameter}}}}}"),
        ),
    ]


def workflow_metrics(prefix: str, **labels: str) -> Metrics:
    """Duration and result of every run, labelled (e.g. by dataset), for Prometheus."""
    metric_labels = [MetricLabel(key=k, value=v) for k, v in labels.items()]
    return Metrics(prometheus=_duration_and_result(prefix, metric_labels, "workflow run", "workflow."))


def step_metrics(prefix: str, rows_parameter: str | None = None, **labels: str) -> Metrics:
    """Duration and result of one step, for Prometheus; with ``rows_parameter``, also the rows it loaded.

    The rows come from an output parameter read from a file (``valueFrom.path``), as upstream
    ``examples/custom-metrics.yaml`` does, never from ``outputs.result``: Argo captures a container's stdout only
    when the parent template refers to ``tasks.<name>.outputs.result`` (operator.go ``includeScriptOutput`` /
    ``hasOutputResultRef``), so a metric reading it would fail with a MetricsError condition.
    Prometheus shows them as ``argo_workflows_<name>`` (controller.go: the ``argo_workflows`` namespace).
    """
    metric_labels = [MetricLabel(key=k, value=v) for k, v in labels.items()]
    rows = []
    if rows_parameter:
        rows.append(
            Prometheus(
                name=f"{prefix}_rows_total",
                help="Rows loaded by the step",
                labels=metric_labels,
                when="{{status}} == Succeeded",
                counter=Counter(value=f"{{{{outputs.parameters.{rows_parameter}}}}}"),
            )
        )
    return Metrics(prometheus=rows + _duration_and_result(prefix, metric_labels, "step", ""))
