"""Frozen snapshots and the analyst export, on DuckDB with the stand-in Eurostat data and the synthetic ESS9 file."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))
import standin_eurostat  # noqa: E402

from multilevel import paths  # noqa: E402
from multilevel.cli import main  # noqa: E402
from multilevel.context.export import METHOD_CODES, round_frame, write_export  # noqa: E402
from multilevel.context.snapshot import create_snapshot, snapshot_regions  # noqa: E402
from multilevel.errors import ConfigError  # noqa: E402
from multilevel.ess.load import load_ess  # noqa: E402
from multilevel.settings import Settings  # noqa: E402
from multilevel.warehouse import connect  # noqa: E402


@pytest.fixture(scope="module")
def revised(tmp_path_factory):
    """A warehouse with the stand-in data, the ESS9 file, then a revision; returns (url, a time before it)."""
    folder = tmp_path_factory.mktemp("snap")
    url = f"duckdb:///{folder / 'w.duckdb'}"
    with connect(url) as wh:
        standin_eurostat.create(wh, folder / "es1", run_id="first")
    load_ess(str(paths.DATA_DIR / "ess9_synthetic.dta"),
             Settings(_env_file=None, stage_url=str(folder / "stage"), warehouse_url=url))
    time.sleep(0.01)
    before = datetime.now(UTC).replace(tzinfo=None)
    time.sleep(0.01)
    with connect(url) as wh:
        standin_eurostat.create(wh, folder / "es2", run_id="second", revised=True)
    return url, before


def test_snapshot_freezes_the_context_as_of_a_time(revised):
    url, before = revised
    with connect(url) as wh:
        frozen = create_snapshot(wh, "ess9-before", before)
        latest = create_snapshot(wh, "ess9-latest")
        again = snapshot_regions(wh, "ess9-before")
        with pytest.raises(ConfigError, match="exists already"):
            create_snapshot(wh, "ess9-before")
        with pytest.raises(ConfigError, match="no context snapshot named nope"):
            snapshot_regions(wh, "nope")
    key = ["cntry", "region"]
    pd.testing.assert_frame_equal(frozen.sort_values(key).reset_index(drop=True),
                                  again.sort_values(key).reset_index(drop=True), check_dtype=False)
    no01 = {name: f.set_index("region").loc["NO01", "population"] for name, f in (("then", frozen), ("now", latest))}
    assert no01["now"] > no01["then"]  # NO081 was revised up after `before`
    assert frozen.set_index("region").loc["NO03", "population"] == latest.set_index("region").loc["NO03",
                                                                                                  "population"]


def test_export_round_trips_through_pyreadstat_with_labels(revised, tmp_path):
    url, _ = revised
    with connect(url) as wh:
        frame = round_frame(wh, 9)
    assert len(frame) == 3000 and frame["median_age"].notna().sum() == 3000 - frame["median_age"].isna().sum()
    for col in ("trstprl", "trstprl_missing", "anweight", "pspwght", "psu", "stratum", "median_age",
                "median_age_method", "reference_date", "method"):
        assert col in frame.columns, col
    dta = write_export(frame, "dta", tmp_path / "ess9.dta")
    back, meta = pyreadstat.read_dta(str(dta))
    assert len(back) == 3000 and list(back.columns) == list(frame.columns)
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["median_age"] == "Median age of population (years)"
    assert labels["anweight"] == "Analysis weight"
    assert labels["trstprl"] == "Trust in country's parliament"  # the ESS file's own label, kept by the load
    assert meta.variable_value_labels["trstprl"][10.0] == "Complete trust"
    assert meta.variable_value_labels["median_age_method"] == {float(v): k for k, v in METHOD_CODES.items()}
    by_id = back.set_index(["cntry", "idno"])
    expected = frame.set_index(["cntry", "idno"])
    no = expected.index[expected["region"] == "NO03"][0]
    assert by_id.loc[no, "median_age"] == pytest.approx(expected.loc[no, "median_age"], rel=1e-12)
    assert by_id.loc[no, "median_age_method"] == METHOD_CODES["reconstructed"]
    reason = expected.loc[no, "trstprl_missing"]
    assert by_id.loc[no, "trstprl_missing"] == ("" if pd.isna(reason) else reason)

    parquet = write_export(frame, "parquet", tmp_path / "ess9.parquet")
    table = pq.read_table(parquet)
    assert table.num_rows == 3000
    assert json.loads(table.schema.metadata[b"multilevel.labels"])["coverage"].startswith("Share of the region")
    csv = write_export(frame, "csv", tmp_path / "ess9.csv")
    assert len(pd.read_csv(csv)) == 3000


def test_cli_snapshot_and_export(revised, tmp_path, monkeypatch):
    url, before = revised
    monkeypatch.setenv("MULTILEVEL_WAREHOUSE_URL", url)
    runner = CliRunner()
    done = runner.invoke(main, ["context", "snapshot", "--name", "cli-snap", "--as-of", before.isoformat() + "Z"])
    assert done.exit_code == 0, done.output
    out = tmp_path / "e.parquet"
    done = runner.invoke(main, ["export", "--round", "9", "--format", "parquet", "--snapshot", "cli-snap",
                                "--out", str(out)])
    assert done.exit_code == 0, done.output
    exported = pd.read_parquet(out)
    with connect(url) as wh:
        frozen = snapshot_regions(wh, "cli-snap").set_index("region")
    no01 = exported[exported["region"] == "NO01"]["population"]
    assert (no01 == frozen.loc["NO01", "population"]).all()
    bad = runner.invoke(main, ["export", "--round", "8"])
    assert bad.exit_code == 1 and "ESS round 8 is not loaded" in bad.output
    # a time before any Eurostat load: every respondent without context, said on stderr (not an error)
    early = runner.invoke(main, ["export", "--round", "9", "--format", "csv", "--as-of", "2000-01-01T00:00:00Z",
                                 "--out", str(tmp_path / "early.csv")])
    assert early.exit_code == 0 and "no respondent has regional context as of 2000-01-01" in early.output
    assert (pd.read_csv(tmp_path / "early.csv")["method"] == "none").all()
    assert "no respondent has regional context" not in done.output
