"""Build the regional context of every ESS region: one value per (round, country, region, indicator), with the
method that produced it.

For a region coded in NUTS version V (its round's) and the reference year Y of its country, each indicator takes the
first of:

1. ``published``      Eurostat's row for the region's own code, when the code stands for V (territory.versions_of);
2. ``recoded``        Eurostat's row for another code with the same territory (e.g. IE042 of 2016 = IE013 of 2013);
3. ``reconstructed``  rebuilt from the NUTS 3 rows of one version W (the one covering most of the region): counts are
                      carried over with the JRC weights pop(j ∩ r) / pop(j) and summed, ratios recomputed from the
                      rebuilt counts, the median age interpolated in the rebuilt 5-year groups; used only when the
                      NUTS 3 rows with data cover at least ``min_coverage`` of the region's population;
4. ``coarser_region`` the published value of the smallest region containing it (a NUTS parent, or a region of
                      another version that holds it, e.g. NO01 of 2016 inside NO08 of 2021), with its level;
5. ``country``        the national value;
6. ``none``.

Everything is read from the warehouse: ``ess.respondents`` (regions and interview dates), ``reference.nuts_codes``
and ``reference.nuts3_pieces``, and the Eurostat history tables as they were at ``as_of`` (default: now).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from multilevel.context.config import ContextConfig, Indicator, Selection, age_bounds, load_context_config
from multilevel.context.territory import VERSIONS, Territory, nuts_code
from multilevel.warehouse import Warehouse, quote

log = logging.getLogger(__name__)

METHODS = ["published", "recoded", "reconstructed", "coarser_region", "country", "none"]
OWN_BOUNDARY = ("published", "recoded", "reconstructed")
LONG_COLUMNS = [
    "essround", "cntry", "region", "region_nuts_version", "region_level", "reference_date", "indicator", "value",
    "method", "coverage", "data_geo", "data_nuts_version", "data_level", "data_year", "flags", "source_updated",
    "note",
]
YEARS_BACK = 6  # how far before the reference year a country's latest data may be


@dataclass(frozen=True)
class Obs:
    value: float
    flags: frozenset[str]
    updated: str | None


Series = dict[tuple[str, int], Obs]


@dataclass
class Result:
    value: float | None
    method: str
    coverage: float | None = None
    geo: str | None = None
    version: str | None = None
    level: int | None = None
    flags: frozenset[str] = frozenset()
    updated: str | None = None
    note: str | None = None


# -- reading ----------------------------------------------------------------------------------------------------------
def reference_date(years: pd.Series, months: pd.Series, counts: pd.Series) -> date | None:
    """1 January of the year closest to the median interview date (month known: mid-month; else mid-year)."""
    frame = pd.DataFrame({"y": years, "m": months, "n": counts}).dropna(subset=["y"])
    if frame.empty:
        return None
    # position of each interview in years: mid-month, or the middle of the year when the month is unknown
    frame["t"] = frame["y"].astype(float) + np.where(
        frame["m"].notna(), (frame["m"].astype(float) - 0.5) / 12.0, 0.5
    )
    frame = frame.sort_values("t")
    cumulative = frame["n"].cumsum().to_numpy()
    median_t = float(frame["t"].to_numpy()[np.searchsorted(cumulative, cumulative[-1] / 2.0)])
    return date(int(np.floor(median_t + 0.5)), 1, 1)


def read_regions(wh: Warehouse, config: ContextConfig) -> pd.DataFrame:
    """One row per (round, country, region) with its NUTS version, respondents and reference date."""
    if "inwmms" in wh.columns_of("ess", "respondents"):
        dates = wh.query_df(
            "SELECT essround, cntry, inwyys, inwmms, COUNT(*) AS n FROM ess.respondents "
            "GROUP BY essround, cntry, inwyys, inwmms"
        )
    else:  # a table loaded before interview months were kept
        dates = wh.query_df(
            "SELECT essround, cntry, inwyys, COUNT(*) AS n FROM ess.respondents GROUP BY essround, cntry, inwyys"
        )
        dates["inwmms"] = None
    ref = {}
    for (essround, cntry), g in dates.groupby(["essround", "cntry"]):
        ref[(int(essround), str(cntry))] = config.reference_dates.get(
            (int(essround), str(cntry)), reference_date(g["inwyys"], g["inwmms"], g["n"])
        )
    regions = wh.query_df(
        "SELECT essround, cntry, region, region_nuts_version, COUNT(*) AS respondents FROM ess.respondents "
        "GROUP BY essround, cntry, region, region_nuts_version"
    )
    regions["essround"] = regions["essround"].astype(int)
    regions["reference_date"] = [ref.get((r, c)) for r, c in zip(regions["essround"], regions["cntry"], strict=True)]
    return regions


def _as_of_clause(as_of: datetime | None) -> tuple[str, list]:
    if as_of is None:
        return "valid_to IS NULL", []
    return "valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)", [as_of, as_of]


def read_selection(
    wh: Warehouse, sel: Selection, countries: list[str], years: list[int], as_of: datetime | None
) -> pd.DataFrame:
    """Rows of a selection (geo, year, key = code of the summed dimension, value, flag, source_updated)."""
    where, params = _as_of_clause(as_of)
    for dim, code in sel.filters.items():
        where += f" AND {quote(dim)} = %s"
        params.append(code)
    key = "CAST(NULL AS VARCHAR(16))"
    if sel.sum_dimension:
        key = quote(sel.sum_dimension)
        where += f" AND {key} IN ({', '.join(['%s'] * len(sel.sum_codes))})"
        params.extend(sel.sum_codes)
    where += f" AND SUBSTRING(geo, 1, 2) IN ({', '.join(['%s'] * len(countries))})"
    params.extend(countries)
    where += f" AND time_period IN ({', '.join(['%s'] * len(years))})"
    params.extend(str(y) for y in years)
    frame = wh.query_df(
        f"SELECT geo, time_period, {key} AS k, value, flag, source_updated "
        f"FROM eurostat.{quote(sel.dataset + '_history')} WHERE {where} AND value IS NOT NULL",
        params,
    )
    frame["year"] = pd.to_numeric(frame["time_period"], errors="coerce")
    return frame.dropna(subset=["year"]).astype({"year": int})


def to_series(frame: pd.DataFrame, codes: tuple[str, ...] = ()) -> Series:
    """(geo, year) -> value; with ``codes``, the sum over them (only where every code has a value)."""
    parts: dict[tuple[str, int], list] = {}
    for geo, year, k, value, flag, updated in frame[["geo", "year", "k", "value", "flag", "source_updated"]].itertuples(
        index=False, name=None
    ):
        entry = parts.setdefault((str(geo), int(year)), [0.0, set(), set(), None])
        entry[0] += float(value)
        entry[1].add(k)
        if isinstance(flag, str) and flag.strip():
            entry[2].add(flag.strip())
        if isinstance(updated, str) and (entry[3] is None or updated > entry[3]):
            entry[3] = updated
    need = set(codes)
    return {
        key: Obs(total, frozenset(flags), updated)
        for key, (total, keys, flags, updated) in parts.items()
        if not codes or keys == need
    }


# -- the ladder -------------------------------------------------------------------------------------------------------
def interpolated_median(groups: list[tuple[float, float | None, float]]) -> float | None:
    """Median age from (lower, upper, count) age groups, linear within the group holding the middle person."""
    total = sum(n for _, _, n in groups)
    if total <= 0:
        return None
    half, below = total / 2.0, 0.0
    for lower, upper, n in sorted(groups, key=lambda g: g[0]):
        if n > 0 and below + n >= half:
            width = (upper - lower) if upper is not None else 5.0  # open top group: assume a 5-year width
            return lower + (half - below) / n * width
        below += n
    return None


class ContextBuilder:
    def __init__(self, config: ContextConfig, territory: Territory, series: dict[str, Series],
                 groups: dict[str, dict[str, Series]], labels: dict[str, dict[str, str]]):
        self.config, self.t, self.series, self.groups, self.labels = config, territory, series, groups, labels
        self._versions: dict[tuple[str, str], set[str]] = {}
        self._years: dict[str, dict[str, set[int]]] = {}
        for name, s in series.items():
            by_country: dict[str, set[int]] = defaultdict(set)
            for geo, year in s:
                by_country[geo[:2]].add(year)
            self._years[name] = by_country

    def versions_of(self, dataset: str, geo: str) -> set[str]:
        key = (dataset, geo)
        if key not in self._versions:
            self._versions[key] = self.t.versions_of(geo, self.labels.get(dataset, {}).get(geo))
        return self._versions[key]

    def data_year(self, ind: Indicator, country: str, year: int) -> int:
        years = [y for y in self._years[ind.name].get(country, ()) if y <= year]
        return max(years) if years else year

    def _published(self, ind: Indicator, geo: str, version: str, year: int) -> Obs | None:
        obs = self.series[ind.name].get((geo, year))
        if obs is not None and version in self.versions_of(ind.selection.dataset, geo):
            return obs
        return None

    def _components(self, ind: Indicator) -> list[tuple[str, Series]]:
        if ind.kind == "count":
            return [(ind.selection.dataset, self.series[ind.name])]
        if ind.kind == "ratio":
            return [(self.config.indicators[p].selection.dataset, self.series[p])
                    for p in (ind.numerator, ind.denominator)]
        return [(ind.groups.dataset, self.groups[ind.name][code]) for code in ind.groups.sum_codes]

    def reconstruct(self, ind: Indicator, version: str, code: str, year: int) -> Result | None:
        """The best rebuild from the NUTS 3 rows of one version, or None when none covers enough."""
        best: tuple | None = None
        for other in sorted(VERSIONS, key=lambda w: (w != version, -int(w))):
            pieces = self.t.pieces_of(version, code, other)
            total = sum(p.shared for p in pieces)
            if total <= 0:
                continue
            values, coverage, used, flags, updated = [], 1.0, set(), set(), []
            for dataset, comp in self._components(ind):
                value = covered = 0.0
                for p in pieces:
                    obs = comp.get((p.j, year))
                    if obs is None or p.whole <= 0 or other not in self.versions_of(dataset, p.j):
                        continue
                    value += obs.value * p.shared / p.whole
                    covered += p.shared
                    used.add(p.j)
                    flags |= obs.flags
                    if obs.updated:
                        updated.append(obs.updated)
                values.append(value)
                coverage = min(coverage, covered / total)
            if best is None or coverage > best[1] + 1e-12:
                best = (other, coverage, values, used, flags, updated)
        if best is None:
            return None
        other, coverage, values, used, flags, updated = best
        if coverage < self.config.min_coverage:
            return Result(None, "none", coverage, note=f"best reconstruction (NUTS {other}) covers {coverage:.3f}")
        if ind.kind == "count":
            value = values[0]
        elif ind.kind == "ratio":
            value = values[0] / values[1] * ind.scale if values[1] else None
        else:
            groups = [(*age_bounds(c), v) for c, v in zip(ind.groups.sum_codes, values, strict=True)]
            value = interpolated_median(groups)
        geos = "+".join(sorted(used))
        return Result(
            value, "reconstructed", coverage, geos if len(geos) <= 250 else f"{len(used)} NUTS 3 regions",
            other, 3, frozenset(flags), max(updated) if updated else None,
            "estimate: median interpolated in 5-year age groups" if ind.kind == "median_age" else None,
        )

    def resolve(self, ind: Indicator, version: str, code: str | None, country: str, year: int) -> Result:
        known = code is not None and (len(code) == 2 or code in self.t.codes[version])
        if known:
            level = self.t.level(code)
            obs = self._published(ind, code, version, year)
            if obs is not None:
                return Result(obs.value, "published", geo=code, version=version, level=level, flags=obs.flags,
                              updated=obs.updated)
            for other in sorted(VERSIONS, reverse=True):
                if other == version:
                    continue
                for cand in sorted(self.t.neighbours(version, code, other)):
                    if cand == code or not self.t.same_region(version, code, other, cand):
                        continue
                    obs = self._published(ind, cand, other, year)
                    if obs is not None:
                        return Result(obs.value, "recoded", geo=cand, version=other, level=self.t.level(cand),
                                      flags=obs.flags, updated=obs.updated)
            rebuilt = self.reconstruct(ind, version, code, year)
            if rebuilt is not None and rebuilt.method == "reconstructed":
                return rebuilt
            failed = rebuilt.note if rebuilt is not None else "no NUTS 3 pieces"
            containers = [(version, code[: 2 + n]) for n in range(level - 1, 0, -1)]
            for other in VERSIONS:
                if other != version:
                    containers += [
                        (other, c) for c in self.t.neighbours(version, code, other)
                        if self.t.contains(version, code, other, c) and not self.t.same_region(version, code, other, c)
                    ]
            for other, cand in sorted(containers, key=lambda vc: (-len(vc[1]), -int(vc[0]))):
                obs = self._published(ind, cand, other, year)
                if obs is not None:
                    return Result(obs.value, "coarser_region", geo=cand, version=other, level=len(cand) - 2,
                                  flags=obs.flags, updated=obs.updated, note=failed)
        else:
            failed = f"{code} is not a NUTS {version} code" if code else "no region"
        obs = self.series[ind.name].get((country, year))
        if obs is not None:
            return Result(obs.value, "country", geo=country, level=0, flags=obs.flags, updated=obs.updated,
                          note=failed)
        return Result(None, "none", note=failed)


def load_builder(wh: Warehouse, config: ContextConfig, countries: list[str], years: list[int],
                 as_of: datetime | None) -> ContextBuilder:
    codes = wh.query_df("SELECT nuts_version, code, level FROM reference.nuts_codes")
    pieces = wh.query_df(
        "SELECT from_version, to_version, from_code, to_code, area_km2, pop11, pop21 FROM reference.nuts3_pieces"
    )
    territory = Territory(codes, pieces, config.weight, config.same_territory)
    cache: dict[tuple, pd.DataFrame] = {}

    def rows(sel: Selection) -> pd.DataFrame:
        key = (sel.dataset, tuple(sorted(sel.filters.items())), sel.sum_dimension, sel.sum_codes)
        if key not in cache:
            cache[key] = read_selection(wh, sel, countries, years, as_of)
        return cache[key]

    series: dict[str, Series] = {}
    groups: dict[str, dict[str, Series]] = {}
    for ind in config.indicators.values():
        series[ind.name] = to_series(rows(ind.selection), ind.selection.sum_codes)
        if ind.groups is not None:
            frame = rows(ind.groups)
            groups[ind.name] = {c: to_series(frame[frame["k"] == c]) for c in ind.groups.sum_codes}
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    if wh.relation_exists("eurostat", "labels"):
        found = wh.query_df("SELECT dataset, code, label FROM eurostat.labels WHERE dimension = 'geo'")
        for dataset, code, label in found.itertuples(index=False):
            labels[dataset][code] = label
    return ContextBuilder(config, territory, series, groups, labels)


def build_values(wh: Warehouse, config: ContextConfig | None = None, as_of: datetime | None = None) -> pd.DataFrame:
    """The long table: one row per (round, country, region, indicator) with value, method and provenance."""
    config = config or load_context_config()
    regions = read_regions(wh, config)
    if regions.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    countries = sorted({nuts_code(c) for c in regions["cntry"]})
    ref_years = [d.year for d in regions["reference_date"] if d is not None]
    years = list(range(min(ref_years) - YEARS_BACK, max(ref_years) + 1)) if ref_years else []
    builder = load_builder(wh, config, countries, years or [0], as_of)
    out = []
    for r in regions.itertuples(index=False):
        version = str(r.region_nuts_version)
        code = nuts_code(str(r.region)) if isinstance(r.region, str) and r.region else None
        country = nuts_code(str(r.cntry))
        level = builder.t.level(code) if code and code in builder.t.codes[version] else None
        for ind in config.indicators.values():
            if r.reference_date is None:
                res, year = Result(None, "none", note="no interview dates in this country"), None
            else:
                year = builder.data_year(ind, country, r.reference_date.year)
                res = builder.resolve(ind, version, code, country, year)
            out.append([
                int(r.essround), str(r.cntry), r.region if isinstance(r.region, str) else None, version, level,
                r.reference_date, ind.name, res.value, res.method, res.coverage, res.geo, res.version, res.level,
                year if res.value is not None else None, ",".join(sorted(res.flags)) or None, res.updated, res.note,
            ])
    return pd.DataFrame(out, columns=LONG_COLUMNS)


def to_regions(
    values: pd.DataFrame, config: ContextConfig | None = None, names: list[str] | None = None
) -> pd.DataFrame:
    """The region-level table: one row per (round, country, region), every indicator beside its method, and a
    summary (the least direct method, the lowest coverage, versions, levels, flags and latest source_updated).
    ``names``: the indicators (default: the configured ones; a snapshot passes those it froze)."""
    config = config or load_context_config()
    names = names or config.names
    keys = ["essround", "cntry", "region"]
    rows = []
    for (essround, cntry, region), g in values.groupby(keys, dropna=False, sort=True):
        first = g.iloc[0]
        methods = list(g["method"])
        reconstructed = g[g["method"] == "reconstructed"]["coverage"].dropna()
        flags = sorted({f for fl in g["flags"].dropna() for f in str(fl).split(",") if f})
        updated = [u for u in g["source_updated"].dropna()]
        versions = sorted({v for v in g["data_nuts_version"].dropna()})
        row = {
            "essround": int(essround), "cntry": cntry, "region": region if isinstance(region, str) else None,
            "region_nuts_version": first["region_nuts_version"],
            "region_level": None if pd.isna(first["region_level"]) else int(first["region_level"]),
            "reference_date": _day(first["reference_date"]),
            "method": max(methods, key=METHODS.index),
            "coverage": float(reconstructed.min()) if len(reconstructed) else None,
            "data_nuts_version": ",".join(versions) or None,
            "data_level": None if g["data_level"].dropna().empty else int(g["data_level"].dropna().min()),
            "flags": ",".join(flags) or None,
            "source_updated": max(updated) if updated else None,
        }
        for name in names:
            hit = g[g["indicator"] == name]
            value = hit["value"].iloc[0] if len(hit) else None
            row[name] = None if value is None or value != value else float(value)
            row[f"{name}_method"] = hit["method"].iloc[0] if len(hit) else "none"
        rows.append(row)
    return pd.DataFrame(rows, columns=region_columns(config, names))


def _day(value) -> date | None:
    """A date whatever the driver returned (date, datetime, Timestamp)."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def region_columns(config: ContextConfig, names: list[str] | None = None) -> list[str]:
    return [
        "essround", "cntry", "region", "region_nuts_version", "region_level", "reference_date", "method",
        "coverage", "data_nuts_version", "data_level", "flags", "source_updated",
    ] + [c for name in (names or config.names) for c in (name, f"{name}_method")]
