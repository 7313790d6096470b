"""The product's promise end to end: harvest + ESS load, in either order, put every respondent in its regional context.

The full-size stand-in (every NUTS region, like the real API) is harvested through the real pipeline, narrowed by
dataset filters to the cells the context views read, so the test stays cheap. The expectations come from the inputs,
not from the views: who can be joined follows from the ESS file and the NUTS 2016 code list, and every context value
must be the one the harvest loaded (and the one the API serves) for the region and year the view names.
"""

from __future__ import annotations

import csv
import math

import pandas as pd
import pytest
import requests

from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess
from multilevel.ess.reader import read_respondents
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.paths import DATA_DIR
from multilevel.standin import StandIn
from multilevel.warehouse import connect

ESS_FILE = DATA_DIR / "ess9_synthetic.dta"
YEARS = ["2017", "2018", "2019"]  # ESS Round 9 interviews took place in 2018 and 2019
DATASETS_YAML = f"""
datasets:
  - code: demo_r_pjanind3
    split: indic_de
    filters: {{indic_de: [MEDAGEPOP, OLDDEP1, PC_Y65_MAX], time: [{", ".join(YEARS)}]}}
  - code: demo_r_pjangrp3
    split: age
    filters: {{age: [TOTAL], sex: [T], unit: [NR], time: [{", ".join(YEARS)}]}}
"""


@pytest.fixture(scope="module")
def full_api():
    with StandIn(size="full") as server:
        yield server


@pytest.fixture
def full_settings(settings, full_api, tmp_path):
    datasets_file = tmp_path / "datasets.yaml"
    datasets_file.write_text(DATASETS_YAML)
    settings.eurostat_url = full_api.url
    settings.datasets_file = datasets_file
    return settings


def nuts_2016_codes() -> set[str]:
    with open(DATA_DIR / "reference" / "nuts_codes.csv", newline="", encoding="utf-8") as f:
        return {r["code"] for r in csv.DictReader(f) if r["nuts_version"] == "2016"}


def served_value(api: StandIn, dataset: str, query: str) -> float | None:
    """One cell as the API serves it (parsed with the project's parser), None when the API has no value."""
    body = requests.get(f"{api.url}/statistics/1.0/data/{dataset}?format=JSON&lang=EN{query}", timeout=30).content
    frame = parse_jsonstat(body).frame
    assert len(frame) <= 1, query
    return None if frame.empty or pd.isna(frame["value"].iloc[0]) else float(frame["value"].iloc[0])


@pytest.mark.parametrize("ess_first", [True, False], ids=["ess-then-harvest", "harvest-then-ess"])
def test_every_joinable_respondent_gets_the_harvested_context(full_settings, full_api, ess_first):
    if ess_first:
        load_ess(str(ESS_FILE), full_settings)
    for dataset in ("demo_r_pjanind3", "demo_r_pjangrp3"):
        assert harvest_dataset(full_settings, dataset).status == "loaded"
    if not ess_first:
        load_ess(str(ESS_FILE), full_settings)

    with connect(full_settings.warehouse_url) as wh:
        context = wh.query_df("SELECT * FROM analytics.ess_regional_context")
        coverage = wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY cntry")
        indicators = wh.query_df(
            "SELECT geo, CAST(time_period AS INTEGER) AS yr, indic_de, value FROM eurostat.demo_r_pjanind3"
        )
        population = wh.query_df(
            "SELECT geo, CAST(time_period AS INTEGER) AS yr, value FROM eurostat.demo_r_pjangrp3 "
            "WHERE sex = 'T' AND age = 'TOTAL' AND unit = 'NR'"
        )

    # Who can be joined, from the inputs alone: a NUTS 2016 region code and an interview year.
    source = read_respondents(ESS_FILE, load_round(9))
    source = source.assign(region=source["region"].str.replace("GB", "UK", regex=False))
    joinable = source["region"].isin(nuts_2016_codes()) & source["inwyys"].notna()
    assert len(source) == 3000 and 2900 < joinable.sum() < 3000  # the synthetic file holds a few bad rows on purpose

    # Coverage: respondents per country as in the file; joined = joinable, per country.
    per_country = dict(zip(coverage["cntry"], coverage["respondents"], strict=True))
    assert per_country == source["cntry"].value_counts().to_dict()
    expected_joined = joinable.groupby(source["cntry"]).sum().to_dict()
    joined = coverage["respondents"] - coverage["unjoinable"]
    assert dict(zip(coverage["cntry"], joined, strict=True)) == expected_joined
    statuses = coverage[["exact", "via_crosswalk", "parent_region", "unjoinable"]]
    assert (statuses.sum(axis=1) == coverage["respondents"]).all()
    assert (coverage["exact"] > 0).all()  # every country has respondents joined at their own region

    # Every respondent once; the joined ones are exactly the joinable ones.
    assert len(context) == 3000 and not context.duplicated(["essround", "cntry", "idno"]).any()
    merged = context.merge(source[["cntry", "idno"]].assign(joinable=joinable.to_numpy()), on=["cntry", "idno"])
    assert len(merged) == 3000
    assert ((merged["join_status"] != "unjoinable") == merged["joinable"]).all()
    unjoined = merged[~merged["joinable"]]
    assert unjoined[["eurostat_geo", "median_age", "population"]].isna().all().all()

    # Context values are the harvested values of the region and year the view names.
    got = merged[merged["joinable"]]
    assert got["eurostat_geo"].notna().all() and got["context_year"].notna().all()
    wanted_pop = population.set_index(["geo", "yr"])["value"]
    wanted_age = indicators[indicators["indic_de"] == "MEDAGEPOP"].set_index(["geo", "yr"])["value"]
    keys = list(zip(got["eurostat_geo"], got["context_year"].astype(int), strict=True))
    assert got["population"].tolist() == [wanted_pop.get(k) for k in keys]
    assert got["population"].notna().all()
    ages = [wanted_age.get(k) for k in keys]
    assert all(
        (a is None or math.isnan(a)) if pd.isna(b) else a == b for a, b in zip(ages, got["median_age"], strict=True)
    )
    assert got["median_age"].notna().mean() > 0.95

    # ... and the harvested values are what the API serves (one region of each kind of join, checked at the source).
    for _, row in got.drop_duplicates("join_status").iterrows():
        geo, year = row["eurostat_geo"], int(row["context_year"])
        query = f"&geo={geo}&time={year}"
        assert served_value(full_api, "demo_r_pjangrp3", query + "&sex=T&age=TOTAL&unit=NR") == row["population"]
        served_age = served_value(full_api, "demo_r_pjanind3", query + "&indic_de=MEDAGEPOP")
        assert served_age == (None if pd.isna(row["median_age"]) else row["median_age"])
