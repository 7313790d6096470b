"""The join of respondents to their regional context, on the synthetic ESS9 file and stand-in Eurostat tables."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import standin_eurostat
from warehouses import KINDS, comparable, warehouse_url

from multilevel import paths
from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess
from multilevel.ess.reader import read_respondents
from multilevel.ess.views import create_context_views
from multilevel.report.report import regional_means
from multilevel.warehouse import connect

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"


@dataclass
class Context:
    """What one warehouse answers after the stand-in Eurostat load and the ESS load (queried once per module)."""

    kind: str
    url: str
    frame: pd.DataFrame  # analytics.ess_regional_context
    coverage: pd.DataFrame  # analytics.ess_join_coverage
    respondents: pd.DataFrame  # ess.respondents
    means: pd.DataFrame  # the report's weighted regional means
    sent: list[str] = field(default_factory=list)  # statements sent (recorded on the Redshift path only)

    def __iter__(self):  # the tests below unpack (frame, coverage, respondents, url)
        return iter((self.frame, self.coverage, self.respondents, self.url))

    def __getitem__(self, i):
        return tuple(self)[i]


def build(kind: str, url: str, folder) -> Context:
    from multilevel.settings import Settings

    settings = Settings(_env_file=None, stage_url=str(folder / "stage"), warehouse_url=url)
    with connect(url) as wh:
        standin_eurostat.create(wh, folder / "eurostat-stage")
    load_ess(str(SYNTHETIC), settings)  # creates the views, since the Eurostat views exist
    with connect(url) as wh:
        return Context(
            kind,
            url,
            wh.query_df("SELECT * FROM analytics.ess_regional_context"),
            wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY cntry"),
            wh.query_df("SELECT * FROM ess.respondents"),
            regional_means(wh),
        )


@pytest.fixture(scope="module")
def duckdb_context(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("duckdb")
    with warehouse_url("duckdb", request, folder) as url:
        yield build("duckdb", url, folder)


@pytest.fixture(scope="module")
def redshift_context(request, tmp_path_factory):
    """The Redshift client path, recording every statement the connector sends (all must parse as Redshift SQL)."""
    from multilevel.warehouse.redshift import RedshiftWarehouse

    folder = tmp_path_factory.mktemp("redshift")
    sent: list[str] = []
    execute, query = RedshiftWarehouse.execute, RedshiftWarehouse._query_with_names
    with warehouse_url("redshift", request, folder) as url, pytest.MonkeyPatch.context() as patch:
        patch.setattr(RedshiftWarehouse, "execute", lambda self, sql, p=None: sent.append(sql) or execute(self, sql, p))
        patch.setattr(
            RedshiftWarehouse, "_query_with_names", lambda self, sql, p: sent.append(sql) or query(self, sql, p)
        )
        context = build("redshift", url, folder)
        context.sent = sent
        yield context


@pytest.fixture(scope="module", params=KINDS)
def context(request):
    """The same load on every warehouse kind; every test below runs on each (each kind is built once)."""
    return request.getfixturevalue(f"{request.param}_context")


@pytest.fixture(scope="module")
def postgres_context(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("postgres")
    with warehouse_url("postgres", request, folder) as url:
        yield build("postgres", url, folder)


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
    with connect(context.url) as wh:
        create_context_views(wh)
        create_context_views(wh)
        assert wh.query("SELECT COUNT(*) FROM analytics.ess_regional_context")[0][0] == 3000


KEY = ["essround", "cntry", "idno"]


def test_same_results_as_duckdb(context, duckdb_context):
    """Every warehouse answers exactly what DuckDB answers: respondents, context rows, coverage, regional means."""
    for name, keys in (
        ("respondents", KEY),
        ("frame", KEY),
        ("coverage", ["essround", "cntry"]),
        ("means", ["essround", "cntry", "region"]),
    ):
        mine, duck = getattr(context, name), getattr(duckdb_context, name)
        assert list(mine.columns) == list(duck.columns), name
        pd.testing.assert_frame_equal(comparable(mine, keys), comparable(duck, keys), rtol=1e-12, obj=name)


def test_weighted_regional_mean_equals_pandas(context):
    direct = read_respondents(SYNTHETIC, load_round(9))
    answered = direct[direct["trstprl"].notna()]
    expected = answered.groupby(["cntry", "region"]).apply(
        lambda g: (g["trstprl"].astype(float) * g["anweight"]).sum() / g["anweight"].sum()
    )
    means = context.means.set_index(["cntry", "region"])["weighted_mean"].astype(float)
    assert len(expected) > 20
    for (cntry, region), value in expected.items():
        assert means.loc[(cntry, region)] == pytest.approx(value, rel=1e-12), (cntry, region)


def test_every_statement_of_the_redshift_path_parses(redshift_context):
    """Stand-in harvest, ESS load, reference load, views and report query, as redshift-connector sent them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))
    from test_redshift import merge_form_problems, parse_errors

    # a multi-row INSERT repeats one "(%s, ...)" tuple hundreds of times: parse it with one
    distinct = dict.fromkeys(re.sub(r"(\([^()]*\))(?:, \1)+", r"\1", sql) for sql in redshift_context.sent)
    assert any(s.startswith("LOCK ess.respondents") for s in distinct)
    assert any("INSERT INTO reference.ess_region_crosswalk" in s for s in distinct)
    assert any("CREATE VIEW analytics.ess_regional_context" in s for s in distinct)
    assert any(s.startswith("ANALYZE") for s in distinct)
    for sql in distinct:
        assert parse_errors(sql) == [], sql[:300]
        assert merge_form_problems(sql) == [], sql[:300]
