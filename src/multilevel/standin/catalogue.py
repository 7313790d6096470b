"""The stand-in's catalogue: Eurostat's table of contents (text and XML) over every dataset it serves.

Besides the demography cubes and the fixture files, the stand-in can serve any number of synthetic regional
datasets (``StandIn(catalogue=N)``): seeded, small cubes shaped like Eurostat's regional tables (freq, an
indicator, unit, geo at NUTS 0 to 1, 2 or 3 of a few countries, years), spread over the themes of the real
"Regional statistics by NUTS classification" folder, with a few large ones (all countries, NUTS 3, many
indicators) and a few national-only datasets whose title still says "regions" (the catalogue cannot tell them
apart; the content constraint can). The text form follows tests/fixtures/eurostat/catalogue_toc_txt_en_excerpt.txt
(a real file): quoted tab-separated cells, the tree as four spaces of indentation per level, dates DD.MM.YYYY.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from xml.sax.saxutils import escape

import numpy as np

from multilevel.standin.cube import BRUSSELS, TIMESTAMP_FORMAT, BaseCube, Dimension
from multilevel.standin.geo import build_geo_list
from multilevel.standin.synthetic import BASE_FLAGS, apply_flags, common_dims, dataflow_annotations, reserve_cells

# (folder code, folder title, dataset code prefix, indicator dimension, what is measured)
THEMES = [
    ("reg_dem", "Regional demographic statistics", "demo_r_", "indic_de", "Demographic indicators"),
    ("reg_eco10", "Regional economic accounts", "nama_10r_", "na_item", "Economic accounts"),
    ("reg_lmk", "Regional labour market statistics", "lfst_r_", "indic_em", "Labour market indicators"),
    ("reg_educ", "Regional education statistics", "edat_r_", "isced11", "Education indicators"),
    ("reg_hlth", "Regional health statistics", "hlth_r_", "icd10", "Health indicators"),
    ("reg_tour", "Regional tourism statistics", "tour_r_", "c_resid", "Tourism indicators"),
    ("reg_crim", "Regional crime statistics", "crim_r_", "iccs", "Crime indicators"),
    ("reg_sct", "Regional science and technology statistics", "rd_r_", "sectperf", "R&D indicators"),
]
LEVEL_WORDS = {0: "country", 1: "NUTS 1 regions", 2: "NUTS 2 regions", 3: "NUTS 3 regions"}
SMALL_COUNTRIES = [["EE", "MT"], ["LU", "CY"], ["SI", "HR"], ["IE", "LV"], ["LT", "MT"]]
LARGE_EVERY = 60  # one dataset in 60 is large: every country, NUTS 3, many indicators
NATIONAL_EVERY = 25  # and per 25 regional ones, one national-only dataset joins the catalogue
LATEST = datetime(2026, 11, 20, 23, 0, tzinfo=BRUSSELS)


@dataclass(frozen=True)
class RegionalSpec:
    """What a synthetic dataset looks like; its cube is generated only when first requested."""

    code: str
    title: str
    theme: str
    dim: str
    indicators: int
    units: int
    max_level: int  # 0 = national only
    countries: tuple[str, ...] | None  # None: every country
    first_year: int
    last_year: int
    update_data: str  # Eurostat timestamp of the base version
    update_structure: str

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))


def regional_specs(count: int) -> list[RegionalSpec]:
    """``count`` regional datasets plus one national-only per ``NATIONAL_EVERY``, deterministic."""
    specs = []
    for i in range(count + count // NATIONAL_EVERY):
        national = i >= count
        theme, theme_title, prefix, dim, measure = THEMES[i % len(THEMES)]
        rng = np.random.default_rng(20261200 + i)
        large = not national and i % LARGE_EVERY == LARGE_EVERY - 1
        max_level = 0 if national else 3 if large else int(rng.choice([1, 2, 2, 3, 3]))
        last = int(rng.integers(2021, 2025))
        first = last - (19 if large else int(rng.integers(4, 12)))
        # 23:00 publications: a revision moves the date to the next day, as a real one (published now) would
        stamp = LATEST - timedelta(days=int(rng.integers(0, 200)))
        structure = stamp - timedelta(days=int(rng.integers(0, 400)))
        code = f"{prefix}{'nat' if national else 's'}{i:03d}"
        title = f"{measure} (synthetic {i:03d}) by {'regions' if national else LEVEL_WORDS[max_level]}"
        specs.append(RegionalSpec(
            code=code, title=title, theme=theme, dim=dim,
            indicators=6 if large else int(rng.integers(1, 5)), units=2 if large else int(rng.integers(1, 3)),
            max_level=max_level,
            countries=None if large or national else tuple(SMALL_COUNTRIES[i % len(SMALL_COUNTRIES)]),
            first_year=first, last_year=last,
            update_data=stamp.strftime(TIMESTAMP_FORMAT), update_structure=structure.strftime(TIMESTAMP_FORMAT),
        ))
    return specs


@lru_cache(maxsize=512)
def regional_cube(spec: RegionalSpec) -> BaseCube:
    """The seeded cube of a synthetic regional dataset (arrays read-only, shared by stand-in instances)."""
    rng = np.random.default_rng(zlib.crc32(spec.code.encode()))
    years = spec.years
    geo = build_geo_list(years, set(spec.countries) if spec.countries else None, aggregates=spec.max_level > 0)
    keep = [i for i, level in enumerate(geo.levels) if level <= spec.max_level]
    codes = [geo.codes[i] for i in keep]
    valid = geo.valid[keep]
    levels = geo.levels[keep]
    n_ind, n_unit, n_geo, n_time = spec.indicators, spec.units, len(codes), len(years)
    scale = np.where(levels < 0, 50.0, 10.0 / (1 + np.maximum(levels, 0)))[None, None, :, None]
    level = np.exp(rng.normal(3.0, 1.0, (n_ind, n_unit, 1, 1))) * scale
    trend = 1 + rng.normal(0.01, 0.01, (n_ind, 1, 1, 1)) * (np.arange(n_time) - n_time / 2)[None, None, None, :]
    noise = np.exp(rng.normal(0.0, 0.2, (n_ind, n_unit, n_geo, 1)))
    values = np.round(level * trend * noise * np.ones((1, 1, 1, n_time)), 1)[None]  # (freq, ind, unit, geo, time)
    values = np.clip(values, 0.1, None)
    status = np.zeros(values.shape, dtype=np.int8)
    apply_flags(rng, values, status, BASE_FLAGS, valid)
    reserve = reserve_cells(rng, values, status, count=8)
    freq, _, time = common_dims(geo, years)
    geo_dim = Dimension("geo", "Geopolitical entity (reporting)", codes, {c: geo.labels[c] for c in codes})
    ind_codes = [f"I{k:02d}" for k in range(n_ind)]
    unit_codes = ["NR", "PC"][:n_unit]
    dims = [
        freq,
        Dimension(spec.dim, spec.dim.replace("_", " ").capitalize(), ind_codes,
                  {c: f"Indicator {c}" for c in ind_codes}),
        Dimension("unit", "Unit of measure", unit_codes, {"NR": "Number", "PC": "Percentage"}),
        geo_dim,
        time,
    ]
    return BaseCube(
        code=spec.code, label=spec.title, dims=dims, values=values, status=status, flags=list(BASE_FLAGS),
        dsd_version="1.0", reserve=reserve,
        annotations=dataflow_annotations(spec.code, f"{spec.theme}_esms", "2015-05-21T11:00:00+0200", spec.update_data,
                                 spec.update_structure, time.codes),
    )


# --------------------------------------------------------------------------- the table of contents


@dataclass(frozen=True)
class TocLeaf:
    """A dataset as the catalogue lists it, under the folders ``path`` ((code, title) outermost first)."""

    path: tuple[tuple[str, str], ...]
    code: str
    title: str
    type: str
    update_data: datetime
    update_structure: datetime
    data_start: str
    data_end: str
    values: int | None


def _day(moment: datetime) -> str:
    return moment.astimezone(BRUSSELS).strftime("%d.%m.%Y")


def _tree(leaves: list[TocLeaf]) -> list[tuple[int, tuple[str, str] | TocLeaf]]:
    """Depth-first rows: folders once, before their leaves (the order of first appearance is kept)."""
    rows: list[tuple[int, tuple[str, str] | TocLeaf]] = []
    opened: list[tuple[str, str]] = []
    for leaf in leaves:
        common = 0
        while common < min(len(opened), len(leaf.path)) and opened[common] == leaf.path[common]:
            common += 1
        opened = opened[:common]
        for depth in range(common, len(leaf.path)):
            rows.append((depth, leaf.path[depth]))
            opened.append(leaf.path[depth])
        rows.append((len(leaf.path), leaf))
    return rows


def toc_txt(leaves: list[TocLeaf]) -> bytes:
    """The text catalogue (``catalogue/toc/txt?lang=en``)."""
    out = ['"title"\t"code"\t"type"\t"last update of data"\t"last table structure change"\t"data start"\t'
           '"data end"\t"values"\n']
    for depth, row in _tree(leaves):
        indent = " " * (4 * depth)
        if isinstance(row, TocLeaf):
            values = "" if row.values is None else str(row.values)
            out.append(f'"{indent}{row.title}"\t"{row.code}"\t"{row.type}"\t"{_day(row.update_data)}"\t'
                       f'"{_day(row.update_structure)}"\t"{row.data_start}"\t"{row.data_end}"\t{values}\n')
        else:
            out.append(f'"{indent}{row[1]}"\t"{row[0]}"\t"folder"\t" "\t" "\t" "\t" "\t\n')
    return "".join(out).encode("utf-8")


def toc_xml(leaves: list[TocLeaf], created: datetime) -> bytes:
    """The XML catalogue (``catalogue/toc/xml``), English titles only."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<nt:tree xmlns:nt="urn:eu.europa.ec.eurostat.navtree" '
           f'creationDate="{created.strftime("%Y%m%dT%H%M")}">']
    depth_open = 0
    for depth, row in _tree(leaves):
        while depth_open > depth:
            out.append("</nt:children></nt:branch>")
            depth_open -= 1
        if isinstance(row, TocLeaf):
            values = "" if row.values is None else str(row.values)
            out.append(
                f'<nt:leaf type="{row.type}"><nt:title language="en">{escape(row.title)}</nt:title>'
                f"<nt:code>{row.code}</nt:code><nt:lastUpdate>{_day(row.update_data)}</nt:lastUpdate>"
                f"<nt:lastModified>{_day(row.update_structure)}</nt:lastModified>"
                f"<nt:dataStart>{row.data_start}</nt:dataStart><nt:dataEnd>{row.data_end}</nt:dataEnd>"
                f"<nt:values>{values}</nt:values></nt:leaf>"
            )
        else:
            out.append(f'<nt:branch><nt:title language="en">{escape(row[1])}</nt:title><nt:code>{row[0]}</nt:code>'
                       "<nt:children>")
            depth_open += 1
    out.append("</nt:children></nt:branch>" * depth_open)
    out.append("</nt:tree>\n")
    return "".join(out).encode("utf-8")


ROOT = ("data", "Database by themes")
GENERAL = ("general", "General and regional statistics")
REGIONAL = ("reg", "Regional statistics by NUTS classification")
POPULATION = ("popul", "Population and social conditions")
FOLDERS = {code: (code, title) for code, title, *_ in THEMES}


def path_of(code: str, theme: str | None) -> tuple[tuple[str, str], ...]:
    """Folders above a served dataset: regional ones under ``reg``, the others under population/health."""
    if theme in FOLDERS:
        return (ROOT, GENERAL, REGIONAL, FOLDERS[theme])
    if code.startswith("demo_r_"):
        return (ROOT, GENERAL, REGIONAL, FOLDERS["reg_dem"])
    return (ROOT, POPULATION, ("hlth", "Health"))
