"""WorkflowTemplate ``ess-load``: load one ESS round from a Stata file, submitted on demand.

argo submit --from workflowtemplate/ess-load -p source=s3://bucket/ess/ESS9e03.dta -p round=9
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, WorkflowTemplate

from workflows import spec
from workflows.steps import mutex, resources, step

NAME = "ess-load"


def build() -> WorkflowTemplate:
    """Build the ESS load WorkflowTemplate (parameters: source file URL, round)."""
    with WorkflowTemplate(
        name=NAME,
        entrypoint="ess",
        arguments=[
            Parameter(
                name="source",
                description="s3:// or https:// URL of the ESS Stata file (a pod has no local files to read)",
            ),
            Parameter(name="round", value="9", description="ESS round number of the file"),
        ],
        workflow_metadata=spec.workflow_metadata(
            "ESS load",
            "Read, validate and load one European Social Survey round (parameters: source, round).",
        ),
        metrics=spec.workflow_metrics("ess_load"),
        **spec.workflow_settings(deadline=2 * 3600),
    ) as wt:
        load = step(
            "ess-load",
            "ess",
            ["ess", "load", str(wt.get_parameter("source")), "--round", str(wt.get_parameter("round"))]
            + ["--run-id", "{{workflow.name}}"],
            warehouse=True,
            deadline=3600,
            # A round is ~50k respondents x a few hundred columns, read whole by pyreadstat.
            resources=resources("500m", "1Gi", "2", "4Gi"),
            # One ESS load at a time: respondents of a round are replaced in one transaction.
            synchronization=mutex("ess-load"),
            metrics=spec.step_metrics("ess_load_step"),
        )
        with DAG(name="ess"):
            load(name="load")
    return wt
