"""The NUTS reference CSVs: regenerated from vendor/nuts, facts of the crosswalk, loading into the warehouse."""

from __future__ import annotations

import csv
import importlib.util

import pytest
from warehouses import KINDS, warehouse_url

from multilevel import paths
from multilevel.reference import load_reference
from multilevel.warehouse import connect

REFERENCE = paths.DATA_DIR / "reference"
VENDORED = paths.ROOT / "vendor" / "nuts"


def build_module():
    spec = importlib.util.spec_from_file_location("build_nuts_reference", paths.DATA_DIR / "build_nuts_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHIPPED = ("nuts_codes.csv", "nuts_changes.csv", "nuts_version_years.csv", "ess_region_crosswalk.csv")


def test_regenerated_csvs_equal_the_shipped_ones(tmp_path):
    """`make reference` from the vendored material reproduces data/reference/ byte for byte."""
    build_module().build(VENDORED, tmp_path)
    for name in SHIPPED:
        rebuilt, shipped = (tmp_path / name).read_bytes(), (REFERENCE / name).read_bytes()
        assert rebuilt.count(b"\n") > 1, f"{name}: the rebuild wrote no rows"
        assert rebuilt == shipped, f"{name} differs from a rebuild: run `make reference` and review the diff"


def test_rebuild_follows_the_vendored_input(tmp_path):
    """The comparison above has teeth: a changed input (one region renamed) changes the rebuilt tables."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "nuts_changes.csv").write_bytes((VENDORED / "nuts_changes.csv").read_bytes())
    codes = (VENDORED / "nuts_codes.csv").read_text(encoding="utf-8")
    assert "2016,UKI,UK,1,LONDON," in codes
    (source / "nuts_codes.csv").write_text(codes.replace("2016,UKI,UK,1,LONDON,", "2016,UKI,UK,1,LONDRES,"), "utf-8")
    build_module().build(source, tmp_path / "out")
    rebuilt = (tmp_path / "out" / "nuts_codes.csv").read_text(encoding="utf-8")
    assert "2016,UKI,UK,1,LONDRES,NUTS" in rebuilt
    assert rebuilt != (REFERENCE / "nuts_codes.csv").read_text(encoding="utf-8")


def crosswalk(code: str, version: str) -> set[tuple[str, str]]:
    with open(REFERENCE / "ess_region_crosswalk.csv", newline="", encoding="utf-8") as f:
        return {
            (r["target_code"], r["relation"])
            for r in csv.DictReader(f)
            if r["source_code"] == code and r["target_version"] == version
        }


@pytest.mark.parametrize(
    "code,version,expected",
    [
        ("AT13", "2021", {("AT13", "same")}),
        ("IE042", "2013", {("IE013", "recoded")}),
        ("IE041", "2013", {("IE011", "merged")}),  # IE011 of 2013 = IE041 + part of IE062 (JRC pieces)
        ("IE04", "2013", {("IE01", "merged")}),
        ("UKM7", "2013", {("UKM2", "merged")}),
        ("FRC", "2013", {("FR26", "split"), ("FR43", "split")}),
        ("LT02", "2013", {("LT00", "merged")}),
        ("NO02", "2021", {("NO02", "renamed")}),
        ("NO05", "2021", {("NO0A", "merged")}),  # containment learnt from the JRC pieces
        ("NO01", "2021", {("NO08", "merged")}),
        ("NO01", "2013", {("", "not_in_version")}),
        ("UKC", "2024", {("", "not_in_version")}),
    ],
)
def test_crosswalk_relations(code, version, expected):
    assert crosswalk(code, version) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_load_reference_replaces_rows(request, tmp_path, kind):
    with warehouse_url(kind, request, tmp_path) as url, connect(url) as wh:
        first = load_reference(wh)
        second = load_reference(wh)
        assert first == second
        for table, count in first.items():
            assert wh.query(f"SELECT COUNT(*) FROM reference.{table}")[0][0] == count, table
        assert wh.query(
            "SELECT country, level, name, kind FROM reference.nuts_codes WHERE nuts_version = '2016' AND code = 'UKI'"
        ) == [("UK", 1, "LONDON", "NUTS")]
        assert wh.query(
            "SELECT target_code, relation FROM reference.ess_region_crosswalk "
            "WHERE source_code = 'IE042' AND target_version = '2013'"
        ) == [("IE013", "recoded")]
        assert wh.query("SELECT COUNT(*) FROM reference.ess_region_crosswalk")[0][0] == first["ess_region_crosswalk"]
        assert wh.query("SELECT nuts_version FROM reference.nuts_version_years WHERE 2019 BETWEEN first_year AND "
                        "last_year")[0][0] == "2016"


def jrc_module():
    spec = importlib.util.spec_from_file_location("build_jrc_reference", paths.DATA_DIR / "build_jrc_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nuts3_pieces_are_what_the_script_makes_from_the_vendored_jrc_matrices(tmp_path):
    module = jrc_module()
    rows = module.build(REFERENCE / "jrc_converter", tmp_path / "nuts3_pieces.csv")
    assert (tmp_path / "nuts3_pieces.csv").read_bytes() == (REFERENCE / "nuts3_pieces.csv").read_bytes()
    assert rows == 8108
    vendored = sorted(p.name for p in (REFERENCE / "jrc_converter").glob("*.csv"))
    assert vendored == sorted(module.file_name(a, b) for a, b in module.PAIRS)
    manifest = (REFERENCE / "jrc_converter" / "MANIFEST.md").read_text()
    assert "Joint Research Centre" in manifest and "doi:10.5281/zenodo.10573056" in manifest and "MIT" in manifest
