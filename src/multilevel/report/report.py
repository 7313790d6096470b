"""Write report/regional_context.png and index.html: per region, the weighted mean of an answer (anweight) with its
standard error against one context indicator of the region table, marked by how the region got its context."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multilevel.context.config import load_context_config
from multilevel.errors import ConfigError
from multilevel.ess.views import create_context_views
from multilevel.warehouse import Warehouse, quote

log = logging.getLogger(__name__)

# Answers and weights per respondent beside its region's context (constant within the region: one reference date
# per round and country). Portable SQL: the same text runs on DuckDB, PostgreSQL and Redshift.
RESPONDENTS_SQL = """
SELECT r.essround, r.cntry, r.region, r.anweight, r.{answer} AS answer,
       c.reference_date, c.method, c.{indicator} AS indicator, c.{indicator_method} AS indicator_method
FROM ess.respondents AS r
LEFT JOIN analytics.ess_region_context AS c
    ON c.essround = r.essround AND c.cntry = r.cntry
    AND (c.region = r.region OR (c.region IS NULL AND r.region IS NULL))
"""
# How each method is drawn: filled for the region's own boundaries, hollow for a reconstruction, a cross for a
# containing region; national values are not drawn (they say nothing about the region).
MARKERS = {
    "published": dict(marker="o", facecolors="C0"),
    "recoded": dict(marker="o", facecolors="C0"),
    "reconstructed": dict(marker="o", facecolors="none"),
    "coarser_region": dict(marker="x"),
}


def indicators() -> dict[str, str]:
    return {name: ind.label for name, ind in load_context_config().indicators.items()}


@dataclass(frozen=True)
class ReportFiles:
    png: Path
    html: Path


def weighted_mean_and_se(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and its linearised standard error, sqrt(Σ w²(x - m)²) / Σ w (ignores clustering)."""
    total = w.sum()
    mean = float((w * x).sum() / total)
    return mean, float(np.sqrt((w**2 * (x - mean) ** 2).sum()) / total)


def regional_means(wh: Warehouse, answer: str = "trstprl", indicator: str = "median_age") -> pd.DataFrame:
    """Per respondent region: weighted mean of ``answer`` (anweight) with its standard error, and the context."""
    from multilevel.datasets import check_identifier

    if indicator not in indicators():
        raise ConfigError(f"unknown context indicator {indicator!r}; choose one of {sorted(indicators())}")
    sql = RESPONDENTS_SQL.format(
        answer=quote(check_identifier(answer, "ESS answer")), indicator=quote(indicator),
        indicator_method=quote(f"{indicator}_method"),
    )
    rows = wh.query_df(sql)
    rows["region"] = rows["region"].astype(object).where(rows["region"].notna(), None)
    out = []
    for (essround, cntry, region), g in rows.groupby(["essround", "cntry", "region"], dropna=False, sort=True):
        answered = g[g["answer"].notna()]
        mean, se = (weighted_mean_and_se(answered["answer"].astype(float).to_numpy(),
                                         answered["anweight"].astype(float).to_numpy())
                    if len(answered) else (None, None))
        first = g.iloc[0]
        out.append({
            "essround": int(essround), "cntry": cntry, "region": region, "reference_date": first["reference_date"],
            "method": first["method"], "respondents": len(g), "answered": len(answered), "weighted_mean": mean,
            "standard_error": se, "indicator": first["indicator"], "indicator_method": first["indicator_method"],
        })
    return pd.DataFrame(out)


def coverage(wh: Warehouse) -> pd.DataFrame:
    return wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY essround, cntry")


def reference_dates(means: pd.DataFrame) -> str:
    """The reference dates of the regions drawn, as dates, each with its countries (one per round and country)."""
    by_date: dict[str, list[str]] = {}
    for (date, cntry), _ in means.dropna(subset=["reference_date"]).groupby(["reference_date", "cntry"]):
        by_date.setdefault(str(pd.Timestamp(date).date()), []).append(cntry)
    return "; ".join(f"{d} ({', '.join(sorted(c))})" for d, c in sorted(by_date.items()))


def write_report(
    wh: Warehouse, out: Path, answer: str = "trstprl", indicator: str = "median_age", essround: int | None = None
) -> ReportFiles:
    """Rebuild the context, then write the PNG and a small HTML page into ``out``.

    The chart and the region table show one round (``essround``; default the latest loaded): rounds have their own
    reference dates and region codes. The coverage table shows every round."""
    import matplotlib

    matplotlib.use("Agg")  # no display in pods and CI
    import matplotlib.pyplot as plt

    create_context_views(wh)
    means = regional_means(wh, answer, indicator)
    if essround is None:
        essround = int(means["essround"].max()) if len(means) else 0
    elif essround not in set(means["essround"]):
        raise ConfigError(f"ESS round {essround} is not loaded; loaded: {sorted(set(means['essround']))}")
    means = means[means["essround"] == essround].reset_index(drop=True)
    cov = coverage(wh)
    labels = indicators()
    out.mkdir(parents=True, exist_ok=True)
    png = out / "regional_context.png"
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    drawn = means.dropna(subset=["indicator", "weighted_mean"])
    for method, style in MARKERS.items():
        group = drawn[drawn["indicator_method"] == method]
        if group.empty:
            continue
        ax.errorbar(group["indicator"], group["weighted_mean"], yerr=1.96 * group["standard_error"], fmt="none",
                    ecolor="0.7", elinewidth=0.8)
        kwargs = dict(style)
        if kwargs.get("marker") == "x":
            kwargs.pop("facecolors", None)
            ax.scatter(group["indicator"], group["weighted_mean"], s=30, c="C1", label=method, **kwargs)
        else:
            ax.scatter(group["indicator"], group["weighted_mean"], s=30, edgecolors="C0", label=method, **kwargs)
    dates = reference_dates(means)
    distinct = sorted({str(pd.Timestamp(d).date()) for d in means["reference_date"].dropna()})
    when = distinct[0] if len(distinct) == 1 else "one per country, see the page"
    ax.set_xlabel(f"{labels[indicator]} (reference date: {when})")
    ax.set_ylabel(f"Weighted mean {answer} (anweight), 95% CI")
    ax.set_title(f"ESS{essround}: {answer} by region against {labels[indicator].lower()}")
    ax.legend(fontsize=7, title="context method (country values not shown)")
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)

    page = out / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>ESS regional context</title></head><body>"
        f"<h1>ESS regional context</h1><img src='{png.name}' alt='weighted mean {html.escape(answer)} by region'>"
        f"<p>ESS round {essround}. Reference date of each country's context (1 January nearest its median "
        f"interview): {html.escape(dates)}. Filled markers: published or recoded context at the region's own "
        "boundaries; hollow: reconstructed from NUTS 3 data of another NUTS version; crosses: a containing region; "
        "national fallbacks are not drawn.</p>"
        "<h2>Join coverage</h2>"
        + cov.to_html(index=False, float_format=lambda v: f"{v:.3f}")
        + f"<h2>Regions (round {essround})</h2>"
        + means.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        + "</body></html>",
        encoding="utf-8",
    )
    log.info("report written to %s (%d regions)", out, len(means))
    return ReportFiles(png=png, html=page)
