"""Read an ESS Stata file: only the configured columns, missing reasons kept, answers as nullable small integers.

ESS answers come as Stata extended missing values (.a Not applicable, .b Refusal, .c Don't know, .d No answer).
``pyreadstat`` with ``user_missing=True`` returns them as the letters 'a'..'d' inside object columns; we split each
answer into a value column (pandas Int16, NULL when missing) and ``{var}_missing`` holding the letter, so that no
sentinel (77, 7777, ...) ever reaches the value column.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyreadstat

from multilevel.errors import InputFileError
from multilevel.ess.config import (
    DESIGN_COLUMNS,
    MISSING_REASONS,
    MONTH_COLUMN,
    WEIGHT_COLUMNS,
    YEAR_COLUMN,
    RoundConfig,
)

log = logging.getLogger(__name__)

STATA_MAGIC = {113, 114, 115, 117, 118, 119}  # first byte of old formats; 117+ start with "<stata_dta>"


def _read(path: Path, **kwargs):
    """pyreadstat.read_dta with the default encoding, then latin-1 (real ESS files need it)."""
    try:
        return pyreadstat.read_dta(str(path), **kwargs)
    except pyreadstat.ReadstatError as e:
        if "encoding" not in str(e).lower():
            raise
        log.info("read %s: default encoding failed (%s); retrying with latin-1", path.name, e)
        return pyreadstat.read_dta(str(path), encoding="latin1", **kwargs)


def _check_stata(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(11)
    except OSError as e:
        raise InputFileError(f"cannot read ESS file {path}: {e}") from e
    if not head or not (head[0] in STATA_MAGIC or head.startswith(b"<stata_dta>")):
        raise InputFileError(
            f"{path} is not a Stata .dta file (first bytes {head[:8]!r}); download the Stata version of the ESS "
            "file from the ESS Data Portal (e.g. ESS9e03.dta)"
        )


def _split_missing(series: pd.Series, name: str) -> tuple[pd.Series, pd.Series]:
    """Value (Int16, NULL when missing) and reason ('a'..'d' or NULL) from a pyreadstat user_missing column."""
    is_reason = series.map(lambda v: isinstance(v, str))
    reasons = series.where(is_reason).astype("string")
    unknown = set(reasons.dropna()) - set(MISSING_REASONS)
    if unknown:
        raise InputFileError(f"column {name} has missing codes {sorted(unknown)}; only .a-.d are documented")
    numeric = pd.to_numeric(series.where(~is_reason), errors="coerce")
    not_whole = numeric.notna() & (numeric != numeric.round())
    if not_whole.any():
        raise InputFileError(f"column {name} holds non-integer answers, e.g. {numeric[not_whole].iloc[0]}")
    if numeric.notna().any() and (numeric.abs().max() > 32767):
        raise InputFileError(f"column {name} holds values beyond a small integer ({numeric.abs().max()})")
    return numeric.astype("Int16"), reasons


def read_respondents(path: str | Path, config: RoundConfig) -> pd.DataFrame:
    """Read the configured columns of the ESS file at ``path`` into the shape of ess.respondents (minus flags)."""
    path = Path(path)
    _check_stata(path)
    try:
        _, meta = _read(path, metadataonly=True)
    except pyreadstat.ReadstatError as e:
        raise InputFileError(f"{path} is not a readable Stata file ({e}); is it complete?") from e
    missing = [c for c in config.source_columns if c not in meta.column_names]
    if missing:
        raise InputFileError(
            f"{path} lacks the ESS columns {missing}: it is not an ESS round {config.essround} integrated file "
            "(or the answer list in multilevel/ess/config.yaml names variables this round does not have)"
        )
    try:
        wanted = config.source_columns + ([MONTH_COLUMN] if MONTH_COLUMN in meta.column_names else [])
        raw, meta = _read(path, usecols=wanted, user_missing=True)
    except pyreadstat.ReadstatError as e:
        raise InputFileError(f"{path} could not be read completely ({e}); the file may be truncated") from e
    if len(raw) != meta.number_rows and meta.number_rows not in (None, -1):
        raise InputFileError(f"{path} says {meta.number_rows} rows but {len(raw)} could be read: truncated?")
    log.info("read %s: %d rows, %d of %d columns", path.name, len(raw), len(raw.columns), meta.number_columns)

    out = pd.DataFrame(index=raw.index)
    out["essround"] = pd.to_numeric(raw["essround"], errors="coerce").astype("Int16")
    out["edition"] = raw["edition"].astype("string").str.strip()
    out["cntry"] = raw["cntry"].astype("string").str.strip()
    out["idno"] = pd.to_numeric(raw["idno"], errors="coerce").astype("Int64")
    region = raw["region"].astype("string").str.strip()
    out["region"] = region.mask(region == "")
    out["regunit"] = pd.to_numeric(raw["regunit"], errors="coerce").astype("Int16")
    out["region_nuts_version"] = out["cntry"].map(config.version_for).astype("string")
    out["region_flag"] = pd.Series(pd.NA, index=raw.index, dtype="string")
    out[YEAR_COLUMN], out[f"{YEAR_COLUMN}_missing"] = _split_missing(raw[YEAR_COLUMN], YEAR_COLUMN)
    if MONTH_COLUMN in raw.columns:
        out[MONTH_COLUMN], _ = _split_missing(raw[MONTH_COLUMN], MONTH_COLUMN)  # only the month, not why missing
    else:
        out[MONTH_COLUMN] = pd.Series(pd.NA, index=raw.index, dtype="Int16")
    for name in config.answers:
        out[name], out[f"{name}_missing"] = _split_missing(raw[name], name)
    for name in WEIGHT_COLUMNS + ["prob"]:
        out[name] = pd.to_numeric(raw[name], errors="coerce").astype("float64")
    for name in DESIGN_COLUMNS:
        if name != "prob":
            out[name] = pd.to_numeric(raw[name], errors="coerce").astype("Int64")
    return out[config.table_columns]
