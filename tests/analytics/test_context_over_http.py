"""Regional context rebuilt across NUTS versions, end to end over HTTP: the stand-in serves Norway's regions only in
current codes (``--current-codes NO``: NO08-NO0B next to unchanged codes, a retired NUTS 2016 code kept for its own
years), the real CLI harvests it, loads the synthetic ESS9 file and builds the context; the reconstructed values
equal a JRC interpolation computed here by hand from the values the API served and the hand-copied JRC pieces.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from jrc_pieces import CASES, WHOLE

from multilevel.cli import main
from multilevel.context import build_values, load_context_config
from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.paths import DATA_DIR
from multilevel.standin import StandIn
from multilevel.warehouse import connect

ESS_FILE = DATA_DIR / "ess9_synthetic.dta"
OLD = ["Y65-69", "Y70-74", "Y75-79", "Y80-84", "Y_GE85"]
WORKING = ["Y15-19", "Y20-24", "Y25-29", "Y30-34", "Y35-39", "Y40-44", "Y45-49", "Y50-54", "Y55-59", "Y60-64"]


@pytest.fixture(scope="module")
def api():
    with StandIn(size="small", current_codes=["NO"]) as server:
        yield server


@pytest.fixture(scope="module")
def built(api, tmp_path_factory):
    """Harvest (real CLI, over HTTP), ESS load, context build; returns the warehouse URL and the CLI outputs."""
    folder = tmp_path_factory.mktemp("context-http")
    env = {
        "MULTILEVEL_EUROSTAT_URL": api.url,
        "MULTILEVEL_STAGE_URL": str(folder / "stage"),
        "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{folder / 'warehouse.duckdb'}",
        "MULTILEVEL_SLICE_PROCESSES": "0",
        "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
    }
    runner = CliRunner()
    outputs = {}
    for name, args in (
        ("harvest", ["harvest", "--no-progress", "demo_r_pjangrp3", "demo_r_pjanind3"]),
        ("ess", ["ess", "load", str(ESS_FILE)]),
        ("build", ["context", "build"]),
    ):
        result = runner.invoke(main, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, (name, result.output)
        outputs[name] = result.output
    return env["MULTILEVEL_WAREHOUSE_URL"], outputs


def served(api: StandIn, dataset: str, query: str) -> pd.DataFrame:
    body = requests.get(f"{api.url}/statistics/1.0/data/{dataset}?format=JSON&lang=EN{query}", timeout=30).content
    return parse_jsonstat(body).frame


def served_counts(api: StandIn, year: int, ages: list[str] | None = None) -> dict[str, float]:
    """People per NUTS 3 region of Norway in ``year`` as the API serves them (all ages, or the groups listed)."""
    query = f"&freq=A&unit=NR&sex=T&time={year}" + "".join(f"&age={a}" for a in (ages or ["TOTAL"]))
    frame = served(api, "demo_r_pjangrp3", query)
    frame = frame[frame["geo"].str.match(r"^NO\w{3}$")]
    return frame.groupby("geo")["value"].sum(min_count=len(ages or ["TOTAL"])).to_dict()  # NaN when one is missing


def test_the_api_serves_norway_in_current_codes_mixed_with_unchanged_and_retired_ones(api):
    frame = served(api, "demo_r_pjangrp3", "&freq=A&unit=NR&sex=T&age=TOTAL")
    geos = set(frame[frame["value"].notna()]["geo"])
    assert {"NO08", "NO09", "NO0A", "NO0B", "NO083", "NO094", "NO07", "NO060"} <= geos  # new next to unchanged
    assert not {"NO03", "NO04", "NO05", "NO031", "NO082", "NO091"} & geos  # dropped: only current codes
    years = set(frame[(frame["geo"] == "NO083") & frame["value"].notna()]["time_period"])
    assert {"2017", "2019"} <= years  # a NUTS 2024 code carries the old years too
    retired = set(frame[(frame["geo"] == "NO01") & frame["value"].notna()]["time_period"])
    assert "2017" in retired and not retired & {"2021", "2024"}
    labels = parse_jsonstat(requests.get(f"{api.url}/statistics/1.0/data/demo_r_pjangrp3?format=JSON&lang=EN"
                                         "&age=TOTAL&sex=T&geo=NO01", timeout=30).content).labels
    assert set(labels[labels["code"] == "NO01"]["label"]) == {"Oslo og Akershus (NUTS 2016)"}


@pytest.mark.parametrize("region", ["NO03", "NO02", "NO06"], ids=["split", "merge", "boundary-change"])
def test_reconstruction_over_http_equals_hand_computed_jrc_interpolation(api, built, region):
    url, _ = built
    pieces = CASES[region]
    total, old, working = served_counts(api, 2019), served_counts(api, 2019, OLD), served_counts(api, 2019, WORKING)
    assert all(pd.notna(total[j]) for j in pieces)
    expected = sum(total[j] * shared / WHOLE[j] for j, shared in pieces.items())
    with connect(url) as wh:
        values = wh.query_df(f"SELECT * FROM analytics.ess_context_values WHERE region = '{region}'")
        region_row = wh.query_df(f"SELECT * FROM analytics.ess_region_context WHERE region = '{region}'")
    values = values.set_index("indicator")
    population = values.loc["population"]
    assert population["method"] == "reconstructed" and float(population["coverage"]) == 1.0
    assert population["data_nuts_version"] == "2024" and int(population["data_level"]) == 3
    assert int(population["data_year"]) == 2019
    assert abs(float(population["value"]) - expected) <= 1e-9 * expected
    assert float(region_row["population"].iloc[0]) == pytest.approx(expected, rel=1e-9)
    assert region_row["population_method"].iloc[0] == "reconstructed"
    # ratios are recomputed from the rebuilt counts, and only from pieces whose every age group was served
    dependency = values.loc["old_age_dependency"]
    usable = {j: s for j, s in pieces.items() if pd.notna(old[j]) and pd.notna(working[j])}
    share = sum(usable.values()) / sum(pieces.values())
    if share == 1.0:
        expected_dependency = (sum(old[j] * s / WHOLE[j] for j, s in pieces.items())
                               / sum(working[j] * s / WHOLE[j] for j, s in pieces.items()) * 100)
        assert dependency["method"] == "reconstructed"
        assert abs(float(dependency["value"]) - expected_dependency) <= 1e-9 * expected_dependency
    else:  # the stand-in left one 5-year group of a piece empty (':'): never read as zero people
        assert dependency["method"] == "coarser_region"
        assert f"covers {share:.3f}" in dependency["note"]


def test_a_missing_age_group_of_one_piece_is_never_read_as_zero(api):
    # the seeded stand-in sends NO083's 45-49 year-olds of 2019 as ':' (no value): NO03's 15-64 cannot be rebuilt
    working = served_counts(api, 2019, WORKING)
    assert pd.isna(working["NO083"]) and all(pd.notna(working[j]) for j in CASES["NO02"])


def test_mixed_version_geo_column_a_2017_figure_under_a_2016_code_is_used(api, built):
    url, _ = built
    # NO01 (NUTS 2016) is no NUTS 2024 region, but Eurostat keeps it, labelled "(NUTS 2016)", for 2017-2020
    config = replace(load_context_config(), reference_dates={(9, "NO"): date(2017, 1, 1)})
    with connect(url) as wh:
        values = build_values(wh, config).set_index(["region", "indicator"])
    row = values.loc[("NO01", "population")]
    published = served(api, "demo_r_pjangrp3", "&freq=A&unit=NR&sex=T&age=TOTAL&geo=NO01&time=2017")
    assert (row["method"], row["data_geo"], int(row["data_year"])) == ("published", "NO01", 2017)
    assert float(row["value"]) == float(published["value"].iloc[0])
    # unchanged territory under a code of every version: published as is, next to the new codes
    assert values.loc[("NO07", "population"), "method"] == "published"


def test_coverage_counts_norway_at_its_own_boundaries(built):
    url, outputs = built
    with connect(url) as wh:
        coverage = wh.query_df("SELECT * FROM analytics.ess_join_coverage").set_index(["essround", "cntry"])
        frame = wh.query_df("SELECT region, method FROM analytics.ess_regional_context WHERE cntry = 'NO'")
    norway = coverage.loc[(9, "NO")]
    # a region counts by its least direct value: NO03 (two ratios from the containing region) is coarser_region
    assert norway.coarser_region == (frame["region"] == "NO03").sum() > 0
    assert norway.own_boundary == norway.respondents - norway.coarser_region
    assert norway.reconstructed == frame["region"].isin(["NO02", "NO04", "NO05", "NO06"]).sum() > 0
    assert norway.published == frame["region"].isin(["NO01", "NO07"]).sum() and norway.country == 0
    # the other ESS9 countries are not served by this stand-in: none of them counts as regional
    others = coverage.drop(index=(9, "NO"))
    assert (others["none"] == others["respondents"]).all()
    assert "reconstructed" in outputs["build"]
