"""WorkflowTemplate ``eurostat-harvest``: one dataset, from "has it changed?" to one warehouse transaction.

    plan ──(changed)──> slices: withParam over the slice ids, one sub-DAG each ──> load
                         download -> validate -> stage
    onExit: record-failure, when the workflow did not succeed

The dataset is an input of every template (``inputs.parameters.dataset``), not read from the workflow's parameters:
the entrypoint ``harvest`` receives the workflow argument ``dataset`` (Argo passes a workflow's arguments to its
entrypoint's inputs: operator.go ``operate``), and the ``eurostat-catalogue`` workflow runs the same ``harvest``
template once per changed dataset through ``templateRef`` (workflows/catalogue.py), where the workflow's own
parameters are the catalogue's. Only the exit handler, which runs for a standalone harvest alone, reads the
workflow parameter.

Steps hand each other URLs under the stage URL, keyed by dataset and run (the workflow name); the only
value that travels through Argo is the small JSON list of slice ids that drives the fan-out. References between
tasks use hera's typed helpers (``get_parameter``, ``with_param=``, ``on_workflow_status``), not hand-written strings.
"""

from __future__ import annotations

from hera.workflows import DAG, Operator, Parameter, Task, WorkflowStatus, WorkflowTemplate
from hera.workflows.models import Metrics, ValueFrom

from workflows import spec
from workflows.steps import STAGE, download_semaphore, mutex, resources, step

NAME = "eurostat-harvest"
ENTRYPOINT = "harvest"  # the template the catalogue workflow references
RUN_ID = "{{workflow.name}}"  # Argo's workflow variables have no hera helper
SLICES_FILE = "/tmp/slices.json"
ROWS_FILE = "/tmp/rows"
ASYNC_WAITS_FILE, ASYNC_SECONDS_FILE = "/tmp/async-waits", "/tmp/async-seconds"
# Pods of one run at once: 22 slices x 3 steps must not all go Pending on a small node (the chart can override).
PARALLELISM = 6


def build() -> WorkflowTemplate:
    """Build the harvest WorkflowTemplate; the dataset is a parameter, so one template serves all."""
    slice_input = Parameter(name="slice")
    slice_ = f"{{{{inputs.parameters.{slice_input.name}}}}}"
    dataset_input = Parameter(name="dataset")
    dataset = f"{{{{inputs.parameters.{dataset_input.name}}}}}"

    with WorkflowTemplate(
        name=NAME,
        entrypoint=ENTRYPOINT,
        on_exit="exit-handler",
        parallelism=PARALLELISM,
        arguments=[Parameter(name="dataset", description="Eurostat dataset code, as configured")],
        workflow_metadata=spec.workflow_metadata(
            "Eurostat harvest",
            "Plan, download, validate, stage and load one Eurostat dataset (parameter: dataset).",
        ),
        **spec.workflow_settings(),
    ) as wt:
        workflow_dataset = str(wt.get_parameter("dataset"))
        wt.metrics = spec.workflow_metrics("eurostat_harvest", dataset=workflow_dataset)
        run_url = f"{STAGE}/eurostat/{dataset}/{RUN_ID}"
        plan_url = f"{run_url}/plan.json"
        raw_url = f"{run_url}/raw/{slice_}"
        parquet_url = f"{run_url}/validated/{slice_}.parquet"
        per_dataset = [dataset_input]
        per_slice = [dataset_input, slice_input]

        plan = step(
            "plan",
            "eurostat",
            ["plan", dataset, "--run-id", RUN_ID, "--out", plan_url, "--slices-out", SLICES_FILE],
            warehouse=True,
            deadline=600,
            resources=resources("100m", "256Mi", "1", "512Mi"),
            inputs=per_dataset,
            # The default keeps a failed plan (no file written) a plain failure rather than an executor Error.
            outputs=[Parameter(name="slices", value_from=ValueFrom(path=SLICES_FILE, default="[]"))],
        )
        download = step(
            "download",
            "eurostat",
            ["download", "--plan", plan_url, "--slice", slice_, "--out", raw_url,
             "--async-waits-out", ASYNC_WAITS_FILE, "--async-seconds-out", ASYNC_SECONDS_FILE],
            warehouse=False,
            deadline=1800,
            resources=resources("100m", "256Mi", "1", "1Gi"),
            inputs=per_slice,
            synchronization=download_semaphore(),
            outputs=[Parameter(name="async_waits", value_from=ValueFrom(path=ASYNC_WAITS_FILE, default="0")),
                     Parameter(name="async_seconds", value_from=ValueFrom(path=ASYNC_SECONDS_FILE, default="0"))],
            metrics=Metrics(prometheus=spec.async_wait_metrics("eurostat_download", "async_waits", "async_seconds",
                                                               dataset=dataset)),
        )
        validate = step(
            "validate",
            "validate",
            ["validate", "--plan", plan_url, "--slice", slice_, "--raw", raw_url, "--out", parquet_url],
            warehouse=False,
            deadline=1800,
            resources=resources("250m", "512Mi", "2", "2Gi"),
            inputs=per_slice,
        )
        stage = step(
            "stage",
            "stage",
            ["stage", "--plan", plan_url, "--slice", slice_, "--in", parquet_url],
            warehouse=False,
            deadline=900,
            resources=resources("100m", "256Mi", "1", "512Mi"),
            inputs=per_slice,
        )
        load = step(
            "load",
            "load",
            ["load", "--plan", plan_url, "--rows-out", ROWS_FILE],
            warehouse=True,
            deadline=3600,
            resources=resources("250m", "512Mi", "2", "2Gi"),
            inputs=per_dataset,
            # One load per dataset at a time: two runs must not merge into the same history table at once.
            synchronization=mutex(f"eurostat-load-{dataset}"),
            outputs=[Parameter(name="rows", value_from=ValueFrom(path=ROWS_FILE, default="0"))],
            metrics=spec.step_metrics("eurostat_load", rows_parameter="rows", dataset=dataset),
        )
        record_failure = step(
            "record-failure",
            "load",
            # the exit handler runs for a standalone harvest only: there, the workflow parameter is the dataset
            ["record-failure", "--plan", f"{STAGE}/eurostat/{workflow_dataset}/{RUN_ID}/plan.json",
             "--reason", f"Argo workflow {RUN_ID} ended {{{{workflow.status}}}}"],
            warehouse=True,
            deadline=600,
            resources=resources("50m", "128Mi", "500m", "256Mi"),
        )

        with DAG(name="slice", inputs=per_slice) as slice_dag:
            arguments = {dataset_input.name: dataset, slice_input.name: slice_}
            (
                download(name="download", arguments=arguments)
                >> validate(name="validate", arguments=arguments)
                >> stage(name="stage", arguments=arguments)
            )

        with DAG(name=ENTRYPOINT, inputs=per_dataset):
            plan_task = plan(name="plan", arguments={dataset_input.name: dataset})
            slices = plan_task.get_parameter("slices")
            # '[]' (the CLI's exact output) means Eurostat has nothing new: skip the fan-out and the load.
            changed = f"'{slices}' != '[]'"
            fan_out = Task(
                name="slices",
                template=slice_dag,
                when=changed,
                with_param=slices,
                arguments={dataset_input.name: dataset, slice_input.name: "{{item}}"},
            )
            plan_task >> fan_out >> load(name="load", when=changed, arguments={dataset_input.name: dataset})

        with DAG(name="exit-handler"):
            record_failure(name="record-failure").on_workflow_status(WorkflowStatus.succeeded, Operator.not_equal)
    return wt
