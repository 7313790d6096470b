"""The dataset configuration: packaged entries, one-entry additions, clear errors."""

from pathlib import Path

import pytest

import multilevel
from multilevel.datasets import get_dataset, load_datasets
from multilevel.errors import ConfigError
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.standin import StandIn
from multilevel.warehouse import connect

PACKAGED = Path(multilevel.__file__).parent / "datasets.yaml"


def test_packaged_configuration_lists_both_seed_datasets_with_their_split_dimension():
    datasets = {d.code: d for d in load_datasets()}
    assert datasets["demo_r_pjangrp3"].split == "age"
    assert datasets["demo_r_pjanind3"].split == "indic_de"
    assert all(d.schedule for d in datasets.values())


def test_an_entry_reads_as_written(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text(
        "datasets:\n  - code: NAMA_10R_3GDP\n    split: unit\n    filters: {freq: [A]}\n    schedule: '0 12 * * 1'\n"
    )
    (dataset,) = load_datasets(path)
    assert (dataset.code, dataset.split, dataset.filters, dataset.schedule) == (
        "nama_10r_3gdp", "unit", {"freq": ["A"]}, ["0 12 * * 1"])


def test_adding_a_dataset_is_one_entry(settings, tmp_path):
    """One entry appended to the packaged configuration, and the next harvest fetches and loads that dataset."""
    with StandIn(size="small", catalogue=1) as server:
        spec = next(iter(server.regional.values()))  # a regional dataset the packaged configuration does not list
        assert spec.code not in {d.code for d in load_datasets()}
        path = tmp_path / "datasets.yaml"
        path.write_text(PACKAGED.read_text() + f"  - code: {spec.code}\n    split: {spec.dim}\n")
        settings.datasets_file, settings.eurostat_url = path, server.url
        result = harvest_dataset(settings, spec.code)
    assert result.status == "loaded" and result.load.rows_inserted > 0
    with connect(settings.warehouse_url) as wh:
        assert wh.query(f"SELECT COUNT(*) FROM eurostat.{spec.code}")[0][0] == result.load.rows_inserted
        split_codes = {row[0] for row in wh.query(f"SELECT DISTINCT {spec.dim} FROM eurostat.{spec.code}")}
    assert len(split_codes) == spec.indicators  # one slice per code of the split dimension, all loaded


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


# --- strict validation: every mistake names the file, the entry and the key ----------------------------------------
ENTRY = "datasets:\n  - code: demo_r_pjangrp3\n    split: age\n"


@pytest.mark.parametrize("extra, fragments", [
    ("    nonegative: true\n", ["entry 1 (demo_r_pjangrp3)", "unknown key 'nonegative'", "did you mean 'nonnegative'"]),
    ("    nonnegative: 'yes'\n", ["entry 1 (demo_r_pjangrp3)", "key 'nonnegative'", "valid boolean"]),
    ("    filters: [age]\n", ["key 'filters'", "valid dictionary"]),
    ("    filters: {age: Y10}\n", ["key 'filters.age'", "valid list"]),
    ("    filters: {age: []}\n", ["key 'filters'", "lists no codes"]),
    ("    description: 12\n", ["key 'description'", "valid string"]),
    ("    schedule: '30 11 * *'\n", ["key 'schedule'", "has 4 fields; it needs 5"]),
    ("    schedule: ['30 25 * * *']\n", ["key 'schedule'", "hour '25' is not a number from 0 to 23"]),
    ("    schedule: ['*/0 * * * *']\n", ["minute step '0' must be a positive number"]),
    ("    schedule: ['0 12 * * MON-XYZ']\n", ["day of week 'XYZ'"]),
    ("    schedule: []\n", ["key 'schedule'", "at least 1 item"]),
    ("    split: geo\n", ["key 'split' appears twice"]),
])
def test_every_mistake_in_an_entry_names_file_entry_and_key(tmp_path, extra, fragments):
    path = tmp_path / "datasets.yaml"
    path.write_text(ENTRY + extra)
    with pytest.raises(ConfigError) as info:
        load_datasets(path)
    assert str(path) in str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("data, fragment", [
    (b"", "is empty"),
    (b"   \n# only a comment\n", "is empty"),
    (b"\xff\xfe d\x00a\x00", "is not UTF-8 text (byte 0, line 1)"),
    (ENTRY.replace("age", "\xe2ge").encode("latin-1"), "is not UTF-8 text"),
    (b"- code: x\n", "must be a mapping with a `datasets:` list, not a list"),
    (b"datasets: []\n", "lists no dataset"),  # and no selections either
    (b"dataset:\n  - code: x\n    split: age\n", "unknown key 'dataset' (did you mean 'datasets'?)"),
    (b"datasets:\n  - code: a\n    split: age\n  - code: [b\n", "is not valid YAML"),
    (b"datasets:\n  - demo_r_pjangrp3\n", "entry 1 must be a mapping of keys (code, split"),
])
def test_bad_files_are_clear_errors(tmp_path, data, fragment):
    path = tmp_path / "datasets.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_datasets(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("schedule", ["0 12 * * 1", "*/15 6-18 1,15 JAN-MAR,DEC MON-FRI", "0 0 ? * SUN", "@daily",
                                      "@every 6h", "5 4 * * 7"])
def test_valid_cron_schedules_pass(tmp_path, schedule):
    path = tmp_path / "datasets.yaml"
    path.write_text(ENTRY + f"    schedule: '{schedule}'\n")
    assert load_datasets(path)[0].schedule == [schedule]


def test_numeric_filter_codes_are_read_as_text_and_the_packaged_file_is_strictly_valid(tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text(ENTRY + "    filters: {time: [2020, 2021]}\n")
    assert load_datasets(path)[0].filters == {"time": ["2020", "2021"]}
    assert load_datasets()  # the shipped configuration passes the strict schema
