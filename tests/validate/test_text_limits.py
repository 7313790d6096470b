"""The text limits validation checks are the column sizes the warehouse DDL declares (every dialect)."""

from __future__ import annotations

import json
import re

import pytest

from multilevel import paths
from multilevel.textlimits import (
    ESS_LABEL_BYTES,
    ESS_TEXT_BYTES,
    ESS_VALUE_LABELS_BYTES,
    ESS_VARIABLE_BYTES,
    MAX_CODE_BYTES,
    MAX_FLAG_BYTES,
    MAX_LABEL_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_TIME_BYTES,
    MAX_UPDATE_BYTES,
    fit_text,
    fit_value_labels,
)
from multilevel.warehouse.history import _fragments

EXPECTED = {
    "time_period": MAX_TIME_BYTES, "flag": MAX_FLAG_BYTES, "source_updated": MAX_UPDATE_BYTES,
    "update_data": MAX_UPDATE_BYTES, "update_structure": MAX_UPDATE_BYTES, "code": MAX_CODE_BYTES,
    "dimension": MAX_CODE_BYTES, "label": MAX_LABEL_BYTES, "message": MAX_MESSAGE_BYTES,
}
FILES = sorted(p for p in paths.SQL_DIR.rglob("*.sql") if "eurostat" in p.parts and p.parent.name == "eurostat")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(paths.SQL_DIR)))
def test_the_ddl_declares_the_limits_validation_checks(path):
    found = re.findall(r"^\s*([a-z_]+)\s+VARCHAR\((\d+)\)", path.read_text(), re.M)
    for column, size in found:
        if column in EXPECTED:
            assert int(size) == EXPECTED[column], f"{path}: {column} VARCHAR({size}), not {EXPECTED[column]}"


def test_dimension_columns_use_the_code_limit():
    assert f"VARCHAR({MAX_CODE_BYTES}) NOT NULL" in _fragments("d", ["geo"])["dimension_columns"]


def test_fit_text_cuts_at_a_character_boundary():
    assert fit_text("abc", 8) == "abc"
    cut = fit_text("é" * 10, 8)
    assert cut == "éé..." and len(cut.encode()) <= 8


def test_rows_with_codes_periods_or_flags_too_long_fail_rule_text_length():
    import pandas as pd

    from multilevel.datasets import Dataset
    from multilevel.errors import ValidationFailed
    from multilevel.validate.eurostat import validate_slice

    frame = pd.DataFrame({
        "unit": pd.Series(["NR", "N" * 65, "NR"], dtype="str"), "geo": pd.Series(["DE"] * 3, dtype="str"),
        "time_period": pd.Series(["2020"] * 3, dtype="str"), "value": [1.0, 2.0, 3.0],
        "flag": pd.Series([None, None, None], dtype="str"),
    })
    with pytest.raises(ValidationFailed, match=r"rule text_length: 1 failing row\(s\) \(unit over 64 bytes\)"):
        validate_slice(frame, Dataset(code="d", split="unit"))
    frame.loc[1, "unit"] = "é" * 33  # 33 characters but 66 bytes: Redshift would refuse it
    with pytest.raises(ValidationFailed, match="unit over 64 bytes"):
        validate_slice(frame, Dataset(code="d", split="unit"))


ESS_EXPECTED = {**ESS_TEXT_BYTES, "variable": ESS_VARIABLE_BYTES, "label": ESS_LABEL_BYTES,
                "value_labels": ESS_VALUE_LABELS_BYTES}


@pytest.mark.parametrize("name", ["respondents.sql", "variable_labels.sql"])
def test_the_ess_ddl_declares_the_limits_validation_checks(name):
    found = dict(re.findall(r"^\s*([a-z_]+)\s+VARCHAR\((\d+)\)", (paths.SQL_DIR / "ess" / name).read_text(), re.M))
    checked = {column: int(size) for column, size in found.items() if column in ESS_EXPECTED}
    assert checked and all(ESS_EXPECTED[column] == size for column, size in checked.items()), checked
    assert set(found) - set(ESS_EXPECTED) <= {"region_nuts_version", "inwyys_missing"}  # ours, fixed width


def test_value_labels_too_long_stay_valid_json_with_every_code():
    values = {str(i): "Партия " * 100 for i in range(20)}  # 20 labels of 700 characters (1300 bytes each)
    text, cut = fit_value_labels(values, 2000)
    assert cut and len(text.encode()) <= 2000
    stored = json.loads(text)
    assert list(stored) == list(values) and all(v.endswith("...") and values["0"].startswith(v[:-3])
                                                for v in stored.values())
    assert fit_value_labels({"1": "yes", "2": "no"}, 2000) == ('{"1": "yes", "2": "no"}', False)
    text, cut = fit_value_labels({str(i): "x" for i in range(1000)}, 100)  # not even "..." fits for every code
    assert cut and len(text.encode()) <= 100 and json.loads(text)
