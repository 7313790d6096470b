"""Rule slice_membership: every row of a slice has the split code and the filter codes the slice asked for."""

from __future__ import annotations

import pandas as pd
import pytest

from multilevel.datasets import Dataset
from multilevel.errors import ValidationFailed
from multilevel.validate.eurostat import validate_slice

DEMO = Dataset(code="demo_r_pjangrp3", split="age", nonnegative=True)


def frame(ages: list[str], times: list[str] | None = None) -> pd.DataFrame:
    times = times or ["2020"] * len(ages)
    return pd.DataFrame({
        "age": pd.Series(ages, dtype="str"), "geo": pd.Series(["DE"] * len(ages), dtype="str"),
        "time_period": pd.Series(times, dtype="str"), "value": [1.0] * len(ages),
        "flag": pd.Series([None] * len(ages), dtype="str"),
    })


def test_rows_of_the_slice_pass():
    df = frame(["Y10", "Y10"], ["2020", "2021"])
    assert validate_slice(df, DEMO, filters={"age": ["Y10"], "time": ["2020", "2021"]}) is df


def test_rows_of_other_split_codes_fail_and_are_shown():
    with pytest.raises(ValidationFailed) as info:
        validate_slice(frame(["Y10", "Y15", "Y20"]), DEMO, filters={"age": ["Y10"]})
    message = str(info.value)
    assert "rule slice_membership: 2 failing row(s) (the slice asked for age in Y10)" in message
    assert "Y15" in message and "Y20" in message and "what to do: the API answered rows outside" in message
    assert [f.rule for f in info.value.failures] == ["slice_membership"]


def test_rows_outside_a_time_filter_fail():
    with pytest.raises(ValidationFailed, match="slice_membership: 1 failing"):
        validate_slice(frame(["Y10", "Y10"], ["2020", "2019"]), DEMO, filters={"age": ["Y10"], "time": ["2020"]})


def test_a_body_without_the_split_dimension_fails():
    df = frame(["Y10"]).drop(columns="age")
    with pytest.raises(ValidationFailed, match="the body has no dimension age that the slice selects on"):
        validate_slice(df, DEMO, filters={"age": ["Y10"]})
