"""One CronWorkflow per configured dataset, each running the ``eurostat-harvest`` template for its dataset."""

from __future__ import annotations

from hera.workflows import CronWorkflow, Parameter
from hera.workflows.models import WorkflowTemplateRef

from workflows import harvest, spec
from workflows.config import ScheduledDataset as Dataset

# Eurostat publishes at 11:00 and 23:00 Brussels time; schedules in datasets.yaml are Brussels time too.
TIMEZONE = "Europe/Brussels"
# A run that could not start within 30 minutes of its slot is skipped: the next slot comes 12 hours later.
STARTING_DEADLINE_SECONDS = 1800


def cron_name(dataset: Dataset) -> str:
    """Kubernetes name of a dataset's CronWorkflow (names allow '-', not '_')."""
    return "eurostat-" + dataset.code.replace("_", "-")


def build(dataset: Dataset) -> CronWorkflow:
    """The CronWorkflow of one dataset: its schedules, Brussels time, never two runs at once."""
    title = f"Eurostat {dataset.code}"
    return CronWorkflow(
        name=cron_name(dataset),
        labels={**spec.LABELS, "multilevel/dataset": dataset.code},
        schedules=list(dataset.schedule),
        timezone=TIMEZONE,
        concurrency_policy="Forbid",
        starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        cron_suspend=False,
        workflow_template_ref=WorkflowTemplateRef(name=harvest.NAME),
        arguments=[Parameter(name="dataset", value=dataset.code)],
        workflow_metadata=spec.workflow_metadata(title, dataset.description or title),
    )
