"""Automatic slicing: the fewest requests that each stay under the cell limit, configured splits kept as they are."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from multilevel.datasets import Dataset
from multilevel.eurostat.client import EurostatClient
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.eurostat.plan import WHOLE, auto_slices, make_plan

PRESENT = {"freq": ["A"], "unit": ["NR", "PC"], "age": [f"Y{i}" for i in range(20)],
           "geo": [f"G{i:03d}" for i in range(100)], "time": [str(y) for y in range(2010, 2020)]}
TOTAL = 1 * 2 * 20 * 100 * 10  # 40,000 cells


def cells(present, filters):
    return math.prod(len(filters.get(d, codes)) for d, codes in present.items())


def test_a_selection_under_the_limit_is_one_request():
    assert auto_slices(PRESENT, {}, TOTAL) == (None, [[]])


@pytest.mark.parametrize("limit", [20_000, 10_000, 7_000, 2_000, 400])
def test_fewest_requests_each_under_the_limit(limit):
    dim, groups = auto_slices(PRESENT, {}, limit)
    assert all(cells(PRESENT, {dim: g}) <= limit for g in groups)
    assert sorted(c for g in groups for c in g) == sorted(PRESENT[dim])  # every code once
    best = min(math.ceil(len(codes) / max(1, limit // (TOTAL // len(codes))))
               for codes in PRESENT.values() if len(codes) > 1 and TOTAL // len(codes) <= limit)
    assert len(groups) == best


def test_ties_prefer_a_dimension_other_than_geo_and_time():
    dim, groups = auto_slices(PRESENT, {}, 20_000)  # unit, age, geo and time would all need 2 requests
    assert (dim, len(groups)) == ("unit", 2)


def test_filters_shrink_the_selection_before_it_is_split():
    dim, groups = auto_slices(PRESENT, {"geo": ["G001", "G002"]}, 400)
    assert all(cells(PRESENT, {"geo": ["G001", "G002"], dim: g}) <= 400 for g in groups)
    assert len(groups) == 2


def test_too_big_even_per_code_picks_the_smallest_requests():
    dim, groups = auto_slices(PRESENT, {}, 100)  # no single code of any dimension fits: the 413 split goes on
    assert dim == "geo" and len(groups) == 100


def test_configured_split_is_kept_and_automatic_slices_load_the_same_rows(settings, api):
    client = EurostatClient(api.url)
    configured = make_plan(client, Dataset(code="demo_r_pjanind3", split="indic_de"), last_loaded=None,
                           current_counts={}, max_row_drop_fraction=0.05, max_cells=100)
    assert configured.split == "indic_de"
    assert [s.id for s in configured.slices] == api.cube("demo_r_pjanind3").present_codes()["indic_de"]
    whole = make_plan(client, Dataset(code="demo_r_pjanind3"), last_loaded=None, current_counts={},
                      max_row_drop_fraction=0.05, max_cells=10_000_000)
    assert [s.id for s in whole.slices] == [WHOLE] and whole.slices[0].filters == {}
    auto = make_plan(client, Dataset(code="demo_r_pjanind3"), last_loaded=None, current_counts={},
                     max_row_drop_fraction=0.05, max_cells=2_000)
    shape = {d: len(c) for d, c in api.cube("demo_r_pjanind3").present_codes().items()}
    assert all(math.prod(len(s.filters.get(d, range(n))) for d, n in shape.items()) <= 2_000 for s in auto.slices)
    assert len({s.id for s in auto.slices}) == len(auto.slices) > 1


def test_a_selected_dataset_without_split_harvests_with_automatic_slices(settings, api, tmp_path):
    config = tmp_path / "datasets.yaml"
    config.write_text("datasets: []\nselections:\n  - pattern: 'demo_r_*'\n")
    settings.datasets_file = config
    settings.max_cells_per_request = 3_000
    result = harvest_dataset(settings, "demo_r_pjanind3")
    assert result.status == "loaded"
    db = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    rows = db.execute("SELECT count(*) FROM eurostat.demo_r_pjanind3").fetchone()[0]
    db.close()
    assert rows == api.cube("demo_r_pjanind3").obs_count()
    over = [r for r in api.request_log if "/statistics/" in r[1] and r[2] == 413]
    assert over == []  # every request stayed under the stand-in's limit: no 413 round trips


def test_a_plan_with_more_slices_than_the_cap_is_refused_before_any_download(settings, api):
    from multilevel.errors import ConfigError
    from multilevel.eurostat.steps import plan_step

    slices = len(api.cube("demo_r_pjanind3").present_codes()["indic_de"])  # split: indic_de (datasets.yaml)
    settings.max_slices_per_run = slices - 1
    with pytest.raises(ConfigError) as refused:
        harvest_dataset(settings, "demo_r_pjanind3")
    message = str(refused.value)
    assert f"demo_r_pjanind3: the plan has {slices} slices" in message
    assert f"MULTILEVEL_MAX_SLICES_PER_RUN={slices - 1}" in message
    assert "split on a dimension with fewer codes" in message  # the fix for a configured split
    assert not [r for r in api.request_log if "/statistics/" in r[1]]  # nothing downloaded
    assert not list(Path(settings.stage_url).glob("**/plan.json"))  # nothing staged
    db = duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True)
    logged = db.execute("SELECT status, message FROM eurostat.load_log").fetchall()
    db.close()
    assert [status for status, _ in logged] == ["failed"] and "MAX_SLICES_PER_RUN" in logged[0][1]
    settings.max_slices_per_run = slices  # at the cap: accepted
    assert len(plan_step(settings, "demo_r_pjanind3").plan.slices) == slices


def test_automatic_slices_over_the_cap_name_the_cells_setting_as_the_fix(settings, api, tmp_path):
    from multilevel.errors import ConfigError

    config = tmp_path / "datasets.yaml"
    config.write_text("datasets:\n  - code: demo_r_pjanind3\n")
    settings.datasets_file = config
    settings.max_cells_per_request = 2_000
    settings.max_slices_per_run = 2
    with pytest.raises(ConfigError, match=r"demo_r_pjanind3: the plan has \d+ slices \(automatic slices of up to "
                                          r"2,000 cells\).*raise MULTILEVEL_MAX_CELLS_PER_REQUEST"):
        harvest_dataset(settings, "demo_r_pjanind3")
