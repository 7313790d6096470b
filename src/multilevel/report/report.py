"""Write report/regional_context.png and index.html: per region, weighted mean trust in parliament (anweight)
against the region's median age, plus the join coverage table."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from multilevel.ess.views import create_context_views
from multilevel.warehouse import Warehouse

log = logging.getLogger(__name__)

# Weighted mean of one answer per region (respondents without an answer do not count in the weights), beside the
# context of the region the join used (respondents of one region share it; those without an interview year are
# unjoinable and only count in `respondents`, so geo, status and indicator come from the joined ones via MAX).
# Portable SQL: the same text runs on DuckDB, PostgreSQL and Redshift.
REGIONAL_MEANS_SQL = """
SELECT
    c.essround,
    c.cntry,
    c.region,
    MAX(c.eurostat_geo) AS eurostat_geo,
    MAX(CASE WHEN c.join_status <> 'unjoinable' THEN c.join_status END) AS join_status,
    COUNT(*) AS respondents,
    SUM(CASE WHEN c.join_status <> 'unjoinable' THEN 1 ELSE 0 END) AS joined,
    SUM(CASE WHEN r.{answer} IS NOT NULL THEN 1 ELSE 0 END) AS answered,
    SUM(CASE WHEN r.{answer} IS NOT NULL THEN r.anweight * r.{answer} END)
        / SUM(CASE WHEN r.{answer} IS NOT NULL THEN r.anweight END) AS weighted_mean,
    MAX(c.{indicator}) AS indicator
FROM analytics.ess_regional_context AS c
INNER JOIN ess.respondents AS r
    ON r.essround = c.essround AND r.cntry = c.cntry AND r.idno = c.idno
GROUP BY c.essround, c.cntry, c.region
ORDER BY c.essround, c.cntry, c.region
"""
INDICATORS = {
    "median_age": "Median age (MEDAGEPOP)",
    "old_age_dependency": "Old-age dependency ratio (OLDDEP1)",
    "share_aged_65_plus": "Share aged 65+ (PC_Y65_MAX)",
    "population": "Total population",
}


@dataclass(frozen=True)
class ReportFiles:
    png: Path
    html: Path


def regional_means(wh: Warehouse, answer: str = "trstprl", indicator: str = "median_age") -> pd.DataFrame:
    """Per respondent region: weighted mean of ``answer`` (anweight) and the context ``indicator``."""
    from multilevel.datasets import check_identifier

    if indicator not in INDICATORS:
        raise ValueError(f"unknown indicator {indicator!r}; choose one of {sorted(INDICATORS)}")
    sql = REGIONAL_MEANS_SQL.format(answer=check_identifier(answer, "ESS answer"), indicator=indicator)
    return wh.query_df(sql)


def coverage(wh: Warehouse) -> pd.DataFrame:
    return wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY essround, cntry")


def write_report(
    wh: Warehouse, out: Path, answer: str = "trstprl", indicator: str = "median_age"
) -> ReportFiles:
    """Recreate the views, then write the PNG and a small HTML page into ``out``."""
    import matplotlib

    matplotlib.use("Agg")  # no display in pods and CI
    import matplotlib.pyplot as plt

    create_context_views(wh)
    means = regional_means(wh, answer, indicator)
    cov = coverage(wh)
    out.mkdir(parents=True, exist_ok=True)
    png = out / "regional_context.png"
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    joined = means[means["joined"] > 0].dropna(subset=["indicator", "weighted_mean"])
    for cntry, group in joined.groupby("cntry"):
        ax.scatter(group["indicator"], group["weighted_mean"], s=12 + group["respondents"] / 3, alpha=0.75,
                   label=cntry)
    ax.set_xlabel(INDICATORS[indicator])
    ax.set_ylabel(f"Weighted mean {answer} (anweight)")
    ax.set_title(f"ESS: {answer} by region against {INDICATORS[indicator].lower()}")
    ax.legend(fontsize=7, ncol=2, title="country")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)

    page = out / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>ESS regional context</title></head><body>"
        f"<h1>ESS regional context</h1><img src='{png.name}' alt='weighted mean {html.escape(answer)} by region'>"
        "<h2>Join coverage</h2>"
        + cov.to_html(index=False, float_format=lambda v: f"{v:.3f}")
        + "<h2>Regions</h2>"
        + means.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        + "</body></html>",
        encoding="utf-8",
    )
    log.info("report written to %s (%d regions)", out, len(means))
    return ReportFiles(png=png, html=page)
