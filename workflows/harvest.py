"""WorkflowTemplate ``eurostat-harvest``: one dataset, from "has it changed?" to one warehouse transaction.

    plan ──(changed)──> slices: withParam over the slice ids, one sub-DAG each ──> load
                         download -> validate -> stage
    onExit: record-failure, when the workflow did not succeed

Steps hand each other URLs under the stage URL, keyed by dataset and run (the workflow name); the only
value that travels through Argo is the small JSON list of slice ids that drives the fan-out.
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, Task, WorkflowTemplate
from hera.workflows.models import ValueFrom

from workflows import spec
from workflows.steps import STAGE, download_semaphore, mutex, resources, step

NAME = "eurostat-harvest"
DATASET = "{{workflow.parameters.dataset}}"
RUN_ID = "{{workflow.name}}"
RUN_URL = f"{STAGE}/eurostat/{DATASET}/{RUN_ID}"
PLAN_URL = f"{RUN_URL}/plan.json"
SLICES_FILE = "/tmp/slices.json"
FAILURE_REASON = f"Argo workflow {RUN_ID} ended {{{{workflow.status}}}}"
# Argo's `when` on the plan's slice list: '[]' (the CLI's exact output) means Eurostat has nothing new.
CHANGED = "{{=tasks.plan.outputs.parameters.slices != '[]'}}"


def build() -> WorkflowTemplate:
    """Build the harvest WorkflowTemplate; the dataset is a parameter, so one template serves all."""
    slice_ = "{{inputs.parameters.slice}}"
    raw_url = f"{RUN_URL}/raw/{slice_}"
    parquet_url = f"{RUN_URL}/validated/{slice_}.parquet"
    slice_inputs = [Parameter(name="slice")]

    with WorkflowTemplate(
        name=NAME,
        entrypoint="harvest",
        on_exit="exit-handler",
        arguments=[Parameter(name="dataset", description="Eurostat dataset code, as configured")],
        workflow_metadata=spec.workflow_metadata(
            "Eurostat harvest",
            "Plan, download, validate, stage and load one Eurostat dataset (parameter: dataset).",
        ),
        metrics=spec.workflow_metrics("eurostat_harvest", dataset=DATASET),
        **spec.workflow_settings(),
    ) as wt:
        plan = step(
            "plan",
            "eurostat",
            ["plan", DATASET, "--run-id", RUN_ID, "--out", PLAN_URL, "--slices-out", SLICES_FILE],
            warehouse=True,
            deadline=600,
            resources=resources("100m", "256Mi", "1", "512Mi"),
            outputs=[Parameter(name="slices", value_from=ValueFrom(path=SLICES_FILE))],
        )
        download = step(
            "download",
            "eurostat",
            ["download", "--plan", PLAN_URL, "--slice", slice_, "--out", raw_url],
            warehouse=False,
            deadline=1800,
            resources=resources("100m", "256Mi", "1", "1Gi"),
            inputs=slice_inputs,
            synchronization=download_semaphore(),
        )
        validate = step(
            "validate",
            "validate",
            ["validate", "--plan", PLAN_URL, "--slice", slice_, "--raw", raw_url, "--out", parquet_url],
            warehouse=False,
            deadline=1800,
            resources=resources("250m", "512Mi", "2", "2Gi"),
            inputs=slice_inputs,
        )
        stage = step(
            "stage",
            "stage",
            ["stage", "--plan", PLAN_URL, "--slice", slice_, "--in", parquet_url],
            warehouse=False,
            deadline=900,
            resources=resources("100m", "256Mi", "1", "512Mi"),
            inputs=slice_inputs,
        )
        load = step(
            "load",
            "load",
            ["load", "--plan", PLAN_URL],
            warehouse=True,
            deadline=3600,
            resources=resources("250m", "512Mi", "2", "2Gi"),
            # One load per dataset at a time: two runs must not merge into the same history table at once.
            synchronization=mutex(f"eurostat-load-{DATASET}"),
            metrics=spec.step_metrics("eurostat_load", rows_field="rows_received", dataset=DATASET),
        )
        record_failure = step(
            "record-failure",
            "load",
            ["record-failure", "--plan", PLAN_URL, "--reason", FAILURE_REASON],
            warehouse=True,
            deadline=600,
            resources=resources("50m", "128Mi", "500m", "256Mi"),
        )

        with DAG(name="slice", inputs=slice_inputs):
            arguments = {"slice": slice_}
            (
                download(name="download", arguments=arguments)
                >> validate(name="validate", arguments=arguments)
                >> stage(name="stage", arguments=arguments)
            )

        with DAG(name="harvest"):
            plan_task = plan(name="plan")
            slices = _fan_out(plan_task)
            plan_task >> slices >> load(name="load", when=CHANGED)

        with DAG(name="exit-handler"):
            record_failure(name="record-failure", when="{{workflow.status}} != Succeeded")
    return wt


def _fan_out(plan_task: Task) -> Task:
    """The per-slice sub-DAG, once per slice id the plan wrote (skipped when the dataset is unchanged)."""
    return Task(
        name="slices",
        template="slice",
        when=CHANGED,
        with_param="{{tasks.plan.outputs.parameters.slices}}",
        arguments={"slice": "{{item}}"},
    )
