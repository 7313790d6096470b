"""Reading, validating and loading ESS files (the synthetic ESS9-shaped file in data/)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass

import pandas as pd
import pyreadstat
import pytest
from warehouses import KINDS, warehouse_url

from multilevel import paths
from multilevel.errors import ConfigError, InputFileError, ValidationFailed, WarehouseError
from multilevel.ess.config import load_round
from multilevel.ess.load import load_ess, load_staged, to_parquet
from multilevel.ess.reader import read_respondents
from multilevel.ess.validate import validate_respondents
from multilevel.settings import Settings
from multilevel.stage import open_store
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


def test_a_country_can_use_another_nuts_version_than_its_round():
    # config.yaml `countries:` (a country whose region variable uses another version, as the ESS appendix may say)
    text = "rounds:\n  9:\n    nuts_version: '2016'\n    countries: {IE: '2021', 'NO': '2024'}\n" \
        "    answers: {trstprl: [0, 10]}\n"
    config = load_round(9, text)
    assert (config.version_for("IE"), config.version_for("NO"), config.version_for("DE")) == ("2021", "2024", "2016")
    frame = validate_respondents(read_respondents(SYNTHETIC, config), config)
    versions = frame.groupby("cntry")["region_nuts_version"].unique().map(list).to_dict()
    assert versions["IE"] == ["2021"] and versions["NO"] == ["2024"] and versions["DE"] == ["2016"]
    # the flags follow each country's version: Norway's NUTS 2016 regions NO01, NO03-NO05 are no NUTS 2024 codes
    flagged = set(frame[frame["region_flag"].fillna("").str.contains("is not a NUTS 2024 code")]["region"])
    assert {"NO01", "NO03", "NO04", "NO05"} <= flagged and not any(r.startswith("IE") for r in flagged)
    for bad, message in (("{Norway: '2016'}", "two-letter"), ("{IE: '2019'}", "2013, 2016, 2021, 2024"),
                         ("{NO: '2024'}", "quote country codes")):
        body = text.replace("{IE: '2021', 'NO': '2024'}", bad)
        with pytest.raises(ConfigError, match=message):
            load_round(9, body)


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


@dataclass
class Loaded:
    """A warehouse of one kind after loading the synthetic file once (run r1), shared by the tests below."""

    kind: str
    settings: Settings
    rows: int
    state: list[tuple]  # every row of ess.respondents, as comparable tuples


def table_state(settings: Settings) -> list[tuple]:
    with connect(settings.warehouse_url) as wh:
        return sorted(
            tuple(None if v is None else str(v) for v in row)
            for row in wh.query("SELECT * FROM ess.respondents")
        )


@pytest.fixture(scope="module", params=KINDS)
def loaded(request, tmp_path_factory):
    """The ESS load on DuckDB, PostgreSQL and the Redshift client path (one load per kind and module)."""
    folder = tmp_path_factory.mktemp(f"ess-{request.param}")
    with warehouse_url(request.param, request, folder) as url:
        settings = Settings(_env_file=None, stage_url=str(folder / "stage"), warehouse_url=url)
        first = load_ess(str(SYNTHETIC), settings, essround=9, run_id="r1")
        yield Loaded(request.param, settings, first.rows, table_state(settings))


def test_load_is_idempotent_and_staged(loaded):
    settings = loaded.settings
    second = load_ess(str(SYNTHETIC), settings, essround=9, run_id="r2")
    assert loaded.rows == second.rows == 3000
    assert table_state(settings) == loaded.state  # the reload replaced the round by exactly the same rows
    with connect(settings.warehouse_url) as wh:
        assert wh.query("SELECT COUNT(*), COUNT(DISTINCT idno) FROM ess.respondents")[0][0] == 3000
        refusals = wh.query("SELECT COUNT(*) FROM ess.respondents WHERE trstprl_missing = 'b'")[0][0]
        # reference data came with the load, and the views wait for the Eurostat data (none here)
        assert wh.query("SELECT COUNT(*) FROM reference.ess_region_crosswalk")[0][0] > 8000
        assert not wh.relation_exists("analytics", "ess_regional_context")
    direct = read_respondents(SYNTHETIC, CONFIG)
    assert refusals == (direct["trstprl_missing"] == "b").sum()
    store = open_store(settings.stage_url)
    assert store.exists("ess/9/r2/manifest.json") and store.exists("ess/9/r2/respondents.parquet")


def test_same_rows_on_every_warehouse(loaded, frame):
    """What each warehouse holds is the validated frame itself (values, NULLs and missing reasons)."""
    expected = sorted(
        tuple(None if pd.isna(v) else str(v) for v in row)
        for row in frame[CONFIG.table_columns].itertuples(index=False)
    )
    with connect(loaded.settings.warehouse_url) as wh:
        assert wh.columns_of("ess", "respondents") == CONFIG.table_columns
        got = sorted(
            tuple(None if v is None else str(v) for v in row)
            for row in wh.query_df(f"SELECT {', '.join(CONFIG.table_columns)} FROM ess.respondents")
            .astype(object)
            .itertuples(index=False)
        )
    assert len(got) == len(expected) == 3000
    assert [normalise(r) for r in got] == [normalise(r) for r in expected]


def normalise(row: tuple) -> tuple:
    """Drivers print numbers differently (1 vs 1.0); compare numbers as floats, text as text."""

    def one(v):
        if v is None or v in ("nan", "<NA>", "None"):
            return None
        try:
            return float(v)
        except ValueError:
            return v

    return tuple(one(v) for v in row)


@pytest.mark.parametrize("kind", ["not_stata", "truncated", "wrong_columns", "wrong_round"])
def test_wrong_file_is_a_clear_error_and_changes_nothing(loaded, tmp_path, kind):
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
        load_ess(str(bad), loaded.settings, essround=essround, run_id=f"bad-{kind}")
    assert "bad.dta" in str(info.value)
    assert table_state(loaded.settings) == loaded.state


def test_failure_inside_the_load_transaction_changes_nothing(loaded, frame):
    """A staged file that holds fewer rows than its manifest promises fails after the round was deleted and the
    rows copied, inside the transaction: the warehouse must roll back to the loaded round."""
    store = open_store(loaded.settings.stage_url)
    prefix = "ess/9/short"
    if not store.exists(f"{prefix}/manifest.json"):  # staged once per warehouse kind (staged files are immutable)
        digest = store.put_immutable(f"{prefix}/respondents.parquet", to_parquet(frame.head(10)))
        manifest = {"essround": 9, "run_id": "short", "rows": len(frame), "sha256": digest}
        store.put_immutable(f"{prefix}/manifest.json", json.dumps(manifest).encode())
    with connect(loaded.settings.warehouse_url) as wh:
        with pytest.raises(WarehouseError, match="10 rows after load, manifest says 3000"):
            load_staged(wh, store, f"{prefix}/respondents.parquet", CONFIG)
    assert table_state(loaded.settings) == loaded.state
