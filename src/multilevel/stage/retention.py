"""Stage retention: keep the last N runs of each dataset, delete older ones after a successful load.

Every run stages a full copy of its dataset (that is what makes a load repeatable and a run auditable), so without
retention the stage grows by a dataset per run, forever. After a run loads, the runs of its dataset that were
planned before it, except the newest ``keep``, are deleted (the loaded run itself always counts as one of them).
Runs planned after it are never touched: they may still be running. Order is the plan's ``created_at``, not the run
id (Argo names runs after the workflow, which does not sort by time). A run without a plan (a killed plan step) is
left to the clean-up of orphan runs.

On S3 the same rule runs from the load step; docs/deploy.md shows the bucket lifecycle rule that backs it up (for
runs whose load never succeeded).
"""

from __future__ import annotations

import json
import logging

from multilevel.errors import StageError
from multilevel.stage import Store

log = logging.getLogger(__name__)


def runs_of(stage: Store, dataset: str) -> dict[str, str]:
    """``run_id -> created_at`` of every planned run of ``dataset`` in the stage."""
    runs: dict[str, str] = {}
    prefix = f"eurostat/{dataset}"
    for key in stage.list(prefix):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == "plan.json":
            try:
                runs[parts[2]] = json.loads(stage.read_bytes(key)).get("created_at") or ""
            except (StageError, ValueError) as e:
                log.warning("retention: cannot read %s (%s); leaving that run alone", stage.url_for(key), e)
    return runs


def prune_runs(stage: Store, dataset: str, loaded_run: str, keep: int) -> list[str]:
    """Delete the runs of ``dataset`` planned before ``loaded_run`` beyond the newest ``keep``; returns them."""
    runs = runs_of(stage, dataset)
    if loaded_run not in runs:
        return []
    cutoff = runs[loaded_run]
    older = sorted((r for r, t in runs.items() if t <= cutoff and r != loaded_run),
                   key=lambda r: (runs[r], r), reverse=True)
    doomed = ([loaded_run] + older)[max(keep, 1):]  # the loaded run always stays
    for run in doomed:
        keys = stage.list(f"eurostat/{dataset}/{run}")
        # plan.json last: a run whose deletion was interrupted still has its plan, so the next load finds it again
        keys.sort(key=lambda k: k.endswith("/plan.json"))
        stage.delete(keys)
        log.info("retention: deleted %s run %s (%d files; keeping the newest %d runs)", dataset, run, len(keys), keep)
    return doomed
