"""Checks that keep a misbehaving API answer out of the current view.

A flaky, overloaded or stale API can answer in ways that parse and validate cell by cell yet would leave
``eurostat.<dataset>`` wrong: a body for another dataset, a dimension more or less, split codes missing from a
partial content constraint, an older ``UPDATE_DATA`` from a stale mirror. Each check here turns one of them into a
clear error before anything is staged or loaded (the history would keep the old rows, but every user of the current
view would see wrong data and nothing would warn).
"""

from __future__ import annotations

import logging

from multilevel.errors import ApiUnavailable, ParseError, StructureChanged, ValidationFailed, VersionDrift
from multilevel.eurostat.plan import Plan, parse_update_time

log = logging.getLogger(__name__)

TIME_DIMENSION = "time"


def check_not_older(dataset: str, answered: str | None, known: str | None, *, what: str, setting: str,
                    required: bool = False) -> None:
    """Refuse data whose UPDATE_DATA is older than what we already have (a stale mirror or cache); with
    ``required`` (the dataflow, which always carries it), also an answer whose UPDATE_DATA is missing or unreadable:
    it cannot be shown not to be older."""
    new, old = parse_update_time(answered), parse_update_time(known)
    if required and new is None and old is not None:
        raise ApiUnavailable(
            f"{dataset}: {what} gives no readable UPDATE_DATA ({answered!r}), so it cannot be compared with {known} "
            "already loaded: a broken answer or a stale mirror. Nothing was loaded; run again later. If the API "
            f"really stopped publishing it, set {setting}=true for one run."
        )
    if new is not None and old is not None and new < old:
        raise ApiUnavailable(
            f"{dataset}: {what} says UPDATE_DATA {answered}, older than {known} (already loaded or planned): the "
            "API answered from a stale mirror or cache. Nothing was loaded; run again later. If Eurostat really "
            f"withdrew the newer data, set {setting}=true for one run."
        )


def check_same_version(plan: Plan, answered: str | None, *, what: str) -> None:
    """A part newer than the plan means Eurostat published during the run (11:00 and 23:00 Brussels time):
    loading it with parts of the planned version would mix two versions, so the run stops before any load."""
    new, planned = parse_update_time(answered), parse_update_time(plan.update_data)
    if new is not None and planned is not None and new > planned:
        raise VersionDrift(
            f"{plan.dataset}: {what} says UPDATE_DATA {answered}, but run {plan.run_id} planned {plan.update_data}: "
            "Eurostat published a new version during the run. Nothing was loaded; the next run plans and loads "
            "the new version whole."
        )


def dimensions_changed(dataset: str, before: list[str], after: list[str], *, where: str, fix: str) -> str | None:
    """A sentence naming the dimensions added and removed between ``before`` and ``after`` (None if the same)."""
    added = [d for d in after if d not in before]
    removed = [d for d in before if d not in after]
    if not added and not removed:
        return None
    parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
    return (
        f"{dataset} changed structure: dimension(s) {'; '.join(parts)} ({where}: {', '.join(before)}; now: "
        f"{', '.join(after)}). {fix}"
    )


def check_warehouse_structure(plan: Plan, loaded: list[str]) -> None:
    """The dimensions the API lists now must be those of the loaded history table (``loaded``, time excluded)."""
    planned = [d for d in plan.dimensions if d != TIME_DIMENSION]
    if not loaded or not planned:
        return
    change = dimensions_changed(
        plan.dataset, loaded, planned, where=f"eurostat.{plan.dataset}_history has",
        fix=f"The history table cannot take the new shape: keep the old history with ALTER TABLE "
        f"eurostat.{plan.dataset}_history RENAME TO {plan.dataset}_history_old (and drop the view "
        f"eurostat.{plan.dataset}), then harvest again.",
    )
    if change:
        raise StructureChanged(change)


def check_body(plan: Plan, body_dataset: str | None, dimensions: list[str], where: str) -> None:
    """A body must be the planned dataset and have the planned dimensions (time excluded)."""
    if body_dataset is not None and body_dataset != plan.dataset:
        raise ParseError(
            f"{where}: the API answered with dataset {body_dataset} for a request of {plan.dataset} (a misrouted or "
            "cached answer); nothing was staged. Download the slice again; report it to Eurostat if it persists."
        )
    planned = [d for d in plan.dimensions if d != TIME_DIMENSION]
    if planned:
        change = dimensions_changed(
            plan.dataset, planned, dimensions, where=f"the plan of run {plan.run_id} (content constraint) lists",
            fix=f"{where} does not fit the plan; if Eurostat changed the dataset's structure meanwhile, plan a new "
            "run.",
        )
        if change:
            raise StructureChanged(change)


def check_vanished_codes(plan: Plan, current_counts: dict[str, int], *, max_fraction: float, accept: bool) -> None:
    """Split codes with current rows that the API no longer lists close all those rows: refuse over the threshold.

    An overloaded API may answer a partial or stale content constraint; treating its missing codes as deleted would
    empty most of the current view. Like a shrinking slice, the rows they hold may drop by ``max_fraction`` of the
    current rows at most, unless ``accept`` (MULTILEVEL_ACCEPT_VANISHED_CODES) says Eurostat really dropped them.
    """
    # codes of the split dimension the slices ask for (an automatic slice may group several codes)
    planned = {code for s in plan.slices for code in s.filters.get(plan.split, [s.id])}
    vanished = {code: n for code, n in sorted(current_counts.items()) if code not in planned and n}
    if not vanished:
        return
    total = sum(current_counts.values())
    rows = sum(vanished.values())
    names = ", ".join(f"{code} ({n} rows)" for code, n in list(vanished.items())[:10])
    more = f" and {len(vanished) - 10} more" if len(vanished) > 10 else ""
    if accept or rows <= total * max_fraction:
        log.warning("%s: %d code(s) of %s vanished from the API, their %d current rows will be closed: %s%s",
                    plan.dataset, len(vanished), plan.split, rows, names, more)
        return
    raise ValidationFailed(
        f"{plan.dataset}: {len(vanished)} code(s) of {plan.split} with current rows vanished from the API's content "
        f"constraint: {names}{more}. Loading would close {rows} of {total} current rows "
        f"({rows / total:.0%}, more than MULTILEVEL_MAX_ROW_DROP_FRACTION={max_fraction}). A partial answer from an "
        "overloaded API is the usual cause: run again later. If Eurostat really dropped these codes, set "
        "MULTILEVEL_ACCEPT_VANISHED_CODES=true for one run."
    )
