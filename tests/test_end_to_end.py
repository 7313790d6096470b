"""The product's promise end to end: harvest + ESS load, in either order, put every respondent in its regional context.

The full-size stand-in (every NUTS region, like the real API) is harvested through the real pipeline, narrowed by
dataset filters to the years the context reads, so the test stays cheap. The expectations come from the inputs,
not from the views: who gets context at its own boundaries follows from the ESS file and the NUTS 2016 code list, and
every published context value must be the one the harvest loaded (and the API serves) for the region and year named.
"""

from __future__ import annotations

import csv

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
YEARS = ["2017", "2018", "2019"]  # ESS Round 9: interviews in 2018-2019, context at one reference date per country
DATASETS_YAML = f"""
datasets:
  - code: demo_r_pjanind3
    split: indic_de
    filters: {{time: [{", ".join(YEARS)}]}}
  - code: demo_r_pjangrp3
    split: age
    filters: {{time: [{", ".join(YEARS)}]}}
"""
# Where a published figure of each checked context variable comes from (src/multilevel/context/indicators.yaml).
SOURCES = {
    "population": ("demo_r_pjangrp3", "freq = 'A' AND unit = 'NR' AND sex = 'T' AND age = 'TOTAL'",
                   "&freq=A&unit=NR&sex=T&age=TOTAL"),
    "median_age": ("demo_r_pjanind3", "freq = 'A' AND indic_de = 'MEDAGEPOP'", "&freq=A&indic_de=MEDAGEPOP"),
}


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
def test_every_respondent_gets_the_harvested_context(full_settings, full_api, ess_first):
    if ess_first:
        load_ess(str(ESS_FILE), full_settings)
    for dataset in ("demo_r_pjanind3", "demo_r_pjangrp3"):
        assert harvest_dataset(full_settings, dataset).status == "loaded"
    if not ess_first:
        load_ess(str(ESS_FILE), full_settings)

    with connect(full_settings.warehouse_url) as wh:
        context = wh.query_df("SELECT * FROM analytics.ess_regional_context")
        coverage = wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY cntry")
        values = wh.query_df("SELECT * FROM analytics.ess_context_values")
        harvested = {
            name: wh.query_df(
                f"SELECT geo, CAST(time_period AS INTEGER) AS yr, value FROM eurostat.{dataset} WHERE {where}"
            ).set_index(["geo", "yr"])["value"]
            for name, (dataset, where, _) in SOURCES.items()
        }

    # Who gets context at its own boundaries, from the inputs alone: a NUTS 2016 region code.
    source = read_respondents(ESS_FILE, load_round(9))
    own = source["region"].isin(nuts_2016_codes())
    assert len(source) == 3000 and 2900 < own.sum() < 3000  # the synthetic file holds a few bad codes on purpose

    # Coverage: respondents per country as in the file; own boundary = a NUTS 2016 region, the rest the country.
    per_country = dict(zip(coverage["cntry"], coverage["respondents"], strict=True))
    assert per_country == source["cntry"].value_counts().to_dict()
    expected_own = own.groupby(source["cntry"]).sum().to_dict()
    assert dict(zip(coverage["cntry"], coverage["own_boundary"], strict=True)) == expected_own
    assert (coverage["own_boundary"] + coverage["country"] == coverage["respondents"]).all()
    assert (coverage["none"] == 0).all() and (coverage["published"] > 0).all()

    # Every respondent once, with context; its values are its region's.
    assert len(context) == 3000 and not context.duplicated(["essround", "cntry", "idno"]).any()
    assert context["population"].notna().all() and context["method"].notna().all()
    for name in SOURCES:
        mine = values[values["indicator"] == name].set_index(["essround", "cntry", "region"])
        keys = list(zip(context["essround"], context["cntry"], context["region"], strict=True))
        assert context[name].tolist() == [mine["value"].get(k) for k in keys], name

        # A published value is the harvested figure of the region and year it names ...
        published = mine[mine["method"] == "published"]
        assert len(published) > 50
        for (_, _, region), row in published.iterrows():
            assert row["value"] == harvested[name].get((row["data_geo"], int(row["data_year"]))), (name, region)
        # ... and the harvested figure is what the API serves (one region, checked at the source).
        row = published.iloc[0]
        query = f"&geo={row['data_geo']}&time={int(row['data_year'])}{SOURCES[name][2]}"
        assert served_value(full_api, SOURCES[name][0], query) == row["value"]
        # Rebuilt values exist where a region changed boundaries, and stay plausible next to published ones.
        rebuilt = mine[mine["method"] == "reconstructed"]["value"]
        low, high = published["value"].min() / 100, published["value"].max() * 100
        assert len(rebuilt) > 0 and rebuilt.between(low, high).all()
