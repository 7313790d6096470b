"""Pieces of the context build that need no warehouse: the configuration, the median estimate, code versions."""

from __future__ import annotations

import pandas as pd
import pytest

from multilevel import paths
from multilevel.context.build import interpolated_median, reference_date
from multilevel.context.config import age_bounds, load_context_config
from multilevel.context.territory import Territory, version_in_label
from multilevel.errors import ConfigError


def test_shipped_configuration_has_the_four_indicators_and_broad_age_groups():
    config = load_context_config()
    for name in ("median_age", "old_age_dependency", "share_aged_65_plus", "population", "population_0_14",
                 "population_15_64", "population_65_plus", "population_male", "population_female"):
        assert name in config.indicators
    assert (config.weight, config.min_coverage) == ("pop21", 0.95)


@pytest.mark.parametrize(
    "text,message",
    [
        ("indicators: {x: {dataset: d, kind: mean}}", "kind must be one of"),
        ("indicators: {x: {dataset: d, kind: ratio, numerator: a, denominator: b}}", "must name count indicators"),
        ("indicators: {x: {dataset: d, kind: median_age}}", "needs groups"),
        ("weight: people\nindicators: {x: {dataset: d, kind: count}}", "weight must be one of"),
        ("reference_dates: {9: {'NO': soon}}\nindicators: {x: {dataset: d, kind: count}}", "is not YYYY-MM-DD"),
        ("reference_dates: {9: {NO: '2019-01-01'}}\nindicators: {x: {dataset: d, kind: count}}", "quote it, 'NO'"),
    ],
)
def test_bad_configuration_is_named(text, message):
    with pytest.raises(ConfigError, match=message):
        load_context_config(text)


def test_one_entry_adds_an_indicator():
    text = "indicators: {women: {dataset: demo_r_pjangrp3, filters: {sex: F, age: TOTAL, unit: NR}, kind: count}}"
    assert load_context_config(text).names == ["women"]


def test_a_context_file_outside_the_package_replaces_the_shipped_one(tmp_path, monkeypatch):
    # MULTILEVEL_CONTEXT_FILE: add a variable or override a reference date without editing the installed package
    shipped = (paths.ROOT / "src" / "multilevel" / "context" / "indicators.yaml").read_text()
    mine = tmp_path / "context.yaml"
    mine.write_text(shipped.replace("reference_dates: {}", "reference_dates: {9: {'NO': '2018-01-01'}}")
                    + "  women:\n    label: Women\n    dataset: demo_r_pjangrp3\n"
                    "    filters: {freq: A, unit: NR, sex: F, age: TOTAL}\n    kind: count\n")
    monkeypatch.setenv("MULTILEVEL_CONTEXT_FILE", str(mine))
    config = load_context_config()
    assert config.names[-1] == "women" and config.reference_dates == {(9, "NO"): pd.Timestamp("2018-01-01").date()}
    monkeypatch.setenv("MULTILEVEL_CONTEXT_FILE", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="MULTILEVEL_CONTEXT_FILE=.*missing.yaml cannot be read"):
        load_context_config()


def test_median_by_linear_interpolation_in_age_groups():
    # 100 people: 40 aged 0-4, 40 aged 5-9, 20 aged 10+ -> the 50th person is a quarter into 5-9: 5 + 10/40 * 5
    groups = [(*age_bounds("Y_LT5"), 40.0), (*age_bounds("Y5-9"), 40.0), (*age_bounds("Y_GE10"), 20.0)]
    assert interpolated_median(groups) == pytest.approx(6.25, abs=1e-12)
    assert age_bounds("Y_GE85") == (85.0, None)


def test_reference_date_is_the_first_of_january_closest_to_the_median_interview():
    # Norway ESS9: October 2018 - May 2019, median in January 2019
    years = pd.Series([2018, 2018, 2018, 2019, 2019, 2019, 2019])
    months = pd.Series([10, 11, 12, 1, 2, 4, 5])
    assert str(reference_date(years, months, pd.Series([1] * 7))) == "2019-01-01"
    # mostly May-June 2019: closer to 1 January 2019 than 2020; mostly September: 1 January 2020
    assert str(reference_date(pd.Series([2019]), pd.Series([5]), pd.Series([3]))) == "2019-01-01"
    assert str(reference_date(pd.Series([2019]), pd.Series([9]), pd.Series([3]))) == "2020-01-01"


@pytest.fixture(scope="module")
def territory():
    codes = pd.read_csv(paths.DATA_DIR / "reference" / "nuts_codes.csv", dtype=str).astype({"level": int})
    pieces = pd.read_csv(paths.DATA_DIR / "reference" / "nuts3_pieces.csv", dtype={"from_version": str,
                                                                                   "to_version": str})
    return Territory(codes, pieces)


def test_labels_name_older_versions():
    assert version_in_label("Hedmark og Oppland (NUTS 2016)") == "2016"
    assert version_in_label("Jadranska Hrvatska (statistical region 2016)") == "2016"
    assert version_in_label("Innlandet") is None


def test_version_comes_from_the_code_and_its_label(territory):
    # AT13 is one territory in every version; NO01 exists only in NUTS 2016
    assert territory.versions_of("AT13") == {"2013", "2016", "2021", "2024"}
    assert territory.versions_of("NO01") == {"2016"}
    # NO02 lost Jevnaker and Lunner in 2020: the bare code is the newest territory, a "(NUTS 2016)" label the old one
    assert territory.versions_of("NO02") == {"2021", "2024"} or territory.versions_of("NO02") == {"2024"}
    assert territory.versions_of("NO02", "Hedmark og Oppland (NUTS 2016)") == {"2016"}


def test_containment_from_the_jrc_pieces(territory):
    assert territory.contains("2016", "NO01", "2024", "NO08")
    assert not territory.same_region("2016", "NO01", "2024", "NO08")
    assert territory.contains("2016", "NO05", "2021", "NO0A")
    assert not territory.contains("2016", "NO03", "2024", "NO08")  # split between NO08 and NO09
