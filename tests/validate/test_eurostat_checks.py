"""Tests of the pandera checks on Eurostat slices: each rule passes good frames and names bad rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multilevel.datasets import Dataset
from multilevel.errors import ValidationFailed
from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.validate.eurostat import validate_slice
from multilevel.validate.flags import known_flags

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "jsonstat"
# Real API answers, copied into the repository with their source (tests/fixtures/eurostat/README.md).
SAMPLE_DIRS = [ROOT / "tests" / "fixtures" / "eurostat"]

DEMO = Dataset(code="demo_r_pjangrp3", split="age", nonnegative=True)
SIGNED = Dataset(code="demo_r_gind3", split="indic_de", nonnegative=False)


def frame(records: list[tuple], dims: tuple[str, ...] = ("sex", "geo")) -> pd.DataFrame:
    """A slice frame shaped like parse_jsonstat's output (str dims, float64 value, str flag)."""
    cols = [*dims, "time_period", "value", "flag"]
    df = pd.DataFrame.from_records(records, columns=cols)
    for c in [*dims, "time_period", "flag"]:
        df[c] = df[c].astype("str")
    df["value"] = df["value"].astype("float64")
    return df


GOOD = [
    ("T", "DE", "2020", 10.0, None),
    ("T", "DE1", "2020", 11.0, "p"),
    ("T", "DE11", "2020-Q1", 12.0, "bep"),
    ("T", "DE111", "2020-S2", 0.0, "e|C"),
    ("T", "DEZ", "2020-01", None, "|C"),
    ("T", "FRZZZ", "2020-W53", None, ":"),
    ("T", "EU27_2020", "2020-02-29", 3.0, "u"),
    ("T", "EA19", "2020", 4.0, None),
    ("T", "DE_TOT", "2020", 5.0, "i"),
    ("T", "EFTA", "2020", 6.0, "m"),
]


def failure(df: pd.DataFrame, dataset: Dataset = DEMO, **kwargs) -> str:
    with pytest.raises(ValidationFailed) as info:
        validate_slice(df, dataset, **kwargs)
    message = str(info.value)
    assert message.startswith(f"dataset {dataset.code}:")
    assert "what to do:" in message
    return message


def rule_block(message: str, rule: str) -> str:
    """The part of the message about one rule (its heading, rows and fix)."""
    match = re.search(rf"^- rule {rule}\b.*?(?=^- rule |\Z)", message, re.S | re.M)
    assert match, f"rule {rule} not in message:\n{message}"
    return match.group(0)


def test_good_frame_passes_and_is_returned_unchanged():
    df = frame(GOOD)
    before = df.copy()
    assert validate_slice(df, DEMO, expected_min_rows=len(df)) is df
    pd.testing.assert_frame_equal(df, before)


def test_parsed_fixtures_pass():
    for name in (
        "array_value_quarterly.json",
        "sparse_confidential.json",
        "mixed_periods.json",
        "empty.json",
    ):
        parsed = parse_jsonstat((FIXTURES / name).read_bytes())
        validate_slice(parsed.frame, DEMO)
    # This one holds a negative value: fine for a signed dataset.
    validate_slice(parse_jsonstat((FIXTURES / "status_string_monthly.json").read_bytes()).frame, SIGNED)


def test_real_samples_pass():
    paths = {p.name: p for d in SAMPLE_DIRS for p in sorted(d.glob("statsapi_jsonstat_*.json"))}
    assert paths, f"no JSON-stat sample in {SAMPLE_DIRS}"
    for path in paths.values():
        parsed = parse_jsonstat(path.read_bytes())
        validate_slice(parsed.frame, Dataset(code=parsed.dataset, split="geo", nonnegative=True))


def test_missing_columns():
    df = frame(GOOD).drop(columns=["flag"])
    message = failure(df)
    assert "rule columns failed" in message and "'flag'" in message


def test_value_dtype():
    df = frame(GOOD).astype({"value": "object"})
    assert "rule dtype" in failure(df)


def test_key_not_null():
    df = frame(GOOD)
    df.loc[2, "geo"] = None
    df.loc[4, "time_period"] = None
    block = rule_block(failure(df), "key_not_null")
    assert "2 failing row(s)" in block
    assert "2020-Q1" in block and "DEZ" in block  # the rows, shown with their other codes


def test_key_unique_shows_both_copies():
    df = pd.concat([frame(GOOD), frame([("T", "DE1", "2020", 99.0, None)])], ignore_index=True)
    block = rule_block(failure(df), "key_unique")
    assert "2 failing row(s)" in block
    assert re.search(r"DE1\s+2020\s+11\.0\s+p", block) and re.search(r"DE1\s+2020\s+99\.0", block)


def test_key_unique_covers_every_dimension():
    # Same geo and time but another sex: not a duplicate.
    validate_slice(frame([("T", "DE", "2020", 1.0, None), ("F", "DE", "2020", 1.0, None)]), DEMO)


@pytest.mark.parametrize("code", ["de1", "DEU1234", "D", "EU_27", "XX-1", "EU27_20"])
def test_geo_code_rejects(code):
    df = frame([*GOOD, ("T", code, "2021", 1.0, None)])
    block = rule_block(failure(df), "geo_code")
    assert "1 failing row(s)" in block and code in block
    assert "KNOWN_GEO_AGGREGATES" in block


def test_geo_code_accepts_nuts_aggregates_and_extra_regio():
    codes = ["AL", "AL011", "UKZ", "FRZZ", "EU28", "EU27_2007", "EU15", "EA", "EA20", "EEA", "DE_TOT", "FX"]
    validate_slice(frame([("T", c, "2020", 1.0, None) for c in codes]), DEMO)


def test_geo_rule_only_applies_to_a_geo_column():
    # A dataset without geo: codes of other dimensions are not held to the NUTS shape.
    validate_slice(frame([("total", "2020", 1.0, None)], dims=("age_group",)), DEMO)


@pytest.mark.parametrize(
    "period", ["2020Q1", "2020-Q5", "2020-13", "2020-W54", "2020-02-30x", "20", "2020-H1"]
)
def test_time_period_format_rejects(period):
    df = frame([*GOOD, ("T", "AT", period, 1.0, None)])
    block = rule_block(failure(df), "time_period_format")
    assert "1 failing row(s)" in block and period in block


@pytest.mark.parametrize("flag", ["x", "s", "c", "pz", "|X", "p|", "C", "", "p |C"])
def test_flag_known_rejects_unknown_or_retired_letters(flag):
    df = frame([*GOOD, ("T", "AT", "2021", 1.0, flag)])
    block = rule_block(failure(df), "flag_known")
    assert "1 failing row(s)" in block
    assert re.search(rf"AT\s+2021\s+1\.0\s+{re.escape(flag)}", block) or flag == ""


def test_flag_known_names_the_replacement_of_retired_codes():
    block = rule_block(failure(frame([*GOOD, ("T", "AT", "2021", 1.0, "s")])), "flag_known")
    assert "retired in January 2025 (s->i)" in block


def test_flag_grammar():
    flags = pd.Series(["p", "bep", ":", "|C", "e|N", "u|P", None, "bb", "|c", ":p", "pe|CN"], dtype="str")
    assert known_flags(flags).tolist() == [
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_value_finite():
    df = frame([*GOOD, ("T", "AT", "2021", np.inf, None), ("T", "BE", "2021", None, None)])
    block = rule_block(failure(df, SIGNED), "value_finite")
    assert "2 failing row(s)" in block
    assert re.search(r"AT\s+2021\s+inf", block) and re.search(r"BE\s+2021\s+NULL\s+NULL", block)


def test_value_nonnegative_only_where_configured():
    df = frame([*GOOD, ("T", "AT", "2021", -0.5, "p")])
    block = rule_block(failure(df, DEMO), "value_nonnegative")
    assert "1 failing row(s)" in block and re.search(r"AT\s+2021\s+-0\.5\s+p", block)
    assert "nonnegative: false" in block
    validate_slice(df, SIGNED)


def test_min_rows():
    df = frame(GOOD)
    validate_slice(df, DEMO, expected_min_rows=len(df))
    block = rule_block(failure(df, expected_min_rows=25), "min_rows")
    assert "15 row(s) short" in block and f"{len(df)} rows, expected at least 25" in block
    assert "MULTILEVEL_MAX_ROW_DROP_FRACTION" in block


def test_all_failures_are_reported_at_once_with_at_most_five_rows_each():
    bad = [("T", f"X{i}x", "2021", 1.0, None) for i in range(8)]  # lower-case letter: not a geo code
    df = frame([*GOOD, *bad, ("T", "AT", "1999-Q9", -1.0, "zz")])
    message = failure(df, expected_min_rows=100)
    for rule in ("geo_code", "time_period_format", "flag_known", "value_nonnegative", "min_rows"):
        rule_block(message, rule)
    block = rule_block(message, "geo_code")
    assert "8 failing row(s)" in block and "... and 3 more" in block
    assert sum(f"X{i}x" in block for i in range(8)) == 5
    assert message.count("- rule ") == 5


def test_error_carries_the_failures():
    df = frame([*GOOD, ("T", "AT", "2021", -1.0, None)])
    with pytest.raises(ValidationFailed) as info:
        validate_slice(df, DEMO)
    assert info.value.dataset == "demo_r_pjangrp3"
    assert [f.rule for f in info.value.failures] == ["value_nonnegative"]


def test_frame_with_another_index_is_checked_by_position():
    df = frame(GOOD)
    df.index = range(100, 100 + len(df))
    df.loc[103, "value"] = -1.0
    block = rule_block(failure(df), "value_nonnegative")
    assert re.search(r"DE111\s+2020-S2\s+-1\.0", block)


def test_large_slice_passes():
    # 100k rows of realistic codes pass (speed is measured in the report, not asserted).
    codes = [f"{a}{b}{k}" for a in "ABCDEFGHIJ" for b in "KLMNOPQRST" for k in range(10)]
    years = [str(1900 + t) for t in range(100)]
    df = pd.DataFrame(
        {
            "geo": pd.Series(np.repeat(codes, len(years)), dtype="str"),
            "time_period": pd.Series(np.tile(years, len(codes)), dtype="str"),
        }
    )
    df["value"] = np.arange(len(df), dtype="float64")
    df["flag"] = pd.Series(np.where(np.arange(len(df)) % 7 == 0, "p", None), dtype="str")
    assert len(df) == 100_000
    assert validate_slice(df, DEMO, expected_min_rows=100_000) is df
    df.loc[99_999, "geo"] = "bad"
    assert "rule geo_code: 1 failing row(s)" in failure(df)
