"""``multilevel export``: one row per respondent of a round with answers, missing reasons, weights, design variables
and the region-level context, as Parquet, Stata .dta (variable and value labels) or CSV, for analysts."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pandas as pd

from multilevel.context.build import METHODS, build_values, to_regions
from multilevel.context.config import load_context_config
from multilevel.context.snapshot import snapshot_regions
from multilevel.errors import ConfigError
from multilevel.ess.labels import stored_labels
from multilevel.warehouse import Warehouse

log = logging.getLogger(__name__)

FORMATS = ("parquet", "dta", "csv")
KEYS = ["essround", "cntry", "region"]
# Stata has no value labels for strings: the methods are written as numbers 1-6 with these labels.
METHOD_CODES = {m: i + 1 for i, m in enumerate(METHODS)}
LABELS = {
    "essround": "ESS round", "edition": "Edition", "cntry": "Country", "idno": "Respondent's identification number",
    "region": "Region (as coded in the ESS file)", "regunit": "Regional unit (NUTS level)",
    "region_nuts_version": "NUTS version of the region code", "region_flag": "Why the region code is unusable",
    "inwyys": "Start of interview, year", "inwyys_missing": "Why the interview year is missing",
    "inwmms": "Start of interview, month", "dweight": "Design weight",
    "pspwght": "Post-stratification weight including design weight",
    "pweight": "Population size weight (must be combined with dweight or pspwght)", "anweight": "Analysis weight",
    "psu": "Primary sampling unit", "stratum": "Sampling stratum", "prob": "Sampling probability",
    "region_level": "NUTS level of the region", "reference_date": "Reference date of the regional context",
    "method": "Least direct method among the region's context values",
    "coverage": "Share of the region's population covered by a reconstruction (lowest)",
    "data_nuts_version": "NUTS version(s) of the Eurostat data used", "data_level": "NUTS level of the data used",
    "flags": "Eurostat flags of the values used", "source_updated": "Eurostat update time of the values used",
}


def column_labels(frame: pd.DataFrame, survey: dict | None = None) -> dict[str, str]:
    """Labels of every column: the ESS file's own (``survey``, from ess.variable_labels), then ours."""
    config = load_context_config()
    survey = survey or {}
    out = {}
    for col in frame.columns:
        if survey.get(col, (None,))[0]:
            out[col] = survey[col][0]
        elif col in LABELS:
            out[col] = LABELS[col]
        elif col in config.indicators:
            out[col] = config.indicators[col].label[:80]
        elif col.endswith("_method") and col[: -len("_method")] in config.indicators:
            out[col] = f"How {col[: -len('_method')]} was obtained"[:80]
        elif col.endswith("_missing"):
            out[col] = f"Why {col[: -len('_missing')]} is missing (a-d)"
        else:
            out[col] = f"ESS variable {col}"
    return out


def round_frame(
    wh: Warehouse, essround: int, as_of: datetime | None = None, snapshot: str | None = None
) -> pd.DataFrame:
    """Respondents of ``essround`` beside their region's context (latest, as of a time, or a frozen snapshot)."""
    respondents = wh.query_df("SELECT * FROM ess.respondents WHERE essround = %s ORDER BY cntry, idno", [essround])
    respondents.attrs["labels"] = stored_labels(wh, essround)
    if respondents.empty:
        raise ConfigError(f"ESS round {essround} is not loaded; run `multilevel ess load FILE --round {essround}`")
    if snapshot:
        regions = snapshot_regions(wh, snapshot)
    else:
        regions = to_regions(build_values(wh, as_of=as_of))
    regions = regions[regions["essround"] == essround].drop(columns=["region_nuts_version"])
    fill = {"region": ""}
    merged = respondents.fillna(fill).merge(regions.fillna(fill), on=KEYS, how="left", validate="many_to_one")
    merged["region"] = merged["region"].replace("", None)
    merged.attrs["labels"] = respondents.attrs["labels"]
    return merged


def write_export(frame: pd.DataFrame, fmt: str, out: Path) -> Path:
    if fmt not in FORMATS:
        raise ConfigError(f"export format {fmt!r}: choose one of {FORMATS}")
    out.parent.mkdir(parents=True, exist_ok=True)
    survey = frame.attrs.get("labels") or {}
    labels = column_labels(frame, survey)
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"multilevel.labels"] = json.dumps(labels).encode()
        pq.write_table(table.replace_schema_metadata(meta), out)
    else:
        write_dta(frame, out, labels, {col: values for col, (_, values) in survey.items() if values})
    log.info("exported %d respondents to %s", len(frame), out)
    return out


def write_dta(frame: pd.DataFrame, out: Path, labels: dict[str, str], survey_values: dict[str, dict]) -> None:
    import pyreadstat

    data = frame.copy()
    value_labels: dict[str, dict] = {c: {float(k): v for k, v in vals.items()} for c, vals in survey_values.items()
                                     if c in data.columns}
    for col in data.columns:
        if col == "method" or col.endswith("_method"):
            data[col] = data[col].map(METHOD_CODES).astype("float64")
            value_labels[col] = {float(v): k for k, v in METHOD_CODES.items()}
        elif pd.api.types.is_datetime64_any_dtype(data[col]) or col == "reference_date":
            data[col] = pd.to_datetime(data[col])
        elif pd.api.types.is_numeric_dtype(data[col]) or str(data[col].dtype) in ("Int16", "Int32", "Int64"):
            data[col] = data[col].astype("float64")
        else:
            data[col] = data[col].astype(object).where(data[col].notna(), "").astype(str)
    pyreadstat.write_dta(
        data, str(out), file_label="ESS respondents with regional context (multilevel export)",
        column_labels=[labels[c][:80] for c in data.columns], variable_value_labels=value_labels,
    )

