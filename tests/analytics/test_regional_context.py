"""The regional context of the synthetic ESS9 respondents, on stand-in Eurostat data published the way Eurostat
publishes it today (current NUTS 2024 codes, old codes only where kept), on DuckDB, PostgreSQL and the Redshift path.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
import standin_eurostat
from jrc_pieces import CASES, PIECES, WHOLE
from warehouses import KINDS, comparable, warehouse_url

from multilevel import paths
from multilevel.context import build_values, load_context_config
from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess
from multilevel.ess.reader import read_respondents
from multilevel.ess.views import create_context_views
from multilevel.report.report import regional_means
from multilevel.warehouse import connect

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"
INDICATORS = load_context_config().names


@dataclass
class Context:
    """What one warehouse answers after the stand-in Eurostat load and the ESS load (queried once per module)."""

    kind: str
    url: str
    frame: pd.DataFrame  # analytics.ess_regional_context
    regions: pd.DataFrame  # analytics.ess_region_context
    values: pd.DataFrame  # analytics.ess_context_values
    coverage: pd.DataFrame  # analytics.ess_join_coverage
    respondents: pd.DataFrame  # ess.respondents
    means: pd.DataFrame  # the report's weighted regional means
    sent: list[str] = field(default_factory=list)  # statements sent (recorded on the Redshift path only)

    def region(self, code: str) -> pd.Series:
        rows = self.regions[self.regions["region"] == code]
        assert len(rows) == 1, code
        return rows.iloc[0]

    def value(self, code: str, indicator: str) -> pd.Series:
        rows = self.values[(self.values["region"] == code) & (self.values["indicator"] == indicator)]
        assert len(rows) == 1, (code, indicator)
        return rows.iloc[0]


def build(kind: str, url: str, folder) -> Context:
    from multilevel.settings import Settings

    settings = Settings(_env_file=None, stage_url=str(folder / "stage"), warehouse_url=url)
    with connect(url) as wh:
        standin_eurostat.create(wh, folder / "eurostat-stage")
    load_ess(str(SYNTHETIC), settings)  # builds the context, since the Eurostat tables exist
    with connect(url) as wh:
        return Context(
            kind,
            url,
            wh.query_df("SELECT * FROM analytics.ess_regional_context"),
            wh.query_df("SELECT * FROM analytics.ess_region_context"),
            wh.query_df("SELECT * FROM analytics.ess_context_values"),
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


@pytest.fixture(scope="module")
def postgres_context(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("postgres")
    with warehouse_url("postgres", request, folder) as url:
        yield build("postgres", url, folder)


@pytest.fixture(scope="module", params=KINDS)
def context(request):
    """The same load on every warehouse kind; every test below runs on each (each kind is built once)."""
    return request.getfixturevalue(f"{request.param}_context")


# -- hand-computed JRC interpolation (pieces copied by hand: jrc_pieces.py) ------------------------------------------
def test_hand_copied_pieces_are_the_vendored_jrc_rows():
    with open(paths.DATA_DIR / "reference" / "nuts3_pieces.csv", newline="", encoding="utf-8") as f:
        rows = {(r["from_code"], r["to_code"]): float(r["pop21"]) for r in csv.DictReader(f)
                if (r["from_version"], r["to_version"]) == ("2016", "2024") and r["from_code"].startswith("NO")}
    for key, people in PIECES.items():
        assert rows[key] == people, key
    for j, whole in WHOLE.items():
        assert sum(p for (_, b), p in rows.items() if b == j) == whole, j


def counts(j: str, ages: list[str] | None = None) -> float:
    """What the stand-in published for NUTS 3 region j in 2019 (all ages, or the listed 5-year groups)."""
    by_key = standin_eurostat.nuts3_counts(j, 2019, revised=False)
    return sum(v for k, v in by_key.items() if ages is None or k.split("|")[1] in ages)


@pytest.mark.parametrize("region", ["NO03", "NO02", "NO06"], ids=["split", "merge", "boundary-change"])
def test_reconstruction_equals_hand_computed_jrc_interpolation(context, region):
    pieces = CASES[region]
    expected = sum(counts(j) * shared / WHOLE[j] for j, shared in pieces.items())
    got = context.value(region, "population")
    assert got["method"] == "reconstructed"
    assert got["data_nuts_version"] == "2024" and int(got["data_level"]) == 3
    assert float(got["coverage"]) == 1.0
    assert abs(float(got["value"]) - expected) <= 1e-9 * expected
    # ratios are recomputed from the reconstructed counts, not interpolated
    old = sum(counts(j, standin_eurostat.AGES[13:]) * s / WHOLE[j] for j, s in pieces.items())
    working = sum(counts(j, standin_eurostat.AGES[3:13]) * s / WHOLE[j] for j, s in pieces.items())
    dependency = context.value(region, "old_age_dependency")
    assert dependency["method"] == "reconstructed"
    assert abs(float(dependency["value"]) - old / working * 100) <= 1e-9 * old / working * 100
    median = context.value(region, "median_age")
    assert median["method"] == "reconstructed" and "estimate" in median["note"]
    assert context.region(region)["population"] == pytest.approx(float(got["value"]), rel=1e-12)


def test_region_published_in_current_codes_is_published(context):
    # NO07 Nord-Norge has the same territory in NUTS 2016 and 2024 (its NUTS 3 pieces moved only inside it)
    row = context.region("NO07")
    assert row["method"] == "published" and row["population_method"] == "published"
    for code, level in (("DE1", 1), ("AT13", 2), ("UKI", 1), ("IE041", 3)):
        row = context.region(code)
        assert row["method"] == "published", code
        assert int(row["data_level"]) == level and row["data_nuts_version"] == "2016"


def test_recoded_region_uses_the_same_territory_under_its_old_code(context):
    # Lithuania's rows are still NUTS 2013 codes (labelled so); LT022 of 2016 is LT002 of 2013, the same territory
    row = context.value("LT022", "population")
    assert row["method"] == "recoded" and row["data_geo"] == "LT002" and row["data_nuts_version"] == "2013"


def test_country_fallback_only_for_codes_that_are_not_regions(context):
    for code in ("AT99", "PL9Z"):
        row = context.region(code)
        assert row["method"] == "country" and int(row["data_level"]) == 0
        assert "is not a NUTS 2016 code" in context.value(code, "median_age")["note"]


def test_one_row_per_respondent_and_constant_within_region(context):
    frame = context.frame
    assert len(frame) == len(context.respondents) == 3000
    assert not frame.duplicated(["essround", "cntry", "idno"]).any()
    columns = ["reference_date", "method", "coverage", "flags"] + [c for n in INDICATORS for c in (n, f"{n}_method")]
    spread = frame.groupby(["essround", "cntry", "region"], dropna=False)[columns].nunique(dropna=True)
    assert (spread <= 1).all().all()
    assert len(context.regions) == frame.groupby(["essround", "cntry", "region"], dropna=False).ngroups


def test_one_reference_date_per_country_from_the_median_interview(context):
    frame = context.frame
    assert (frame.groupby("cntry")["reference_date"].nunique() == 1).all()
    # Norway's synthetic fieldwork runs October 2018 - May 2019: median around January 2019 -> 1 January 2019
    assert pd.Timestamp(frame[frame["cntry"] == "NO"]["reference_date"].iloc[0]) == pd.Timestamp("2019-01-01")
    no_year = frame[frame["inwyys"].isna()]
    assert len(no_year) == 3
    assert no_year["median_age"].notna().all() and (no_year["method"] != "none").all()


def test_flags_and_source_updated_are_carried(context):
    # NO084 is provisional: every reconstruction that uses it says so; Austria's median ages are estimates
    for region in ("NO01", "NO02", "NO03"):
        assert "p" in context.value(region, "population")["flags"].split(",")
        assert "p" in context.region(region)["flags"].split(",")
    assert pd.isna(context.value("NO06", "population")["flags"])
    assert context.value("AT13", "median_age")["flags"] == "e"
    assert context.region("AT13")["source_updated"] == "2026-02-01T23:00:00+0100"


def test_coverage_splits_own_boundary_coarser_country_none(context):
    frame, coverage = context.frame, context.coverage
    for row in coverage.itertuples():
        mine = frame[frame["cntry"] == row.cntry]["method"].value_counts()
        for method in ("published", "recoded", "reconstructed", "coarser_region", "country", "none"):
            assert getattr(row, method) == mine.get(method, 0), (row.cntry, method)
        assert row.own_boundary == row.published + row.recoded + row.reconstructed
        assert row.own_boundary + row.coarser_region + row.country + row.none == row.respondents
        assert row.own_boundary_share == pytest.approx(row.own_boundary / row.respondents)
    norway = coverage.set_index("cntry").loc["NO"]
    assert norway.reconstructed == (frame[frame["cntry"] == "NO"]["region"] != "NO07").sum() > 0
    assert norway.country == 0
    assert coverage["respondents"].sum() == 3000


def test_views_are_recreated_idempotently(context):
    with connect(context.url) as wh:
        create_context_views(wh)
        create_context_views(wh)
        assert wh.query("SELECT COUNT(*) FROM analytics.ess_regional_context")[0][0] == 3000


KEY = ["essround", "cntry", "idno"]


@pytest.mark.parametrize("kind", [k for k in KINDS if k.values[0] != "duckdb"])
def test_same_results_as_duckdb(request, kind, duckdb_context):
    """Every other warehouse answers exactly what DuckDB answers: respondents, context rows, coverage, means."""
    context = request.getfixturevalue(f"{kind}_context")
    assert context.kind != duckdb_context.kind
    for name, keys in (
        ("respondents", KEY),
        ("frame", KEY),
        ("regions", ["essround", "cntry", "region"]),
        ("values", ["essround", "cntry", "region", "indicator"]),
        ("coverage", ["essround", "cntry"]),
        ("means", ["essround", "cntry", "region"]),
    ):
        mine, duck = getattr(context, name), getattr(duckdb_context, name)
        assert list(mine.columns) == list(duck.columns), name
        as_text = {c: str for c in mine.columns if "date" in c}
        pd.testing.assert_frame_equal(
            comparable(mine.astype(as_text), keys), comparable(duck.astype(as_text), keys), rtol=1e-12, obj=name
        )


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
    """Stand-in harvest, ESS load, reference load, context tables and views, as redshift-connector sent them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))
    from test_redshift import parse_errors

    # a multi-row INSERT repeats one "(%s, ...)" tuple hundreds of times: parse it with one
    distinct = dict.fromkeys(re.sub(r"(\([^()]*\))(?:, \1)+", r"\1", sql) for sql in redshift_context.sent)
    assert any(s.startswith("LOCK ess.respondents") for s in distinct)
    assert any("INSERT INTO reference.nuts3_pieces" in s for s in distinct)
    assert any("CREATE VIEW analytics.ess_regional_context" in s for s in distinct)
    assert any("CREATE TABLE analytics.ess_region_context" in s for s in distinct)
    assert any(s.startswith("ANALYZE") for s in distinct)
    for sql in distinct:
        assert parse_errors(sql) == [], sql[:300]


# -- DuckDB only: other configurations and the history ---------------------------------------------------------------
def test_mixed_version_geo_column_uses_an_old_code_for_an_old_year(duckdb_context):
    # With 1 January 2018 as Norway's reference date, NO01's median age is Eurostat's 2018 figure under the retired
    # NUTS 2016 code, next to NUTS 2024 codes in the same geo column: the version comes from the code, not the year.
    config = replace(load_context_config(), reference_dates={(9, "NO"): date(2018, 1, 1)})
    with connect(duckdb_context.url) as wh:
        values = build_values(wh, config)
    row = values[(values["region"] == "NO01") & (values["indicator"] == "median_age")].iloc[0]
    assert (row["method"], row["data_geo"], row["data_year"], row["value"]) == ("published", "NO01", 2018, 41.0)
    assert values[(values["region"] == "NO01") & (values["indicator"] == "population")].iloc[0]["method"] == (
        "reconstructed"
    )


def test_too_little_coverage_falls_back_to_the_containing_region(duckdb_context):
    # No reconstruction allowed: NO01 (Oslo and Akershus, 2016) lies wholly in NO08 of NUTS 2024, which the
    # JRC pieces show although Eurostat's change list does not; NO06 lies in NUTS 3 NO060 of 2024 (larger by 3,503
    # people), the smallest region containing it, whatever its level.
    config = replace(load_context_config(), min_coverage=1.5)
    with connect(duckdb_context.url) as wh:
        values = build_values(wh, config).set_index(["region", "indicator"])
    for region, container, level in (("NO01", "NO08", 2), ("NO06", "NO060", 3)):
        row = values.loc[(region, "population")]
        assert (row["method"], row["data_geo"], row["data_nuts_version"], row["data_level"]) == (
            "coarser_region", container, "2024", level
        )
        assert "covers" in row["note"]


def test_as_of_returns_the_context_before_a_revision(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    from multilevel.settings import Settings

    with connect(url) as wh:
        standin_eurostat.create(wh, tmp_path / "es1", run_id="first")
    load_ess(str(SYNTHETIC), Settings(_env_file=None, stage_url=str(tmp_path / "stage"), warehouse_url=url))
    time.sleep(0.01)
    before = datetime.now(UTC).replace(tzinfo=None)
    time.sleep(0.01)
    with connect(url) as wh:
        standin_eurostat.create(wh, tmp_path / "es2", run_id="second", revised=True)
        latest = build_values(wh).set_index(["region", "indicator"])
        then = build_values(wh, as_of=before).set_index(["region", "indicator"])
    revision = sum(standin_eurostat.nuts3_counts("NO081", 2019, revised=True).values()) - counts("NO081")
    assert revision > 0
    # NO01 = NO081 + part of NO084; NO081's 2019 counts were revised up
    assert then.loc[("NO01", "population"), "value"] == pytest.approx(counts("NO081") + counts("NO084") * 639138 / (
        639138.0 + 15905.0 + 658.0 + 32620.0), rel=1e-12)
    assert latest.loc[("NO01", "population"), "value"] - then.loc[("NO01", "population"), "value"] == pytest.approx(
        revision, rel=1e-9
    )
    assert then.loc[("NO03", "population"), "value"] == latest.loc[("NO03", "population"), "value"]
