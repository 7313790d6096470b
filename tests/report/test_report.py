"""The report: weighted regional means equal the same numbers computed directly with pandas."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))
import standin_eurostat  # noqa: E402

from multilevel import paths  # noqa: E402
from multilevel.ess.config import load_round  # noqa: E402
from multilevel.ess.load import load_ess  # noqa: E402
from multilevel.ess.reader import read_respondents  # noqa: E402
from multilevel.report.report import regional_means, write_report  # noqa: E402
from multilevel.warehouse import connect  # noqa: E402


def test_weighted_means_and_files(settings, tmp_path):
    with connect(settings.warehouse_url) as wh:
        standin_eurostat.create(wh)
    load_ess(str(paths.DATA_DIR / "ess9_synthetic.dta"), settings)
    with connect(settings.warehouse_url) as wh:
        means = regional_means(wh).set_index(["cntry", "region"])
        files = write_report(wh, tmp_path / "report")
    direct = read_respondents(paths.DATA_DIR / "ess9_synthetic.dta", load_round(9))
    answered = direct[direct["trstprl"].notna()]
    for (cntry, region), group in answered.groupby(["cntry", "region"]):
        expected = (group["trstprl"].astype(float) * group["anweight"]).sum() / group["anweight"].sum()
        assert means.loc[(cntry, region), "weighted_mean"] == pytest.approx(expected, rel=1e-12)
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = files.html.read_text()
    assert "Join coverage" in page and "reconstructed" in page and "own_boundary_share" in page
    # one reference date per country, as a date; Norway's fieldwork (Oct 2018 - May 2019) -> 1 January 2019
    assert "ESS round 9" in page and "00:00:00" not in page and "2019-01-01 (" in page
    dates = page.split("interview): ")[1].split(". Filled")[0]
    assert "NO" in [c for part in dates.split("; ") if part.startswith("2019-01-01") for c in
                    part.split("(")[1].rstrip(")").split(", ")]
    # one context per region: its indicator and method are the region table's, beside a standard error
    assert means["standard_error"].notna().all() and (means["standard_error"] > 0).all()
    assert (means.loc[("NO", "NO03"), "indicator_method"], means.loc[("AT", "AT99"), "method"]) == (
        "reconstructed", "country")
