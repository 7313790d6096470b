"""Two rounds coded in different NUTS versions (ESS9: NUTS 2016, ESS11: NUTS 2021) in one warehouse give one
coverage table, each region read in its own round's version."""

from __future__ import annotations

import pytest
import standin_eurostat

from multilevel import paths
from multilevel.errors import ConfigError
from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess
from multilevel.report.report import write_report
from multilevel.settings import Settings
from multilevel.warehouse import connect


@pytest.mark.parametrize("essround,version", [(8, "2013"), (9, "2016"), (10, "2016"), (11, "2021")])
def test_rounds_are_configured(essround, version):
    config = load_round(essround)
    assert config.nuts_version == version and "trstprl" in config.answers


def test_two_rounds_one_coverage_table(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    settings = Settings(_env_file=None, stage_url=str(tmp_path / "stage"), warehouse_url=url)
    with connect(url) as wh:
        standin_eurostat.create(wh, tmp_path / "es")
    load_ess(str(paths.DATA_DIR / "ess9_synthetic.dta"), settings)
    load_ess(str(paths.DATA_DIR / "ess11_synthetic.dta"), settings, essround=11)
    with connect(url) as wh:
        coverage = wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY essround, cntry")
        regions = wh.query_df("SELECT * FROM analytics.ess_region_context WHERE essround = 11").set_index("region")
        codes16 = {c for (c,) in wh.query("SELECT code FROM reference.nuts_codes WHERE nuts_version = '2016'")}
    assert sorted(set(coverage["essround"])) == [9, 11]
    assert coverage.groupby("essround")["respondents"].sum().to_dict() == {9: 3000, 11: 1000}
    assert (regions["region_nuts_version"] == "2021").all()
    # Viken (NO082) and Troms og Finnmark (NO074) exist only in NUTS 2021: rebuilt from the NUTS 2024 pieces
    for code in ("NO082", "NO074"):
        assert code not in codes16
        row = regions.loc[code]
        assert (row["population_method"], row["data_nuts_version"], row["coverage"]) == ("reconstructed", "2024", 1.0)
    # Croatia's 2021 regions are published in current codes
    assert (regions.loc[["HR02", "HR05", "HR06"], "method"] == "published").all()
    assert str(regions.loc["NO081", "reference_date"])[:10] == "2024-01-01"
    norway11 = coverage[(coverage["essround"] == 11) & (coverage["cntry"] == "NO")].iloc[0]
    assert norway11["own_boundary"] == norway11["respondents"]
    # the report draws one round (default: the latest), with both rounds in its coverage table
    with connect(url) as wh:
        latest = write_report(wh, tmp_path / "latest").html.read_text()
        nine = write_report(wh, tmp_path / "nine", essround=9).html.read_text()
        with pytest.raises(ConfigError, match="round 10 is not loaded"):
            write_report(wh, tmp_path / "ten", essround=10)
    assert "Regions (round 11)" in latest and "2024-01-01 (" in latest and ">NO082<" in latest
    assert "Regions (round 9)" in nine and ">NO082<" not in nine and ">NO03<" in nine
    for page in (latest, nine):
        coverage_html = page.split("<h2>Join coverage</h2>")[1].split("<h2>")[0]
        assert coverage_html.count("<tr") == 1 + len(coverage)  # header + one row per (round, country)
