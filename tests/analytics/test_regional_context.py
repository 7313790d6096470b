"""The join of respondents to their regional context, on the synthetic ESS9 file and stand-in Eurostat tables."""

from __future__ import annotations

import pandas as pd
import pytest
import standin_eurostat

from multilevel import paths
from multilevel.ess.load import load_ess
from multilevel.ess.views import create_context_views
from multilevel.warehouse import connect

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from multilevel.settings import Settings

    tmp = tmp_path_factory.mktemp("context")
    settings = Settings(_env_file=None, stage_url=str(tmp / "stage"), warehouse_url=f"duckdb:///{tmp / 'w.duckdb'}")
    with connect(settings.warehouse_url) as wh:
        standin_eurostat.create(wh)
    load_ess(str(SYNTHETIC), settings)  # creates the views, since the Eurostat tables exist
    with connect(settings.warehouse_url) as wh:
        frame = wh.query_df("SELECT * FROM analytics.ess_regional_context")
        coverage = wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY cntry")
        respondents = wh.query_df("SELECT * FROM ess.respondents")
    return frame, coverage, respondents, settings


def rows_of(frame: pd.DataFrame, region: str) -> pd.DataFrame:
    rows = frame[frame["region"] == region]
    assert not rows.empty, f"synthetic file has no respondent in {region}"
    return rows


def test_one_row_per_respondent(context):
    frame, _, respondents, _ = context
    assert len(frame) == len(respondents) == 3000
    assert not frame.duplicated(["essround", "cntry", "idno"]).any()


@pytest.mark.parametrize("region,level", [("DE1", 1), ("AT13", 2), ("NO02", 2), ("UKI", 1)])
def test_unchanged_regions_join_exactly_at_their_own_level(context, region, level):
    rows = rows_of(context[0], region).dropna(subset=["inwyys"])
    assert (rows["join_status"] == "exact").all()
    assert (rows["eurostat_geo"] == region).all()
    assert (rows["eurostat_nuts_version"] == "2016").all()
    assert (rows["context_year"] == rows["inwyys"]).all()
    assert (rows["context_year_reason"] == "interview year").all()
    assert rows["median_age"].notna().all() and rows["population"].notna().all()
    assert (rows["regunit"] == level).all()


def test_gb_respondents_use_uk_codes(context):
    frame = context[0]
    gb = frame[(frame["cntry"] == "GB") & frame["inwyys"].notna()]
    assert len(gb) > 100
    assert gb["eurostat_geo"].str.startswith("UK").all()
    assert (gb["join_status"] == "exact").all()


def test_recoded_region_joins_via_crosswalk_in_an_earlier_year(context):
    # IE042 (NUTS 2016) was IE013 in NUTS 2013; the stand-in has IE regional rows only for 2017 (NUTS 2013).
    rows = rows_of(context[0], "IE042").dropna(subset=["inwyys"])
    assert (rows["join_status"] == "via_crosswalk").all()
    assert (rows["eurostat_geo"] == "IE013").all()
    assert (rows["eurostat_nuts_version"] == "2013").all()
    assert (rows["context_year"] == 2017).all()
    assert rows["context_year_reason"].str.startswith("nearest earlier year").all()
    assert rows["join_reason"].str.contains("recoded as IE013").all()


def test_nuts1_recoded_across_levels(context):
    rows = rows_of(context[0], "FRB").dropna(subset=["inwyys"])  # FRB = the NUTS 2 region FR24 of 2013
    assert (rows["join_status"] == "via_crosswalk").all()
    assert (rows["eurostat_geo"] == "FR24").all()


def test_split_region_never_matches_at_its_own_level(context):
    # FRC (2016) covers FR26 and FR43 (2013), which have 2017 data; FRC itself has none. Neither part may stand in
    # for the whole: the country (FR, interview year) is used instead.
    rows = rows_of(context[0], "FRC").dropna(subset=["inwyys"])
    assert not rows["eurostat_geo"].isin(["FR26", "FR43"]).any()
    assert (rows["join_status"] == "parent_region").all()
    assert (rows["eurostat_geo"] == "FR").all()
    assert rows["join_reason"].str.contains("used FR").all()


def test_boundary_change_never_matches_silently(context):
    # IE041 (2016) came from IE011 (2013) with a boundary shift: IE011's numbers are not IE041's.
    rows = rows_of(context[0], "IE041").dropna(subset=["inwyys"])
    assert not (rows["eurostat_geo"] == "IE011").any()
    assert (rows["join_status"] == "parent_region").all()
    assert (rows["eurostat_geo"] == "IE0").all()


def test_contained_region_uses_the_larger_region(context):
    # LT02 (2016) = LT00 (2013) minus LT00A: LT00 contains it, which is a larger region, not the same one.
    rows = rows_of(context[0], "LT022").dropna(subset=["inwyys"])  # LT022 was recoded from LT002: same territory
    assert (rows["join_status"] == "via_crosswalk").all()


def test_region_without_data_uses_its_parent(context):
    rows = rows_of(context[0], "NO01").dropna(subset=["inwyys"])
    assert (rows["join_status"] == "parent_region").all()
    assert (rows["eurostat_geo"] == "NO0").all()
    assert rows["join_reason"].str.contains("but no data").all()


def test_unknown_region_and_missing_year_are_unjoinable_with_reason(context):
    frame = context[0]
    unknown = rows_of(frame, "AT99")
    assert (unknown["join_status"] == "unjoinable").all()
    assert (unknown["join_reason"] == "region AT99 is not a NUTS 2016 code").all()
    assert unknown["eurostat_geo"].isna().all() and unknown["median_age"].isna().all()
    no_year = frame[frame["inwyys"].isna()]
    assert len(no_year) == 3
    assert (no_year["join_reason"] == "interview year missing").all()


def test_coverage_counts_match_the_view(context):
    frame, coverage, _, _ = context
    expected = frame.groupby("cntry")["join_status"].value_counts().unstack(fill_value=0)
    for row in coverage.itertuples():
        for status in ("exact", "via_crosswalk", "parent_region", "unjoinable"):
            assert getattr(row, status) == expected.loc[row.cntry].get(status, 0)
        assert row.respondents == expected.loc[row.cntry].sum()
    assert coverage["respondents"].sum() == 3000


def test_views_are_recreated_idempotently(context):
    settings = context[3]
    with connect(settings.warehouse_url) as wh:
        create_context_views(wh)
        create_context_views(wh)
        assert wh.query("SELECT COUNT(*) FROM analytics.ess_regional_context")[0][0] == 3000
