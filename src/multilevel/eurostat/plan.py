"""Plan a harvest run: did the dataset change, and which slices must be downloaded?

The plan is a small JSON document written to the stage. Argo fans out over its slice ids (not its data: Argo keeps
only 256 kB of a step's output), and every later step reads the plan to know the dataset, the run and the slice.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from multilevel.datasets import Dataset
from multilevel.errors import ConfigError, ParseError
from multilevel.runs import check_run_id, new_run_id

if TYPE_CHECKING:  # only a type here: the load step reads plans without importing the HTTP client
    from multilevel.eurostat.client import EurostatClient

log = logging.getLogger(__name__)

# Slice and run ids become path segments of the stage: they start with a letter or digit, so '.' and '..' never match.
SLICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WHOLE = "all"  # slice id of a dataset small enough for one request
# Dimensions an automatic split prefers not to use when another needs as few requests: geo and time are what the
# download step splits a refused (413) request on, so keeping them whole leaves that fallback its full range.
LAST_RESORT = ("geo", "time")


@dataclass
class Slice:
    id: str
    filters: dict[str, list[str]]
    expected_min_rows: int | None = None


@dataclass
class Plan:
    dataset: str
    run_id: str
    changed: bool
    update_data: str | None
    update_structure: str | None
    split: str
    created_at: str
    slices: list[Slice] = field(default_factory=list)
    # Codes present per dimension that a too-big slice may be split on (geo by country, then time).
    split_codes: dict[str, list[str]] = field(default_factory=dict)
    # Every dimension the content constraint lists (lower case, time as ``time``): the shape each body must have.
    dimensions: list[str] = field(default_factory=list)
    # DISSEMINATION_TIMESTAMP_DATA: moves on a re-dissemination even when UPDATE_DATA does not (part of the change key)
    disseminated: str | None = None

    def slice(self, slice_id: str) -> Slice:
        for s in self.slices:
            if s.id == slice_id:
                return s
        raise ConfigError(f"slice {slice_id!r} is not in the plan of {self.dataset} run {self.run_id}")

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Plan:
        try:
            raw = json.loads(data)
            raw["slices"] = [Slice(**s) for s in raw["slices"]]
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as e:
            raise ParseError(f"not a multilevel plan document ({e}); pass the file written by `multilevel plan`") from e


def auto_slices(present: dict[str, list[str]], filters: dict[str, list[str]],
                max_cells: int) -> tuple[str | None, list[list[str]]]:
    """Choose the split dimension and its groups of codes: the fewest requests that each stay under ``max_cells``.

    ``present`` holds the codes per dimension (content constraint), ``filters`` the configured selections. A
    request's size is the product of its codes per dimension (empty cells count: that is how the API measures an
    extraction). Returns ``(None, [[]])`` when the whole selection fits in one request. When even one code per
    request is too big on every dimension, the dimension with the smallest requests wins and the download step
    splits further on the API's 413 (by country, then time).
    """
    sizes = {d: len([c for c in codes if d not in filters or c in filters[d]]) for d, codes in present.items()}
    total = math.prod(sizes.values())
    if total <= max_cells:
        return None, [[]]
    best = None
    for order, (dim, n) in enumerate(sizes.items()):
        if n < 2:
            continue
        per_code = total // n
        per_request = max(1, max_cells // per_code)
        fits = per_code <= max_cells
        # fitting: fewest requests; not fitting on any dimension: smallest requests (fewest 413 splits later)
        key = (not fits, math.ceil(n / per_request) if fits else per_code, dim in LAST_RESORT, order)
        if best is None or key < best[0]:
            best = (key, dim, per_request)
    if best is None:  # a single cell over the limit cannot happen with max_cells >= 1
        return None, [[]]
    _, dim, per_request = best
    codes = [c for c in present[dim] if dim not in filters or c in filters[dim]]
    return dim, [codes[i:i + per_request] for i in range(0, len(codes), per_request)]


def make_plan(
    client: EurostatClient,
    dataset: Dataset,
    *,
    last_loaded: tuple[str | None, str | None] | None,
    current_counts: dict[str, int] | Callable[[str], dict[str, int]],
    max_row_drop_fraction: float,
    run_id: str | None = None,
    max_cells: int = 1_000_000,
    last_loaded_at: datetime | None = None,
) -> Plan:
    """Ask the API whether ``dataset`` changed since ``last_loaded``; if so, list its slices.

    A configured ``split`` gives one slice per code of that dimension (as configured, always); without one the
    slices come from ``auto_slices``. ``current_counts`` are the rows loaded now per code of the split dimension
    (or a function of the dimension, when the split is chosen here).
    """
    run_id = check_run_id(run_id or new_run_id())
    flow = client.dataflow(dataset.code)
    plan = Plan(dataset.code, run_id, True, flow.update_data, flow.update_structure, dataset.split,
                datetime.now(UTC).isoformat(timespec="seconds"))
    plan.disseminated = flow.disseminated
    if (last_loaded is not None and last_loaded == (flow.update_data, flow.update_structure)
            and not _redisseminated_since(flow.disseminated, last_loaded_at)):
        plan.changed = False
        log.info("plan %s: unchanged since %s", dataset.code, flow.update_data)
        return plan

    present = client.content_constraint(dataset.code)
    loaded: set[str] = set()
    if dataset.split and dataset.split.lower() in present and dataset.split in dataset.filters:
        counts = current_counts(dataset.split) if callable(current_counts) else current_counts
        loaded = {str(c).upper() for c in counts}
    dataset = _checked_filters(dataset, present, loaded)
    plan.split_codes = {dim: present[dim] for dim in ("geo", "time") if dim in present}
    plan.dimensions = list(present)
    if dataset.split is None:
        return _auto_plan(plan, dataset, present, current_counts, max_row_drop_fraction, max_cells)
    if callable(current_counts):
        current_counts = current_counts(dataset.split)
    if dataset.split not in present:
        raise ConfigError(
            f"{dataset.code} has no dimension {dataset.split!r} to split on (it has {', '.join(present)}); "
            "fix `split` in datasets.yaml"
        )
    wanted = dataset.filters.get(dataset.split)
    codes = [c for c in present[dataset.split] if wanted is None or c in wanted]  # both in the API's spelling
    for code in codes:
        if not SLICE_ID.match(code):
            raise ParseError(f"{dataset.code}: code {code!r} of {dataset.split} cannot name a slice")
        previous = current_counts.get(code)
        plan.slices.append(Slice(
            id=code,
            filters={**dataset.filters, dataset.split: [code]},
            expected_min_rows=int(previous * (1 - max_row_drop_fraction)) if previous else None,
        ))
    log.info("plan %s run %s: %d slices by %s", dataset.code, run_id, len(plan.slices), dataset.split)
    return plan


def parse_update_time(text: str | None) -> datetime | None:
    """Eurostat's annotation dates (``2026-02-26T23:00:00+0100``) as aware datetimes; None if absent or odd."""
    if not text:
        return None
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, "%Y-%m-%dT%H:%M:%S%z")):
        try:
            moment = parse(text)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    log.warning("cannot read the date %r; its order is not checked", text)
    return None


def _redisseminated_since(disseminated: str | None, last_loaded_at: datetime | None) -> bool:
    """Whether Eurostat re-disseminated the dataset after our last load finished.

    A re-dissemination (e.g. the January 2025 flag recoding) moves DISSEMINATION_TIMESTAMP_DATA and leaves
    UPDATE_DATA as it was, so it is part of the change key: compared with when the last load finished.
    """
    moment = parse_update_time(disseminated)
    if moment is None or last_loaded_at is None:
        return False
    loaded = last_loaded_at if last_loaded_at.tzinfo else last_loaded_at.replace(tzinfo=UTC)
    return moment > loaded


def _checked_filters(dataset: Dataset, present: dict[str, list[str]], loaded: set[str]) -> Dataset:
    """The dataset with its filters in the API's spelling; ConfigError for a dimension or code the API lacks.

    The real API compares dimension names and codes case-insensitively and answers an unknown code with HTTP
    200 and no data, so an unchecked typo would load nothing, silently: this stops it before any download.
    Split codes that hold loaded rows (``loaded``, upper case) and vanished from the constraint are not a typo:
    the vanished-codes guard judges them.
    """
    filters: dict[str, list[str]] = {}
    for dim, codes in dataset.filters.items():
        name = dim.lower()
        if name not in present:
            raise ConfigError(
                f"{dataset.code} has no dimension {dim!r} (filters in datasets.yaml); its dimensions are "
                f"{', '.join(present)}"
            )
        spelled = {c.upper(): c for c in present[name]}
        unknown = [c for c in codes if str(c).upper() not in spelled
                   and not (name == (dataset.split or "").lower() and str(c).upper() in loaded)]
        if unknown:
            sample = ", ".join(present[name][:12]) + (" ..." if len(present[name]) > 12 else "")
            raise ConfigError(
                f"{dataset.code}: filter {dim}={'+'.join(map(str, unknown))} in datasets.yaml names code(s) that "
                f"Eurostat's content constraint does not list for {name} (it lists {sample}); fix or remove them"
            )
        filters[name] = [spelled.get(str(c).upper(), c) for c in codes]
    split = dataset.split.lower() if dataset.split else dataset.split
    if filters == dataset.filters and split == dataset.split:
        return dataset
    return dataset.model_copy(update={"filters": filters, "split": split})


def _auto_plan(plan: Plan, dataset: Dataset, present: dict[str, list[str]],
               current_counts: dict[str, int] | Callable[[str], dict[str, int]],
               max_row_drop_fraction: float, max_cells: int) -> Plan:
    dim, groups = auto_slices(present, dataset.filters, max_cells)
    plan.split = dim or ""
    # rows loaded now per code of the split dimension (of any dimension, summed, for one whole request)
    counted = dim or next(iter(present))
    counts = current_counts(counted) if callable(current_counts) else current_counts
    for k, codes in enumerate(groups):
        if dim is None:
            slice_id, filters = WHOLE, dict(dataset.filters)
            previous = sum(counts.values())
        else:
            slice_id = codes[0] if len(codes) == 1 and SLICE_ID.match(codes[0]) else f"{dim}.{k:03d}"
            filters = {**dataset.filters, dim: codes}
            previous = sum(counts.get(c, 0) for c in codes)
        plan.slices.append(Slice(
            id=slice_id, filters=filters,
            expected_min_rows=int(previous * (1 - max_row_drop_fraction)) if previous else None,
        ))
    log.info("plan %s run %s: %d slices by %s (automatic, at most %d cells each)", dataset.code, plan.run_id,
             len(plan.slices), dim or "nothing (one request)", max_cells)
    return plan
