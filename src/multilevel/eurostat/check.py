"""Discovery and the cheap daily check: which regional datasets exist, which are selected, which changed.

``discover`` reads the catalogue (one request) and the NUTS levels of regional candidates (one content-constraint
request per candidate, cached in ``eurostat.catalogue`` until the dataset's structure date moves).

``check`` is what runs every day for all selected datasets::

    catalogue (1 request) -> for each selected dataset:
        catalogue dates moved since the last check, or the dataset never loaded -> dataflow (1 request) -> changed?
        a known Eurostat update not loaded yet (a failed harvest) -> changed, no request
        otherwise -> unchanged, no request

The catalogue gives only the day of the last update, and Eurostat publishes twice a day (11:00 and 23:00
Brussels time): a dataset whose catalogue day is the day of its last check (or later) is asked again, so an
update published after the check on the same day is never missed.

What a check writes: one ``eurostat.check_log`` row, the ``eurostat.catalogue`` rows whose catalogue dates moved,
and one ``UPDATE ... SET checked_at`` for all selected datasets. Not one load_log row per unchanged dataset: at
hundreds of datasets twice a day that is a long table of nothing, and single-row inserts are slow on Redshift;
``eurostat.dataset_status`` shows each dataset's last check from these tables instead.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from multilevel.datasets import load_datasets, load_selections
from multilevel.errors import ApiError, MultilevelError
from multilevel.eurostat.catalogue import CatalogueEntry, geo_levels, is_regional, regional_candidate
from multilevel.eurostat.client import EurostatClient
from multilevel.runs import check_run_id, new_run_id
from multilevel.settings import Settings
from multilevel.warehouse import connect
from multilevel.warehouse.base import Warehouse
from multilevel.warehouse.history import ensure_schema, now_utc

log = logging.getLogger(__name__)

BRUSSELS = ZoneInfo("Europe/Brussels")
STATE_COLUMNS = ["dataset", "title", "type", "themes", "toc_update_data", "toc_update_structure", "toc_values",
                 "data_start", "data_end", "geo_levels", "probed_update_structure", "dataflow_update_data",
                 "dataflow_update_structure", "selected", "checked_at"]


@dataclass
class DatasetState:
    """One row of ``eurostat.catalogue``."""

    dataset: str
    title: str | None = None
    type: str | None = None
    themes: str | None = None
    toc_update_data: str | None = None
    toc_update_structure: str | None = None
    toc_values: int | None = None
    data_start: str | None = None
    data_end: str | None = None
    geo_levels: str | None = None
    probed_update_structure: str | None = None
    dataflow_update_data: str | None = None
    dataflow_update_structure: str | None = None
    selected: bool = False
    checked_at: datetime | None = None

    @property
    def levels(self) -> list[int] | None:
        if self.geo_levels is None:
            return None
        return [int(x) for x in self.geo_levels.split(",") if x]

    def row(self) -> tuple:
        return tuple(getattr(self, c) for c in STATE_COLUMNS)


@dataclass
class Listed:
    """A dataset as ``multilevel catalogue`` shows it."""

    code: str
    title: str
    type: str
    values: int | None
    levels: list[int] | None
    update_data: str | None
    update_structure: str | None
    themes: list[str] = field(default_factory=list)
    selected_by: str | None = None  # "configured" or "selection N (pattern)"

    def to_dict(self) -> dict:
        return {"code": self.code, "title": self.title, "type": self.type, "values": self.values,
                "nuts_levels": self.levels, "last_update_data": self.update_data,
                "last_structure_change": self.update_structure, "themes": self.themes,
                "selected_by": self.selected_by}


# --- warehouse state ---------------------------------------------------------------------------------------------
def ensure_catalogue_schema(wh: Warehouse) -> None:
    ensure_schema(wh)
    wh.run_sql_file("eurostat/catalogue.sql")
    wh.run_sql_file("eurostat/check_log.sql")
    wh.run_sql_file("eurostat/status_view.sql")


def read_state(wh: Warehouse) -> dict[str, DatasetState]:
    rows = wh.query(f"SELECT {', '.join(STATE_COLUMNS)} FROM eurostat.catalogue")
    return {r[0]: DatasetState(*r) for r in rows}


def write_state(wh: Warehouse, states: list[DatasetState]) -> None:
    """Replace the rows of ``states`` (few on a normal day: only datasets whose catalogue dates moved)."""
    for state in states:
        wh.execute("DELETE FROM eurostat.catalogue WHERE dataset = %s", (state.dataset,))
    wh.executemany(
        f"INSERT INTO eurostat.catalogue ({', '.join(STATE_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(STATE_COLUMNS))})",
        [s.row() for s in states],
    )


def last_loaded_versions(wh: Warehouse) -> dict[str, tuple[str | None, str | None]]:
    """(update_data, update_structure) of every dataset's last loaded run, in one query."""
    rows = wh.query(
        "SELECT l.dataset, l.update_data, l.update_structure FROM eurostat.load_log l "
        "JOIN (SELECT dataset, max(finished_at) AS f FROM eurostat.load_log WHERE status = 'loaded' "
        "GROUP BY dataset) m ON m.dataset = l.dataset AND m.f = l.finished_at WHERE l.status = 'loaded'"
    )
    return {r[0]: (r[1], r[2]) for r in rows}


# --- discovery -------------------------------------------------------------------------------------------------
def _state_from(entry: CatalogueEntry, old: DatasetState | None) -> DatasetState:
    state = DatasetState(
        entry.code, entry.title[:1000], entry.type, " ".join(entry.themes)[:1000], entry.update_data,
        entry.update_structure, entry.values, entry.data_start, entry.data_end,
    )
    if old is not None:
        state.geo_levels, state.probed_update_structure = old.geo_levels, old.probed_update_structure
        state.dataflow_update_data = old.dataflow_update_data
        state.dataflow_update_structure = old.dataflow_update_structure
        state.selected, state.checked_at = old.selected, old.checked_at
    return state


def needs_probe(state: DatasetState) -> bool:
    return state.geo_levels is None or state.probed_update_structure != state.toc_update_structure


def probe_levels(client: EurostatClient, states: list[DatasetState], workers: int) -> list[DatasetState]:
    """Fill ``geo_levels`` of the states that need it (one content-constraint request each); returns those."""
    todo = [s for s in states if needs_probe(s)]

    def probe(state: DatasetState) -> None:
        try:
            levels = geo_levels(client.content_constraint(state.dataset))
        except ApiError as e:  # listed in the catalogue but not served (yet): no geo to speak of
            log.warning("catalogue: %s has no content constraint (%s); treated as not regional", state.dataset, e)
            levels = []
        except MultilevelError as e:  # transient: leave it unknown (not selected now), ask again next time
            log.warning("catalogue: NUTS levels of %s unknown for now (%s); asked again next time", state.dataset, e)
            return
        state.geo_levels = ",".join(str(x) for x in levels)
        state.probed_update_structure = state.toc_update_structure

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(probe, todo))
    if todo:
        log.info("catalogue: asked the NUTS levels of %d datasets", len(todo))
    return todo  # the answered ones now have geo_levels; the others stay None


@dataclass
class Discovery:
    entries: dict[str, CatalogueEntry]
    states: dict[str, DatasetState]  # regional candidates and configured codes, probed as far as needed
    selected: dict[str, str]  # code -> why ("configured" / "selection N: pattern")
    requests: int
    dirty: list[DatasetState]  # states to write back: new, catalogue dates moved, or probed now


def discover(settings: Settings, client: EurostatClient, wh: Warehouse, *, probe_all: bool,
             entries: list[CatalogueEntry] | None = None, probe: bool = True) -> Discovery:
    """Catalogue + cached probes -> the regional datasets and the selected ones.

    ``probe_all``: ask the levels of every regional candidate (``multilevel catalogue``); otherwise only of
    candidates that a selection's code pattern and theme already accept (the daily check). ``probe=False``: ask
    nothing beyond the catalogue (levels only where earlier runs kept them).
    """
    requests = 0
    if entries is None:
        entries = client.catalogue()
        requests += 1
    by_code = {e.code: e for e in entries}
    old = read_state(wh)
    configured = [d.code for d in load_datasets(settings.datasets_file)]
    selections = load_selections(settings.datasets_file)

    def cheap_match(entry: CatalogueEntry) -> bool:
        return any(_cheap_match(s, entry) for s in selections)

    states: dict[str, DatasetState] = {}
    for entry in entries:
        if entry.code in configured or (regional_candidate(entry) and (probe_all or cheap_match(entry))):
            states[entry.code] = _state_from(entry, old.get(entry.code))
    for code in configured:  # configured but missing from the catalogue: still checked (by its dataflow)
        states.setdefault(code, old.get(code) or DatasetState(code))
    probed = probe_levels(client, [s for c, s in states.items() if c in by_code and (probe_all or c not in configured)],
                          settings.max_concurrent_downloads) if probe else []
    requests += len(probed)
    probed_codes = {s.dataset for s in probed}
    dirty = [s for c, s in states.items()
             if c in probed_codes or c not in old
             or (old[c].toc_update_data, old[c].toc_update_structure) != (s.toc_update_data, s.toc_update_structure)]

    selected: dict[str, str] = {code: "configured" for code in configured}
    for number, s in enumerate(selections, start=1):
        for code, state in states.items():
            entry = by_code.get(code)
            if code in selected or entry is None or not _cheap_match(s, entry):
                continue
            levels = state.levels or []
            if is_regional(levels) and max(levels) >= s.min_nuts_level:
                selected[code] = f"selection {number}: {s.pattern}" + (f" in {s.theme}" if s.theme else "")
    return Discovery(by_code, states, selected, requests, dirty)


def _cheap_match(selection, entry: CatalogueEntry) -> bool:
    """Code pattern and theme: what a selection can decide from the catalogue alone."""
    return selection.matches_code(entry.code) and (selection.theme is None or selection.theme.lower() in entry.themes)


def listing(discovery: Discovery, *, selected_only: bool) -> list[Listed]:
    out = []
    for code, state in discovery.states.items():
        entry = discovery.entries.get(code)
        why = discovery.selected.get(code)
        if selected_only and why is None:
            continue
        if not selected_only and state.levels is not None and not is_regional(state.levels):
            continue  # probed: no NUTS region in its geo (unprobed candidates are listed, levels "?")
        out.append(Listed(code, entry.title if entry else (state.title or ""), entry.type if entry else "?",
                          entry.values if entry else state.toc_values, state.levels,
                          entry.update_data if entry else state.toc_update_data,
                          entry.update_structure if entry else state.toc_update_structure,
                          list(entry.themes) if entry else [], why))
    return sorted(out, key=lambda x: x.code)


def catalogue_listing(settings: Settings, client: EurostatClient, *, selected_only: bool,
                      probe: bool = True) -> list[Listed]:
    """What ``multilevel catalogue`` prints; keeps the probes it made in the warehouse for next time."""
    with connect(settings.warehouse_url, settings) as wh:
        ensure_catalogue_schema(wh)
        found = discover(settings, client, wh, probe_all=not selected_only, probe=probe)
        with wh.transaction():
            for s in found.dirty:
                s.selected = s.dataset in found.selected
            write_state(wh, found.dirty)
    return listing(found, selected_only=selected_only)


# --- the daily check -------------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    check_id: str
    changed: list[str]
    unchanged: list[str]
    requests: int
    reasons: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"check_id": self.check_id, "requests": self.requests,
                "datasets": len(self.changed) + len(self.unchanged), "changed": self.changed,
                "unchanged": len(self.unchanged), "reasons": self.reasons}


def _day_of(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(BRUSSELS).date().isoformat()


def check(settings: Settings, client: EurostatClient | None = None) -> CheckResult:
    """Compare the catalogue with what the warehouse knows; ask the dataflow only where it may have changed."""
    client = client or EurostatClient.from_settings(settings)
    check_id = new_run_id()
    started = now_utc()
    with connect(settings.warehouse_url, settings) as wh:
        ensure_catalogue_schema(wh)
        found = discover(settings, client, wh, probe_all=False)
        loaded = last_loaded_versions(wh)
        old = read_state(wh)
        result = CheckResult(check_id, [], [], found.requests)
        rewrite: dict[str, DatasetState] = {state.dataset: state for state in found.dirty}
        ask: list[DatasetState] = []
        for code in sorted(found.selected):
            state = found.states[code]
            before = old.get(code)
            moved = (
                before is None
                or (before.toc_update_data, before.toc_update_structure)
                != (state.toc_update_data, state.toc_update_structure)
                or code not in found.entries  # not in the catalogue: only the dataflow can tell
                or (state.toc_update_data or "") >= (_day_of(before.checked_at) or "")  # same-day publication
                or not before.selected
            )
            if moved or code not in loaded:
                ask.append(state)
            elif state.dataflow_update_data and (state.dataflow_update_data, state.dataflow_update_structure) \
                    != loaded[code]:
                result.changed.append(code)  # known update not loaded yet (e.g. its harvest failed): no request
                result.reasons[code] = "known update not loaded yet"
            else:
                result.unchanged.append(code)
            if moved:
                rewrite.setdefault(code, state)

        def ask_dataflow(state: DatasetState) -> tuple[DatasetState, object]:
            try:
                return state, client.dataflow(state.dataset)
            except MultilevelError as e:  # one dataset's failure never stops the others: its harvest reports it
                return state, e

        with ThreadPoolExecutor(max(1, settings.max_concurrent_downloads)) as pool:
            answers = list(pool.map(ask_dataflow, ask))
        result.requests += len(ask)
        for state, flow in answers:
            code = state.dataset
            if isinstance(flow, Exception):
                result.changed.append(code)
                result.reasons[code] = f"dataflow failed ({flow}); the harvest will retry and report"
                continue
            state.dataflow_update_data, state.dataflow_update_structure = flow.update_data, flow.update_structure
            if code not in loaded:
                result.changed.append(code)
                result.reasons[code] = "never loaded"
            elif (flow.update_data, flow.update_structure) != loaded[code]:
                result.changed.append(code)
                result.reasons[code] = f"Eurostat updated it {flow.update_data}"
            else:
                result.unchanged.append(code)
            rewrite.setdefault(code, state)
        result.changed.sort()
        now = now_utc()
        with wh.transaction():
            for state in rewrite.values():
                state.selected = state.dataset in found.selected
                state.checked_at = now
            write_state(wh, list(rewrite.values()))
            previously = {c for c, s in old.items() if s.selected}
            dropped = previously - set(found.selected)
            for code in dropped:  # no longer selected (datasets.yaml changed): kept, but not checked any more
                wh.execute("UPDATE eurostat.catalogue SET selected = FALSE WHERE dataset = %s", (code,))
            wh.execute("UPDATE eurostat.catalogue SET checked_at = %s WHERE selected", (now,))
            wh.execute(
                "INSERT INTO eurostat.check_log (check_id, started_at, finished_at, requests, datasets, changed, "
                "unchanged, changed_list) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (check_id, started, now_utc(), result.requests, len(found.selected), len(result.changed),
                 len(result.unchanged), " ".join(result.changed)[:4000] or None),
            )
    log.info("check %s: %d datasets, %d changed, %d requests", check_id, len(found.selected),
             len(result.changed), result.requests)
    return result


# --- status ----------------------------------------------------------------------------------------------------
STATUS_COLUMNS = ["dataset", "title", "last_checked_at", "eurostat_updated_on", "eurostat_update_data",
                  "last_loaded_at", "loaded_update_data", "current_rows", "revisions_kept", "last_failed_at",
                  "last_failure"]


def _parse_eurostat_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z"):
        try:
            return datetime.strptime(text, fmt).astimezone(UTC).replace(tzinfo=None)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text).astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        return None


def status(settings: Settings, *, stale_after_hours: float, now: datetime | None = None) -> list[dict]:
    """One dict per dataset (view columns plus ``stale`` and ``why``), configured datasets never seen included."""
    now = now or now_utc()
    limit = stale_after_hours * 3600
    with connect(settings.warehouse_url, settings) as wh:
        ensure_catalogue_schema(wh)
        rows = wh.query(f"SELECT {', '.join(STATUS_COLUMNS)} FROM eurostat.dataset_status ORDER BY dataset")
    out = {r[0]: dict(zip(STATUS_COLUMNS, r, strict=True)) for r in rows}
    for d in load_datasets(settings.datasets_file):
        out.setdefault(d.code, {c: None for c in STATUS_COLUMNS} | {"dataset": d.code, "revisions_kept": 0})
    for row in out.values():
        why = []
        if row["last_loaded_at"] is None:
            why.append("never loaded")
        if row["last_checked_at"] is None or (now - row["last_checked_at"]).total_seconds() > limit:
            why.append(f"not checked for more than {stale_after_hours:g} h")
        published = _parse_eurostat_ts(row["eurostat_update_data"])
        if (published and row["eurostat_update_data"] != row["loaded_update_data"]
                and (now - published).total_seconds() > limit):
            why.append(f"Eurostat's update of {row['eurostat_update_data']} not loaded after {stale_after_hours:g} h")
        row["stale"] = bool(why)
        row["why"] = "; ".join(why)
    return [out[k] for k in sorted(out)]


# --- a check run on Argo: what it handed to the harvests, and which of them never finished ---------------------
def check_record_key(run_id: str) -> str:
    """Stage key of the datasets a check run handed over (``_checks`` can never be a dataset code)."""

    return f"eurostat/_checks/{check_run_id(run_id)}/changed.json"


def write_check_record(settings: Settings, run_id: str, result: CheckResult) -> str:
    from multilevel.stage import open_store

    store = open_store(settings.stage_url)
    key = check_record_key(run_id)
    store.write_bytes(key, json.dumps({"check_id": result.check_id, "changed": result.changed}).encode())
    return store.url_for(key)


def record_unfinished(settings: Settings, run_id: str, reason: str) -> list[str]:
    """Record a failure for every dataset a check run handed over whose harvest (run ``run_id``) logged nothing.

    On Argo the catalogue workflow's exit handler runs this: the harvests it fanned out share its run id, and a
    harvest that finished logged ``loaded`` or ``unchanged`` (a plan or load failure inside it logged ``failed``).
    Returns the datasets recorded now.
    """
    from multilevel.errors import StageError
    from multilevel.stage import open_store
    from multilevel.warehouse.history import record_run

    store = open_store(settings.stage_url)
    key = check_record_key(run_id)
    try:
        handed = json.loads(store.read_bytes(key))["changed"]
    except StageError:  # the check itself failed before it wrote its record: nothing was handed over
        log.warning("check run %s wrote no record at %s; nothing to record", run_id, store.url_for(key))
        return []
    with connect(settings.warehouse_url, settings) as wh:
        ensure_catalogue_schema(wh)
        logged = {r[0] for r in wh.query("SELECT DISTINCT dataset FROM eurostat.load_log WHERE run_id = %s",
                                         (run_id,))}
        missing = [code for code in handed if code not in logged]
        with wh.transaction():
            for code in missing:
                record_run(wh, code, run_id, "failed", started_at=now_utc(), message=reason)
    return missing
