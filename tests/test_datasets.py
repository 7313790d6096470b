"""The dataset configuration: packaged entries, one-entry additions, clear errors."""

import pytest

from multilevel.datasets import get_dataset, load_datasets
from multilevel.errors import ConfigError


def test_packaged_configuration_lists_both_seed_datasets_with_their_split_dimension():
    datasets = {d.code: d for d in load_datasets()}
    assert datasets["demo_r_pjangrp3"].split == "age"
    assert datasets["demo_r_pjanind3"].split == "indic_de"
    assert all(d.schedule for d in datasets.values())


def test_adding_a_dataset_is_one_entry(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text(
        "datasets:\n  - code: NAMA_10R_3GDP\n    split: unit\n    filters: {freq: [A]}\n    schedule: '0 12 * * 1'\n"
    )
    (dataset,) = load_datasets(path)
    assert (dataset.code, dataset.split, dataset.filters, dataset.schedule) == (
        "nama_10r_3gdp", "unit", {"freq": ["A"]}, ["0 12 * * 1"])


@pytest.mark.parametrize("text, fragment", [
    ("datasets:\n  - code: 'demo; drop table x'\n    split: age\n", "not a safe identifier"),
    ("datasets:\n  - code: a\n    split: age\n  - code: a\n    split: age\n", "twice"),
    ("datasets:\n  - split: age\n", "invalid"),
])
def test_bad_configuration_is_a_clear_error(tmp_path, text, fragment):
    path = tmp_path / "datasets.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_datasets(path)


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ConfigError, match="demo_r_pjangrp3"):
        get_dataset("nope")
