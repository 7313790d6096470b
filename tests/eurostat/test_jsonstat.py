"""Tests of the JSON-stat 2.0 parser: real Eurostat samples (against pyjstat) and hand-made cases."""

from __future__ import annotations

import gzip
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multilevel.errors import ParseError
from multilevel.eurostat.jsonstat import parse_jsonstat

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "jsonstat"
# Real API answers, copied into the repository with their source (tests/fixtures/eurostat/README.md).
SAMPLE_DIRS = [ROOT / "tests" / "fixtures" / "eurostat"]
HC8 = "statsapi_jsonstat_hlth_ehis_hc8_full.json"


def real_samples() -> list[Path]:
    """Every Statistics API JSON-stat sample in tests/fixtures/eurostat (by name)."""
    found: dict[str, Path] = {}
    for folder in SAMPLE_DIRS:
        for path in sorted(folder.glob("statsapi_jsonstat_*.json")):
            found.setdefault(path.name, path)
    return list(found.values())


SAMPLES = real_samples()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def rows(frame: pd.DataFrame) -> list[tuple]:
    """Rows as plain tuples with None for a missing value or flag, for exact comparison."""
    out = []
    for rec in frame.itertuples(index=False):
        out.append(tuple(None if (isinstance(v, float) and math.isnan(v)) else v for v in rec))
    return out


def pyjstat_frame(text: str, value: str = "value") -> pd.DataFrame:
    """pyjstat's reading of a dataset, with codes (naming='id') instead of labels."""
    from pyjstat import pyjstat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjstat warns about its own deprecated internals
        return pyjstat.Dataset.read(text).write("dataframe", naming="id", value=value)


def test_real_samples_are_found():
    # The comparison below must never pass vacuously.
    assert any(p.name == HC8 for p in SAMPLES), f"{HC8} not found in {SAMPLE_DIRS}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_real_sample_agrees_with_pyjstat(path: Path):
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    parsed = parse_jsonstat(path.read_bytes())
    frame = parsed.frame
    ids = doc["id"]
    time_id = next(i for i in ids if i.lower() in ("time", "time_period"))
    dims = [i for i in ids if i != time_id]

    ref = pyjstat_frame(text).rename(columns={time_id: "time_period", **{d: d.lower() for d in dims}})
    keys = [d.lower() for d in dims] + ["time_period"]
    ref_values = ref[ref["value"].notna()][keys + ["value"]].astype({"value": "float64"})
    ours_values = frame[frame["value"].notna()][keys + ["value"]]
    assert (
        len(ours_values)
        == len(ref_values)
        == (len(doc["value"]) if isinstance(doc["value"], dict) else sum(v is not None for v in doc["value"]))
    )
    merged = ours_values.merge(ref_values, on=keys, how="outer", suffixes=("_ours", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert np.array_equal(merged["value_ours"].to_numpy(), merged["value_ref"].to_numpy())

    # Flags: pyjstat reads `status` the same way as `value`; every status must be on our row for that cell.
    if "status" in doc:
        ref_status = pyjstat_frame(text, value="status").rename(
            columns={time_id: "time_period", **{d: d.lower() for d in dims}}
        )
        ref_status = ref_status[ref_status["status"].notna()][keys + ["status"]]
        got = frame[frame["flag"].notna()][keys + ["flag"]]
        both = got.merge(ref_status, on=keys, how="outer", indicator=True)
        assert (both["_merge"] == "both").all()
        assert (both["flag"] == both["status"]).all()
        # Rows with a status but no value (confidential cells) are the status cells pyjstat has no value for.
        no_value = frame[frame["value"].isna()]
        assert no_value["flag"].notna().all()
        ref_no_value = ref_status.merge(ref_values[keys], on=keys, how="left", indicator=True)
        assert len(no_value) == int((ref_no_value["_merge"] == "left_only").sum())


def test_real_sample_metadata_and_labels():
    path = next(p for p in SAMPLES if p.name == HC8)
    doc = json.loads(path.read_text(encoding="utf-8"))
    parsed = parse_jsonstat(path.read_bytes())
    annotations = {a["type"]: a.get("date") for a in doc["extension"]["annotation"]}
    assert parsed.update_data == annotations["UPDATE_DATA"]
    assert parsed.update_structure == annotations["UPDATE_STRUCTURE"]
    assert parsed.dataset == doc["extension"]["id"].lower()
    assert list(parsed.frame.columns) == [i for i in doc["id"] if i != "time"] + [
        "time_period",
        "value",
        "flag",
    ]
    # Labels: every category of every non-time dimension, with its English label.
    expected = {
        (d, code, label)
        for d in doc["id"]
        if d != "time"
        for code, label in doc["dimension"][d]["category"]["label"].items()
    }
    assert set(parsed.labels.itertuples(index=False, name=None)) == expected
    assert "time" not in set(parsed.labels["dimension"])
    # Rows come out in row-major order, so the frame has the body's cell order.
    keys = list(parsed.frame.columns[:-2])
    assert not parsed.frame.duplicated(keys).any()


def test_bytes_text_dict_and_gzip_bodies_parse_the_same():
    path = next(p for p in SAMPLES if p.name == HC8)
    raw = path.read_bytes()
    want = parse_jsonstat(json.loads(raw)).frame
    for body in (raw, raw.decode("utf-8"), gzip.compress(raw), b"\xef\xbb\xbf" + raw):
        pd.testing.assert_frame_equal(parse_jsonstat(body).frame, want)


def test_array_value_and_status_with_nulls_index_array_and_time_in_the_middle():
    parsed = parse_jsonstat(fixture("array_value_quarterly.json"))
    frame = parsed.frame
    assert list(frame.columns) == ["geo", "sex", "time_period", "value", "flag"]
    assert rows(frame) == [
        ("DE1", "M", "2024-Q1", 1.5, None),
        ("DE1", "F", "2024-Q1", None, ":"),  # a status without a value is a row with a NULL value
        ("DE1", "M", "2024-Q2", 3.0, "p"),
        ("DE1", "F", "2024-Q2", 4.25, None),
        ("DE1", "F", "2024-Q3", 6.0, "e"),
        ("FRZZZ", "M", "2024-Q1", 7.0, None),
        ("FRZZZ", "F", "2024-Q1", 8.0, None),
        ("FRZZZ", "M", "2024-Q3", 11.0, "bep"),
        ("FRZZZ", "F", "2024-Q3", 0.0, None),
    ]
    assert parsed.update_data == "2025-03-01T11:00:00+0100"
    assert parsed.update_structure == "2024-12-01T23:00:00+0100"
    assert parsed.dataset == "test_array"
    assert rows(parsed.labels) == [
        ("geo", "DE1", "Baden-Württemberg"),
        ("geo", "FRZZZ", "Extra-Regio NUTS 3"),
        ("sex", "M", "Males"),
        ("sex", "F", "Females"),
    ]


def test_array_fixture_agrees_with_pyjstat_on_values():
    text = (FIXTURES / "array_value_quarterly.json").read_text(encoding="utf-8")
    ref = pyjstat_frame(text).rename(columns={"time": "time_period"}).dropna(subset=["value"])
    ours = parse_jsonstat(text).frame.dropna(subset=["value"])
    keys = ["geo", "sex", "time_period"]
    merged = ours.merge(ref, on=keys, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["value_x"] == merged["value_y"].astype(float)).all()


def test_sparse_unsorted_objects_confidential_cells_and_reordered_dimensions():
    parsed = parse_jsonstat(fixture("sparse_confidential.json"))
    assert list(parsed.frame.columns) == ["unit", "geo", "time_period", "value", "flag"]
    assert rows(parsed.frame) == [
        ("NR", "EU27_2020", "2023-S1", 10.0, None),
        ("NR", "AT", "2023-S1", None, "|C"),
        ("NR", "EU27_2020", "2023-S2", 40.0, "p"),
        ("NR", "AT", "2023-S2", None, "|C"),
        ("NR", "ATZ", "2023-S2", 60.5, None),
    ]
    assert parsed.dataset == "test_sparse"
    assert parsed.update_data is None and parsed.update_structure is None
    # A dimension without an index but with a single label still gets its label.
    assert ("unit", "NR", "Number") in set(parsed.labels.itertuples(index=False, name=None))


def test_status_string_applies_to_every_value_and_time_period_id():
    parsed = parse_jsonstat(fixture("status_string_monthly.json"))
    assert list(parsed.frame.columns) == ["freq", "indic_de", "geo", "time_period", "value", "flag"]
    assert rows(parsed.frame) == [
        ("M", "DEATH", "EL", "2024-11", 100.0, "p"),
        ("M", "DEATH", "EL", "2025-01", -3.5, "p"),
        ("M", "LBIRTH", "EL", "2024-12", 200.0, "p"),
    ]
    assert parsed.dataset is None


def test_time_dimension_named_by_role_and_weekly_daily_periods():
    parsed = parse_jsonstat(fixture("mixed_periods.json"))
    assert list(parsed.frame.columns) == ["geo", "time_period", "value", "flag"]
    assert rows(parsed.frame) == [
        ("DE_TOT", "2024", 1.0, "u"),
        ("DE_TOT", "2024-W01", 2.0, None),
        ("DE_TOT", "2024-01-15", None, ":"),
        ("DE_TOT", "2024-W53", 4.0, "|C"),
    ]


def test_empty_dataset_gives_empty_frame_with_the_right_columns():
    parsed = parse_jsonstat(fixture("empty.json"))
    frame = parsed.frame
    assert len(frame) == 0
    assert list(frame.columns) == ["freq", "geo", "time_period", "value", "flag"]
    assert frame["value"].dtype == np.float64
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in ("freq", "geo", "time_period", "flag"))
    assert rows(parsed.labels) == [("freq", "A", "Annual")]


def test_dtypes_are_strings_and_float():
    frame = parse_jsonstat(fixture("array_value_quarterly.json")).frame
    for col in ("geo", "sex", "time_period", "flag"):
        assert frame[col].dtype == "str", col
    assert frame["value"].dtype == np.float64
    assert frame["flag"].isna().sum() == 5


def test_api_error_body_is_a_parse_error_naming_the_api_message():
    with pytest.raises(ParseError, match="API error.*404 No results found") as info:
        parse_jsonstat((FIXTURES / "api_error.json").read_bytes())
    assert "split" not in str(info.value) and "content constraint" in str(info.value)  # no split advice on a 404


def test_too_big_error_body_says_to_split_without_a_double_full_stop():
    body = {"error": [{"status": 413, "id": 413, "label": "EXTRACTION_TOO_BIG: too big."}]}
    with pytest.raises(ParseError, match="split the request") as info:
        parse_jsonstat(body)
    assert ".." not in str(info.value)


def test_asynchronous_warning_body_says_to_ask_again_not_to_split():
    body = {
        "warning": {
            "status": 413,
            "label": "ASYNCHRONOUS_RESPONSE. Your request will be treated asynchronously. Please try again later.",
        }
    }
    with pytest.raises(ParseError, match="ask again later") as info:
        parse_jsonstat(body)
    assert "split" not in str(info.value) and ".." not in str(info.value)


@pytest.mark.parametrize(
    "body, match",
    [
        (b"<html><body>Sorry, the service is busy</body></html>", "not JSON.*HTML"),
        (b"\x1f\x8b\x08\x00broken", "gzip"),
        ("[1, 2, 3]", "not a JSON-stat dataset object"),
        ({"version": "2.0", "class": "dataset", "value": {}}, "missing 'id', 'size', 'dimension'"),
        ({"class": "collection", "link": {}}, "only class 'dataset'"),
    ],
)
def test_non_jsonstat_input_is_rejected(body, match):
    with pytest.raises(ParseError, match=match):
        parse_jsonstat(body)


def _broken(change) -> dict:
    doc = fixture("array_value_quarterly.json")
    change(doc)
    return doc


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.update(size=[2, 3]), "'id' has 3 dimensions but 'size' has 2"),
        (lambda d: d["dimension"].pop("sex"), r"\['sex'\] are listed in 'id' but missing"),
        (lambda d: d.update(size=[2, 3, 3]), "dimension 'sex': 'size' says 3 categories"),
        (lambda d: d.update(value=[1.0, 2.0]), "'value' array has 2 entries but 'size' gives 12"),
        (lambda d: d.update(value={"12": 1.0}), "cell 12 but the cube has only 12 cells"),
        (lambda d: d.update(value={"x": 1.0}), "keys must be cell numbers"),
        (lambda d: d.update(status=["p"] * 5), "'status' array has 5 entries"),
        (lambda d: d["dimension"]["sex"]["category"].update(index={"M": 0, "F": 0}), "not 0..1 exactly once"),
        (lambda d: d["dimension"]["geo"]["category"].pop("index"), "only allowed with exactly one category"),
        (
            lambda d: d.update(
                id=["geo", "period", "sex"], dimension={**d["dimension"], "period": d["dimension"]["time"]}
            ),
            "cannot tell the time dimension",
        ),
        (lambda d: d["dimension"].update(sex={"label": "Sex"}), "no 'category' object"),
    ],
)
def test_inconsistent_structure_is_rejected_with_the_reason(change, match):
    with pytest.raises(ParseError, match=match):
        parse_jsonstat(_broken(change))


def test_dimension_ids_that_cannot_be_column_names_are_rejected():
    doc = fixture("mixed_periods.json")
    doc["id"] = ["period", "value"]
    doc["dimension"]["value"] = doc["dimension"].pop("geo")
    with pytest.raises(ParseError, match="dimension id 'value' cannot be a column name"):
        parse_jsonstat(doc)


@pytest.mark.parametrize(
    "sizes, n_values",
    [
        ([2, 5, 7, 11], 385),  # half the cube: the parser numbers cells with a bitmap of the cube
        ([40, 500, 2000, 30], 400),  # 1.2 billion positions, 400 cells: it sorts the cell numbers instead
    ],
)
def test_many_cells_from_a_generated_cube_match_a_per_cell_reference(sizes, n_values):
    """A sparse cube with shuffled keys: every row must sit at the coordinates its flat index gives."""
    rng = np.random.default_rng(7)
    ids = ["sex", "age", "geo", "time"]
    total = int(np.prod(sizes))
    cells = rng.choice(total, size=n_values, replace=False)
    values = {str(int(c)): float(c) for c in cells}
    # statuses on some cells with a value and some without
    status = {str(int(c)): "e" for c in np.concatenate([cells[:20], rng.choice(total, size=20, replace=False)])}
    codes = {d: [f"{d[0].upper()}{k}" for k in range(n)] for d, n in zip(ids, sizes, strict=True)}
    doc = {
        "version": "2.0",
        "class": "dataset",
        "id": ids,
        "size": sizes,
        "value": values,
        "status": status,
        "dimension": {d: {"category": {"index": {c: k for k, c in enumerate(codes[d])}}} for d in ids},
    }
    frame = parse_jsonstat(doc).frame
    present = sorted({int(k) for k in values} | {int(k) for k in status})
    assert len(frame) == len(present)
    for row, flat in zip(frame.itertuples(index=False), present, strict=True):  # a check loop, not the parser
        s, a, g, t = np.unravel_index(flat, sizes)
        assert (row.sex, row.age, row.geo, row.time_period) == (
            codes["sex"][s],
            codes["age"][a],
            codes["geo"][g],
            codes["time"][t],
        )
        assert (row.value == flat) if str(flat) in values else math.isnan(row.value)
        assert (row.flag == "e") if str(flat) in status else pd.isna(row.flag)
