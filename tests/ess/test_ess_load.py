"""Reading, validating and loading ESS files (the synthetic ESS9-shaped file in data/)."""

from __future__ import annotations

import hashlib
import shutil

import pandas as pd
import pyreadstat
import pytest

from multilevel import paths
from multilevel.errors import InputFileError, ValidationFailed
from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess
from multilevel.ess.reader import read_respondents
from multilevel.validate.ess import validate_respondents
from multilevel.warehouse import connect

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"
CONFIG = load_round(9)


@pytest.fixture(scope="module")
def frame():
    return validate_respondents(read_respondents(SYNTHETIC, CONFIG), CONFIG)


def content_digest(path) -> str:
    """Checksum of what a .dta holds (values, labels, types), not of its bytes: headers carry time stamps."""
    data, meta = pyreadstat.read_dta(str(path), encoding="latin1", user_missing=True)
    digest = hashlib.sha256(pd.util.hash_pandas_object(data.astype(str), index=False).values.tobytes())
    digest.update(repr((meta.column_names, meta.column_labels, meta.readstat_variable_types,
                        meta.variable_value_labels, meta.missing_user_values)).encode())
    return digest.hexdigest()


def test_generator_is_deterministic_and_matches_the_shipped_file(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_synthetic_ess", paths.DATA_DIR / "make_synthetic_ess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = module.make(tmp_path / "again.dta")
    assert content_digest(fresh) == content_digest(SYNTHETIC)
    assert fresh.stat().st_size < 5_000_000


def test_file_has_the_real_structure():
    _, meta = pyreadstat.read_dta(str(SYNTHETIC), metadataonly=True, encoding="latin1")
    assert meta.number_columns == 572
    types = meta.readstat_variable_types
    assert types["trstprl"] == "int8" and types["nwspol"] == "int16" and types["idno"] == "int32"
    assert types["anweight"] == "double" and types["region"] == "string"
    assert meta.variable_value_labels["trstprl"]["b"] == "Refusal"
    with pytest.raises(pyreadstat.ReadstatError, match="encoding"):  # like the real file: latin-1 needed
        pyreadstat.read_dta(str(SYNTHETIC), metadataonly=True)


def test_answers_are_small_ints_with_every_missing_reason(frame):
    assert str(frame["trstprl"].dtype) == "Int16"
    assert set(frame["trstprl_missing"].dropna()) == {"b", "c", "d"}
    assert set(frame["netustm_missing"].dropna()) == {"a", "b", "c", "d"}
    assert (frame["trstprl"].isna() == frame["trstprl_missing"].notna()).all()
    assert frame["trstprl"].max() <= 10  # no sentinel such as 77 or 88 in the value column
    # Not applicable exactly where the routing says so (never uses the internet).
    assert (frame.loc[frame["netusoft"] == 1, "netustm_missing"] == "a").all()


def test_every_nuts_level_and_flags(frame):
    assert set(frame["regunit"]) == {1, 2, 3}
    flagged = frame[frame["region_flag"].notna()]
    assert set(flagged["region"]) == {"AT99", "PL9Z"}


def test_validation_rejects_a_sentinel_and_nonpositive_weight(frame):
    bad = frame.copy()
    bad.loc[bad.index[0], "trstprl"] = 77
    bad.loc[bad.index[1], "anweight"] = 0.0
    with pytest.raises(ValidationFailed, match="trstprl") as info:
        validate_respondents(bad, CONFIG)
    assert "anweight" in str(info.value)


def test_validation_rejects_duplicate_keys(frame):
    with pytest.raises(ValidationFailed):
        validate_respondents(pd.concat([frame, frame.head(1)]), CONFIG)


def test_load_is_idempotent_and_staged(settings):
    first = load_ess(str(SYNTHETIC), settings, essround=9, run_id="r1")
    second = load_ess(str(SYNTHETIC), settings, essround=9, run_id="r2")
    assert first.rows == second.rows == 3000
    with connect(settings.warehouse_url) as wh:
        assert wh.query("SELECT COUNT(*), COUNT(DISTINCT idno) FROM ess.respondents")[0][0] == 3000
        refusals = wh.query("SELECT COUNT(*) FROM ess.respondents WHERE trstprl_missing = 'b'")[0][0]
    direct = read_respondents(SYNTHETIC, CONFIG)
    assert refusals == (direct["trstprl_missing"] == "b").sum()
    from multilevel.stage import open_store

    store = open_store(settings.stage_url)
    assert store.exists("ess/9/r2/manifest.json") and store.exists("ess/9/r2/respondents.parquet")


def _count(settings):
    with connect(settings.warehouse_url) as wh:
        return wh.query("SELECT COUNT(*) FROM ess.respondents")[0][0]


@pytest.mark.parametrize("kind", ["not_stata", "truncated", "wrong_columns", "wrong_round"])
def test_wrong_file_is_a_clear_error_and_changes_nothing(settings, tmp_path, kind):
    load_ess(str(SYNTHETIC), settings, run_id="good")
    bad = tmp_path / "bad.dta"
    essround = 9
    if kind == "not_stata":
        bad.write_text("cntry,idno\nAT,1\n")
    elif kind == "truncated":
        bad.write_bytes(SYNTHETIC.read_bytes()[: SYNTHETIC.stat().st_size // 2])
    elif kind == "wrong_columns":
        pyreadstat.write_dta(pd.DataFrame({"essround": [9], "cntry": ["AT"], "idno": [1]}), str(bad), version=12)
    else:
        shutil.copy(SYNTHETIC, bad)
        essround = 10
    with pytest.raises(InputFileError) as info:
        load_ess(str(bad), settings, essround=essround, run_id="bad")
    assert "bad.dta" in str(info.value)
    assert _count(settings) == 3000
