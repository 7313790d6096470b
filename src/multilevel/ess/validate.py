"""pandera checks of ESS respondents before they are staged, and the region flag they rely on.

Rules: ``(essround, cntry, idno)`` unique; every answer inside its documented range, or NULL with a reason a-d
(never both, never neither); weights positive; ``region`` a code of the NUTS version the round uses at the level
``regunit`` names, or a ``region_flag`` saying why not.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from multilevel import paths
from multilevel.errors import ValidationFailed
from multilevel.ess.config import MISSING_REASONS, WEIGHT_COLUMNS, YEAR_COLUMN, RoundConfig
from multilevel.textlimits import ESS_TEXT_BYTES


@lru_cache(maxsize=4)
def nuts_levels(version: str, codes_csv: Path | None = None) -> dict[str, int]:
    """{code: level} of one NUTS version, from data/reference/nuts_codes.csv."""
    path = codes_csv or paths.DATA_DIR / "reference" / "nuts_codes.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return {r["code"]: int(r["level"]) for r in csv.DictReader(f) if r["nuts_version"] == version}


def nuts_code(region: str) -> str:
    """ESS writes ISO country prefixes where NUTS does not: GB -> UK, GR -> EL."""
    prefix = {"GB": "UK", "GR": "EL"}.get(region[:2])
    return prefix + region[2:] if prefix else region


def region_flags(df: pd.DataFrame, config: RoundConfig) -> pd.Series:
    """Why each region cannot be a NUTS code of its country's version at the level regunit says (NULL when it is)."""

    def flag(region, regunit, cntry) -> str | None:
        if region is None or pd.isna(region):
            return "region missing"
        if pd.isna(regunit):
            return "regunit missing"
        if int(regunit) == 4:
            return "regunit 4: region is not a NUTS unit"
        version = config.version_for(cntry)
        level = nuts_levels(version).get(nuts_code(region))
        if level is None:
            return f"{region} is not a NUTS {version} code"
        if level != int(regunit):
            return f"{region} is NUTS level {level} but regunit says {int(regunit)}"
        return None

    return pd.Series(
        [flag(r, u, c) for r, u, c in zip(df["region"], df["regunit"], df["cntry"], strict=True)],
        index=df.index,
        dtype="string",
    )


def fits(column: str) -> pa.Check:
    """The column's size in every warehouse, in UTF-8 bytes (Redshift counts bytes, DuckDB ignores sizes): a file
    that loads into DuckDB must not fail later in production."""
    limit = ESS_TEXT_BYTES[column]
    return pa.Check(lambda s: s.isna() | (s.str.encode("utf-8").str.len() <= limit),
                    name=f"text_length: at most {limit} bytes (the warehouse column size)")


def schema(config: RoundConfig) -> pa.DataFrameSchema:
    """The pandera schema of ess.respondents for one round."""
    reason = pa.Column("string", pa.Check.isin(list(MISSING_REASONS)), nullable=True)
    columns = {
        "essround": pa.Column("Int16", pa.Check.eq(config.essround), nullable=False),
        "edition": pa.Column("string", fits("edition"), nullable=True),
        "cntry": pa.Column("string", [pa.Check.str_matches(r"^[A-Z]{2}$"), fits("cntry")], nullable=False),
        "idno": pa.Column("Int64", nullable=False),
        "region": pa.Column("string", fits("region"), nullable=True),
        "regunit": pa.Column("Int16", pa.Check.isin([1, 2, 3, 4]), nullable=True),
        "region_flag": pa.Column("string", fits("region_flag"), nullable=True),
        YEAR_COLUMN: pa.Column("Int16", pa.Check.in_range(2000, 2100), nullable=True),
        f"{YEAR_COLUMN}_missing": reason,
        "inwmms": pa.Column("Int16", pa.Check.in_range(1, 12), nullable=True),
    }
    for name, (low, high) in config.answers.items():
        columns[name] = pa.Column("Int16", pa.Check.in_range(low, high), nullable=True)
        columns[f"{name}_missing"] = reason
    for name in WEIGHT_COLUMNS:
        columns[name] = pa.Column("float64", pa.Check.gt(0), nullable=False)

    def one_of_value_or_reason(df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        for name in [*config.answers, YEAR_COLUMN]:
            ok &= df[name].isna() != df[f"{name}_missing"].isna()
        return ok

    def region_valid_or_flagged(df: pd.DataFrame) -> pd.Series:
        return region_flags(df, config).fillna("") == df["region_flag"].fillna("")

    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(one_of_value_or_reason, name="answer NULL exactly when it has a missing reason"),
            pa.Check(region_valid_or_flagged, name="region is a NUTS code at level regunit, or flagged"),
        ],
        unique=["essround", "cntry", "idno"],
        strict=False,
    )


def validate_respondents(df: pd.DataFrame, config: RoundConfig) -> pd.DataFrame:
    """Fill region_flag, then check every rule; ValidationFailed names the rule and a few offending rows."""
    df = df.reset_index(drop=True)  # failure reports name row positions
    df["region_flag"] = region_flags(df, config)
    try:
        return schema(config).validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        lines = [
            f"{row.column or 'rows'}: {row.check} (index {row.index}, value {row.failure_case!r})"
            for row in cases.head(10).itertuples()
        ]
        raise ValidationFailed(
            f"ESS round {config.essround}: {len(cases)} validation failures, first ones:\n  " + "\n  ".join(lines)
        ) from e
