"""``eurostat-catalogue``: the cheap daily check, then one ``eurostat-harvest`` per changed dataset.

    check ──(something changed)──> harvests: withParam over the changed codes, at most DATASETS_IN_FLIGHT at once
                                     harvest (templateRef eurostat-harvest/harvest, input dataset)
    onExit: record-failures, when the workflow did not succeed

The check (``multilevel check``) reads Eurostat's catalogue once and asks a dataflow only where a dataset may have
changed; on a day when nothing did, the workflow is one pod and one request. Each changed dataset runs the very
``harvest`` template of the ``eurostat-harvest`` WorkflowTemplate through ``templateRef`` (Argo resolves the names
inside it in that WorkflowTemplate: workflow/templateresolution/context.go, ``GetTemplateBase``), so a harvest is
the same whether a dataset's own CronWorkflow or this one starts it:

- datasets in flight: the ``harvests`` DAG's ``parallelism`` bounds how many of its child DAGs run at once (Argo's
  examples/parallelism-nested-dag.yaml); each harvest bounds its own pods (``eurostat-harvest``'s parallelism);
- downloads of all harvests, of this and of every other workflow, share the ``eurostat-downloads`` semaphore;
- loads hold one mutex per dataset (``eurostat-load-<dataset>``): a dataset's own CronWorkflow and this one never
  merge into the same history table at once;
- one dataset's failure never stops the others: ``failFast: false`` on the fan-out (Argo stops scheduling new
  tasks of a DAG after a failure by default), and every harvest records its own plan or load failure; the exit
  handler records a failure for each dataset the check handed over whose harvest logged nothing at all
  (``multilevel record-failure --check-run``).

The run id of every harvest is this workflow's name: stage paths stay unique (``eurostat/<dataset>/<run>``).
"""

from __future__ import annotations

from hera.workflows import DAG, CronWorkflow, Operator, Parameter, Task, WorkflowStatus, WorkflowTemplate
from hera.workflows.models import TemplateRef, ValueFrom, WorkflowTemplateRef

from workflows import cron, harvest, spec
from workflows.steps import resources, step

NAME = "eurostat-catalogue"
RUN_ID = "{{workflow.name}}"
CHANGED_FILE = "/tmp/changed.json"
# Harvests running at once. Downloads are bounded by the shared semaphore anyway; this bounds pods and warehouse
# connections when a publication day changes many datasets (the chart can override).
DATASETS_IN_FLIGHT = 4
# Eurostat publishes at 11:00 and 23:00 Brussels time and its catalogue follows; check 40 minutes later.
SCHEDULE = ("40 11 * * *", "40 23 * * *")


def build() -> WorkflowTemplate:
    """The catalogue WorkflowTemplate: check, then fan out the changed datasets to eurostat-harvest."""
    changed_input = Parameter(name="changed")
    with WorkflowTemplate(
        name=NAME,
        entrypoint="catalogue",
        on_exit="exit-handler",
        workflow_metadata=spec.workflow_metadata(
            "Eurostat catalogue",
            "Check every selected dataset against Eurostat's catalogue; harvest the ones that changed.",
        ),
        metrics=spec.workflow_metrics("eurostat_catalogue"),
        **spec.workflow_settings(deadline=12 * 3600),
    ) as wt:
        check = step(
            "check",
            "eurostat",
            ["check", "--run-id", RUN_ID, "--out", CHANGED_FILE],
            warehouse=True,
            deadline=1800,
            resources=resources("100m", "256Mi", "1", "512Mi"),
            # The default keeps a failed check (no file written) a plain failure rather than an executor Error.
            outputs=[Parameter(name="changed", value_from=ValueFrom(path=CHANGED_FILE, default="[]"))],
        )
        record_failures = step(
            "record-failures",
            "load",
            ["record-failure", "--check-run", RUN_ID,
             "--reason", f"Argo workflow {RUN_ID} ended {{{{workflow.status}}}}"],
            warehouse=True,
            deadline=600,
            resources=resources("50m", "128Mi", "500m", "256Mi"),
        )

        with DAG(name="harvests", inputs=[changed_input], parallelism=DATASETS_IN_FLIGHT, fail_fast=False) as fan_out:
            Task(
                name="harvest",
                template_ref=TemplateRef(name=harvest.NAME, template=harvest.ENTRYPOINT),
                with_param=f"{{{{inputs.parameters.{changed_input.name}}}}}",
                arguments={"dataset": "{{item}}"},
            )

        with DAG(name="catalogue"):
            check_task = check(name="check")
            changed = check_task.get_parameter("changed")
            # '[]' (the CLI's exact output) means nothing changed: the workflow ends after one pod.
            check_task >> Task(
                name="harvests",
                template=fan_out,
                when=f"'{changed}' != '[]'",
                arguments={changed_input.name: str(changed)},
            )

        with DAG(name="exit-handler"):
            record_failures(name="record-failures").on_workflow_status(WorkflowStatus.succeeded, Operator.not_equal)
    return wt


def build_cron() -> CronWorkflow:
    """The CronWorkflow ``eurostat-catalogue``: twice a day, Brussels time, never two runs at once."""
    title = "Eurostat catalogue"
    return CronWorkflow(
        name=NAME,
        labels=dict(spec.LABELS),
        schedules=list(SCHEDULE),
        timezone=cron.TIMEZONE,
        concurrency_policy="Forbid",
        starting_deadline_seconds=cron.STARTING_DEADLINE_SECONDS,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        cron_suspend=False,
        workflow_template_ref=WorkflowTemplateRef(name=NAME),
        workflow_metadata=spec.workflow_metadata(title, "The daily check of every selected dataset"),
    )
