"""The Eurostat API stand-in: URL shapes, JSON-stat, content constraint, revisions, faults, limits."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import requests
from pyjstat import pyjstat

from multilevel import paths
from multilevel.standin import StandIn, cubes, make_geo_codes
from multilevel.standin.faults import KINDS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "eurostat"
COMMON = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common}"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT(11|23):00:00[+-]\d{4}$")
GRP = "demo_r_pjangrp3"
IND = "demo_r_pjanind3"


@pytest.fixture
def api():
    with StandIn(size="small") as standin:
        yield standin


def data(api: StandIn, dataset: str, query: str = "", **kwargs) -> requests.Response:
    return requests.get(
        f"{api.url}/statistics/1.0/data/{dataset}?format=JSON&lang=EN{query}", timeout=10, **kwargs
    )


def dataflow(api: StandIn, dataset: str) -> dict:
    response = requests.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{dataset}/1.0?format=json", timeout=10)
    assert response.status_code == 200
    return response.json()


def annotation(doc: dict, kind: str) -> str:
    (found,) = [a for a in doc["extension"]["annotation"] if a["type"] == kind]
    return found.get("date", found.get("title"))


def cell(doc: dict, coords: dict[str, str]) -> tuple[float | None, str | None]:
    """The value and status of one cell of a JSON-stat document, by codes."""
    index = [doc["dimension"][d]["category"]["index"][coords[d]] for d in doc["id"]]
    key = str(int(np.ravel_multi_index(index, doc["size"])))
    return doc["value"].get(key), doc["status"].get(key)


def coordinates(doc: dict, flat: int) -> dict[str, str]:
    """Codes of a flat (row-major) position of a JSON-stat document."""
    index = np.unravel_index(flat, doc["size"])
    codes = {d: list(doc["dimension"][d]["category"]["index"]) for d in doc["id"]}
    return {d: codes[d][int(i)] for d, i in zip(doc["id"], index, strict=True)}


def split_query(coords: dict[str, str], split: str) -> str:
    return f"&{split}={coords[split]}"


# ----------------------------------------------------------------------------------------------- URL shapes


def test_dataflow_json_has_the_shape_of_the_real_one(api):
    real = json.loads((FIXTURES / "sdmx21_dataflow_demo_r_d2jan.json").read_text())
    doc = dataflow(api, GRP)
    assert list(doc) == list(real)
    assert list(doc["extension"]) == list(real["extension"])
    assert doc["extension"]["id"] == "DEMO_R_PJANGRP3"
    real_types = [a["type"] for a in real["extension"]["annotation"]]
    types = [a["type"] for a in doc["extension"]["annotation"]]
    assert {"UPDATE_DATA", "UPDATE_STRUCTURE", "OBS_COUNT"} <= set(types) <= set(real_types)
    assert TIMESTAMP.match(annotation(doc, "UPDATE_DATA"))
    assert TIMESTAMP.match(annotation(doc, "UPDATE_STRUCTURE"))
    assert int(annotation(doc, "OBS_COUNT")) == api.cube(GRP).obs_count()


def test_dataflow_accepts_every_url_form_and_any_case(api):
    for path in (
        f"dataflow/ESTAT/{GRP}?format=json",
        f"dataflow/ESTAT/{GRP.upper()}/1.0?format=json",
        f"dataflow/ESTAT/{GRP}/latest?format=json",
    ):
        doc = requests.get(f"{api.url}/sdmx/2.1/{path}", timeout=10).json()
        assert doc["extension"]["id"] == GRP.upper()
    xml = requests.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{IND}/1.0", timeout=10)
    assert xml.headers["Content-Type"].startswith("application/vnd.sdmx.structure+xml")
    titles = {
        a.findtext(f"{COMMON}AnnotationType"): a.findtext(f"{COMMON}AnnotationTitle")
        for a in ET.fromstring(xml.content).iter(f"{COMMON}Annotation")
    }
    assert titles["UPDATE_DATA"] == annotation(dataflow(api, IND), "UPDATE_DATA")
    # the real base path prefix works as well
    assert (
        requests.get(
            f"{api.url}/eurostat/api/dissemination/sdmx/2.1/dataflow/ESTAT/{IND}?format=json", timeout=10
        ).status_code
        == 200
    )


# ----------------------------------------------------------------------------------------------- JSON-stat


def test_jsonstat_slice_is_valid_sparse_and_unsorted(api):
    real = json.loads((FIXTURES / "statsapi_jsonstat_hlth_ehis_hc8_full.json").read_text())
    response = data(api, GRP, "&age=Y10-14")
    assert response.status_code == 200
    doc = response.json()
    assert list(doc) == list(real)
    assert list(doc["extension"])[:6] == list(real["extension"])[:5] + ["annotation"]
    assert doc["id"] == ["freq", "unit", "sex", "age", "geo", "time"]
    assert doc["dimension"]["age"]["category"]["index"] == {"Y10-14": 0}
    for dim_id, size in zip(doc["id"], doc["size"], strict=True):
        category = doc["dimension"][dim_id]["category"]
        assert sorted(category["index"].values()) == list(range(size))
        assert set(category["label"]) == set(category["index"])
    cells = int(np.prod(doc["size"]))
    value_keys = [int(k) for k in doc["value"]]
    status_keys = [int(k) for k in doc["status"]]
    assert all(0 <= k < cells for k in value_keys + status_keys)
    assert value_keys != sorted(value_keys) and status_keys != sorted(status_keys)
    assert set(doc["status"].values()) <= set(doc["extension"]["status"]["label"])
    # the later of UPDATE_DATA / UPDATE_STRUCTURE, as in the real bodies (hlth: structure; 2026 slices: data)
    assert doc["updated"] == max(annotation(doc, "UPDATE_DATA"), annotation(doc, "UPDATE_STRUCTURE"))
    assert all(v >= 0 and v == round(v) for v in doc["value"].values())
    # a reference JSON-stat reader agrees on the number of values
    frame = pyjstat.Dataset.read(response.text).write("dataframe")
    assert len(frame) == cells and frame["value"].notna().sum() == len(doc["value"])


def test_flags_and_cells_without_value(api):
    doc = data(api, GRP).json()  # the whole small cube
    flags = set(doc["status"].values())
    # as the real Statistics API: no ":" cells (a missing figure is simply absent), "|C" with no value entry,
    # labelled "|confidential" (real bodies: tests/fixtures/eurostat/slices, see SOURCES)
    assert {"|C", "p", "e"} <= flags and ":" not in flags and flags <= set(doc["extension"]["status"]["label"])
    assert doc["extension"]["status"]["label"]["|C"] == "|confidential"
    no_value = {k for k, f in doc["status"].items() if f == "|C"}
    assert no_value and not no_value & set(doc["value"])
    assert all(doc["status"].get(k) != "|C" for k in doc["value"])
    observations = set(doc["value"]) | set(doc["status"])
    assert len(observations) == int(annotation(doc, "OBS_COUNT")) < int(np.prod(doc["size"]))
    # valid (geo, year) cells a country did not report are absent: neither value nor status
    country_years = {(g, y) for g in doc["dimension"]["geo"]["category"]["index"] if len(g) == 2
                     for y in doc["dimension"]["time"]["category"]["index"]}
    present = {(c["geo"], c["time"]) for c in (coordinates(doc, int(k)) for k in observations)}
    absent = [k for k in range(int(np.prod(doc["size"]))) if str(k) not in observations
              and (coordinates(doc, k)["geo"], coordinates(doc, k)["time"]) in present & country_years]
    assert absent  # missing figures in otherwise published country-years, sent as nothing at all


def test_geo_years_follow_the_nuts_version_in_force(api):
    doc = data(api, GRP, "&age=TOTAL&sex=T").json()
    # Estonia: EE006 exists in NUTS 2013/2016 only, EE009 from NUTS 2021; countries exist in every year
    assert cell(doc, {"freq": "A", "unit": "NR", "sex": "T", "age": "TOTAL", "geo": "EE", "time": "2024"})[0]
    for geo, years_with, years_without in (
        ("EE006", ["2019", "2020"], ["2021", "2024"]),
        ("EE009", ["2021", "2024"], ["2019", "2020"]),
    ):
        coords = {"freq": "A", "unit": "NR", "sex": "T", "age": "TOTAL", "geo": geo}
        assert all(cell(doc, {**coords, "time": y}) != (None, None) for y in years_with)
        assert all(cell(doc, {**coords, "time": y}) == (None, None) for y in years_without)


def test_repeated_dimensions_time_range_and_geo_level(api):
    doc = data(
        api,
        IND,
        "&indic_de=MEDAGEPOP&indic_de=OLDDEP1&sinceTimePeriod=2020&untilTimePeriod=2022&geoLevel=nuts3",
    ).json()
    assert list(doc["dimension"]["indic_de"]["category"]["index"]) == ["MEDAGEPOP", "OLDDEP1"]
    assert list(doc["dimension"]["time"]["category"]["index"]) == ["2020", "2021", "2022"]
    geos = list(doc["dimension"]["geo"]["category"]["index"])
    assert geos and all(len(g) == 5 for g in geos)
    # median age is in years, OLDDEP1 in percent: each unit position is empty for one indicator only
    assert doc["extension"]["positions-with-no-data"]["unit"] == []
    one = data(api, IND, "&indic_de=MEDAGEPOP").json()
    assert one["extension"]["positions-with-no-data"]["unit"] == [0]
    last = data(api, IND, "&indic_de=MEDAGEPOP&lastTimePeriod=2").json()
    assert list(last["dimension"]["time"]["category"]["index"]) == ["2023", "2024"]


def test_last_time_period_counts_back_from_the_datasets_latest_period_as_the_real_api(api):
    """Real une_rt_m body (tests/fixtures/eurostat/slices): geo=de&lastTimePeriod=1 gives DE and the dataset's latest
    period even where that series has no value. EE006 (NUTS 2013/2016 only) has no value in the latest year."""
    doc = data(api, GRP, "&geo=ee006&lastTimePeriod=1").json()
    assert list(doc["dimension"]["geo"]["category"]["index"]) == ["EE006"]
    assert list(doc["dimension"]["time"]["category"]["index"]) == [annotation(doc, "OBS_PERIOD_OVERALL_LATEST")]
    assert doc["value"] == {} and "status" not in doc


def test_geo_together_with_geo_level_is_refused_as_the_real_api_does(api):
    """Eurostat documents geo and geoLevel as mutually exclusive (API Statistics guidelines); HTTP 400."""
    both = data(api, IND, "&geo=BE&geoLevel=nuts3")
    assert both.status_code == 400
    (error,) = both.json()["error"]
    assert error["id"] == 150 and error["label"] == (
        "'geo' parameter and 'geoLevel' parameter cannot be set at the same time.")
    assert data(api, IND, "&geo=BE").status_code == data(api, IND, "&geoLevel=country").status_code == 200


def test_wrong_value_gives_an_empty_result(api):
    response = data(api, GRP, "&geo=XX99")
    assert response.status_code == 200
    doc = response.json()
    assert doc["value"] == {} and "status" not in doc  # the real API omits status when no cell is flagged
    assert doc["size"][doc["id"].index("geo")] == 0


def test_real_fixture_dataset_is_served_whole_and_filtered(api):
    real = json.loads((FIXTURES / "statsapi_jsonstat_hlth_ehis_hc8_full.json").read_text())
    whole = data(api, "HLTH_EHIS_HC8").json()
    for key in ("value", "status", "id", "size", "dimension", "updated", "label"):
        assert whole[key] == real[key], key
    part = data(api, "hlth_ehis_hc8", "&geo=AT&geo=BE&sex=F").json()
    assert part["size"] == [1, 1, 9, 4, 2, 1, 2, 1]
    assert list(part["dimension"]["geo"]["category"]["index"]) == [
        "BE",
        "AT",
    ]  # code-list order, not query order
    real_index = {d: real["dimension"][d]["category"]["index"] for d in real["id"]}
    for key, value in part["value"].items():
        codes = np.unravel_index(int(key), part["size"])
        coords = {
            d: list(part["dimension"][d]["category"]["index"])[i]
            for d, i in zip(part["id"], codes, strict=True)
        }
        real_key = np.ravel_multi_index([real_index[d][coords[d]] for d in real["id"]], real["size"])
        assert real["value"][str(int(real_key))] == value
    assert len(part["value"]) > 0


# ----------------------------------------------------------------------------------------------- constraint


@pytest.mark.parametrize(("dataset", "split"), [(GRP, "age"), (IND, "indic_de")])
def test_content_constraint_lists_every_code_of_the_split_dimension(api, dataset, split):
    response = requests.get(f"{api.url}/sdmx/2.1/contentconstraint/ESTAT/{dataset}/1.0", timeout=10)
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    keys = {kv.get("id"): [v.text for v in kv] for kv in root.iter(f"{COMMON}KeyValue")}
    cube = api.cube(dataset)
    assert list(keys) == [d.id for d in cube.dims[:-1]] + ["TIME_PERIOD"]
    assert keys[split] == cube.dim(split).codes
    whole = data(api, dataset).json()
    assert keys["geo"] == list(whole["dimension"]["geo"]["category"]["index"])
    real = ET.parse(FIXTURES / "sdmx21_contentconstraint_demo_r_d2jan.xml").getroot()
    assert {e.tag for e in root.iter()} <= {e.tag for e in real.iter()} | {"Ref"}
    assert [e.tag for e in root] == [e.tag for e in real]


# ----------------------------------------------------------------------------------------------- revisions


def test_revision_changes_values_and_update_data(api):
    before_flow = dataflow(api, GRP)
    split = "age"
    revision = api.revise(GRP, n=3)
    after_flow = dataflow(api, GRP)
    assert revision["version"] == 2
    assert annotation(after_flow, "UPDATE_DATA") > annotation(before_flow, "UPDATE_DATA")
    assert annotation(after_flow, "UPDATE_DATA") == revision["update_data"]
    assert annotation(after_flow, "UPDATE_STRUCTURE") == annotation(before_flow, "UPDATE_STRUCTURE")
    assert len(revision["changed"]) == 3
    fresh = StandIn(size="small")  # same seed, no revision: what the data looked like before
    with fresh:
        for coords in revision["changed"]:
            old = cell(data(fresh, GRP, split_query(coords, split)).json(), coords)
            new = cell(data(api, GRP, split_query(coords, split)).json(), coords)
            assert old[0] is not None and new[0] is not None and old != new
        vanished = revision["vanished"]
        assert cell(data(fresh, GRP, split_query(vanished, split)).json(), vanished) != (None, None)
        assert cell(data(api, GRP, split_query(vanished, split)).json(), vanished) == (None, None)
        added = revision["added"]
        assert cell(data(fresh, GRP, split_query(added, split)).json(), added) == (None, None)
        assert cell(data(api, GRP, split_query(added, split)).json(), added)[0] is not None
    second = requests.post(f"{api.url}/_standin/revise?dataset={GRP.upper()}&n=2", timeout=10).json()
    assert second["version"] == 3 and second["update_data"] > revision["update_data"]
    assert TIMESTAMP.match(second["update_data"])


def test_revisions_are_deterministic():
    with StandIn() as first, StandIn() as second:
        assert first.revise(IND) == second.revise(IND)


def test_structure_update_moves_update_structure_and_jsonstat_updated(api):
    before = annotation(dataflow(api, IND), "UPDATE_STRUCTURE")
    stamp = api.set_structure_update(IND)
    assert stamp > before and annotation(dataflow(api, IND), "UPDATE_STRUCTURE") == stamp
    assert data(api, IND, "&indic_de=MEDAGEPOP").json()["updated"] == stamp
    again = requests.post(f"{api.url}/_standin/structure?dataset={IND}", timeout=10).json()
    assert again["update_structure"] > stamp


def test_revise_unknown_dataset_names_the_served_ones(api):
    with pytest.raises(ValueError, match="demo_r_pjangrp3"):
        api.revise("nope")
    response = requests.post(f"{api.url}/_standin/revise?dataset=nope", timeout=10)
    assert response.status_code == 400 and "not served" in response.json()["error"][0]["label"]


# ----------------------------------------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_errors_then_recovery(api, kind):
    api.inject(kind, count=2)
    assert [data(api, GRP, "&age=TOTAL").status_code for _ in range(3)] == [int(kind), int(kind), 200]
    assert [status for _, _, status in api.request_log] == [int(kind), int(kind), 200]


def test_429_has_retry_after(api):
    api.inject("429", retry_after=7)
    response = data(api, GRP, "&age=TOTAL")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_slow_answer_times_out_a_short_client_timeout(api):
    api.inject("slow", seconds=1.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{GRP}?format=json", timeout=0.3)
    assert requests.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{GRP}?format=json", timeout=10).status_code == 200


def test_truncated_body_keeps_the_full_content_length(api):
    api.inject("truncate")
    host, port = api.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", f"/statistics/1.0/data/{GRP}?format=JSON&age=TOTAL")
    response = connection.getresponse()
    length = int(response.headers["Content-Length"])
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    connection.close()
    assert response.status == 200 and len(caught.value.partial) == length // 2
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.inject("truncate")
        data(api, GRP, "&age=TOTAL")


def test_sorry_redirects_to_an_html_page(api):
    api.inject("sorry")
    redirect = data(api, GRP, "&age=TOTAL", allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"].endswith("/sorry/index.html")
    api.inject("sorry")
    followed = data(api, GRP, "&age=TOTAL")
    assert followed.status_code == 200 and followed.headers["Content-Type"].startswith("text/html")
    assert followed.history[0].status_code == 302
    with pytest.raises(requests.exceptions.JSONDecodeError):
        followed.json()


def test_gzip_body_without_content_encoding(api):
    plain = data(api, GRP, "&age=TOTAL")
    api.inject("gzip")
    packed = data(api, GRP, "&age=TOTAL")
    assert "Content-Encoding" not in packed.headers
    assert packed.content[:2] == b"\x1f\x8b"
    assert json.loads(gzip.decompress(packed.content)) == plain.json()


def test_413_and_413_warning(api):
    api.inject("413")
    too_big = data(api, GRP, "&age=TOTAL")
    assert too_big.status_code == 413
    (error,) = too_big.json()["error"]
    assert error["status"] == 413 and error["label"].startswith("EXTRACTION_TOO_BIG")
    api.inject("413warning")
    warning = data(api, GRP, "&age=TOTAL")
    assert warning.status_code == 200
    assert warning.json() == {"warning": {"status": 413, "label": warning.json()["warning"]["label"]}}
    assert warning.json()["warning"]["label"].startswith("ASYNCHRONOUS_RESPONSE")


def test_fault_path_filter_and_admin_endpoint(api):
    response = requests.post(f"{api.url}/_standin/inject?kind=503&count=1&path=contentconstraint", timeout=10)
    assert response.json()["faults"] == [{"kind": "503", "count": 1, "path": "contentconstraint"}]
    assert data(api, GRP, "&age=TOTAL").status_code == 200
    assert (
        requests.get(f"{api.url}/sdmx/2.1/contentconstraint/ESTAT/{GRP}/1.0", timeout=10).status_code == 503
    )
    assert api.faults.pending() == []
    state = requests.get(f"{api.url}/_standin/state", timeout=10).json()
    assert state["requests"] == 2 and api.count_requests("contentconstraint") == 1  # admin calls not logged
    bad = requests.post(f"{api.url}/_standin/inject?kind=teapot", timeout=10)
    assert bad.status_code == 400 and "teapot" in bad.json()["error"][0]["label"]


def test_every_fault_kind_is_accepted_and_options_are_checked(api):
    for kind in KINDS:
        api.inject(kind)
    assert [f["kind"] for f in api.faults.pending()] == list(KINDS)
    with pytest.raises(ValueError, match="retry_after"):
        api.inject("503", retry_after=3)


# -------------------------------------------------------------------------------- limits, errors


def test_max_cells_gives_the_real_413_answer(api):
    api.max_cells = 500
    whole = data(api, GRP)
    assert whole.status_code == 413
    (error,) = whole.json()["error"]
    assert error == {"status": 413, "id": 413, "label": error["label"]}
    assert "max authorised is 500" in error["label"]
    # a slice small enough still comes through: one age and sex is 14 geo x 6 years = 84 cells
    assert data(api, GRP, "&age=TOTAL&sex=T").status_code == 200
    requests.post(f"{api.url}/_standin/max_cells?value=100000", timeout=10)
    assert data(api, GRP).status_code == 200


def test_error_bodies_for_bad_dimension_and_unknown_dataset(api):
    bad_dim = data(api, GRP, "&country=BE")
    assert bad_dim.status_code == 400
    # worded as the live API (tests/fixtures/eurostat/errors/statsapi_400_invalid_query_dimension.json)
    assert bad_dim.json() == {"error": [{"status": 400, "id": 150,
                                         "label": 'INVALID_QUERY_DIMENSION: Dimension "COUNTRY" is not defined'}]}
    for response in (
        data(api, "demo_r_nothing"),
        requests.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/demo_r_nothing?format=json", timeout=10),
    ):
        assert response.status_code == 404
        (error,) = response.json()["error"]
        assert list(error) == ["status", "id", "label"]
        assert error["status"] == 404 and error["id"] == 100 and "DEMO_R_NOTHING" in error["label"]


# -------------------------------------------------------------------------------- full size, data


def test_full_cubes_have_the_real_observation_counts():
    grp = cubes.Cube(cubes.base_cube(GRP, "full"))
    ind = cubes.Cube(cubes.base_cube(IND, "full"))
    assert 1_600_000 <= grp.obs_count() <= 1_800_000
    assert 1_200_000 <= ind.obs_count() <= 1_400_000
    geo = grp.dim("geo").codes
    assert {"EU27_2020", "EU28", "DE_TOT", "EFTA", "AL", "ME", "MK", "RS", "TR", "UK"} <= set(geo)
    assert {len(code) for code in geo if "_" not in code and code != "EFTA"} == {2, 3, 4, 5}
    # a full per-age slice fits under the default limit, the whole cube does not
    assert np.prod(grp.shape) > StandIn().max_cells > np.prod(grp.shape) / len(grp.dim("age").codes)
    # population counts add up: total = males + females
    values = grp.values[0, 0]
    both = ~np.isnan(values[0]) & ~np.isnan(values[1]) & ~np.isnan(values[2])
    assert np.array_equal(values[0][both], values[1][both] + values[2][both])


def test_geo_code_list_is_up_to_date():
    nuts_csv = paths.ROOT / "vendor" / "nuts" / "nuts_codes.csv"
    assert make_geo_codes.build_lines(nuts_csv) == make_geo_codes.OUTPUT.read_text(
        encoding="utf-8"
    ).splitlines(keepends=True)


def test_fixture_dataset_can_be_revised_too(api):
    before = data(api, "hlth_ehis_hc8").json()
    revision = api.revise("hlth_ehis_hc8", n=2)
    after = data(api, "hlth_ehis_hc8").json()
    assert annotation(after, "UPDATE_DATA") == revision["update_data"] > annotation(before, "UPDATE_DATA")
    # one observation went, one came: the count is unchanged, the cells are not
    assert annotation(after, "OBS_COUNT") == annotation(before, "OBS_COUNT")
    assert cell(after, revision["added"])[0] is not None and cell(before, revision["added"]) == (None, None)
    assert cell(after, revision["vanished"]) == (None, None)


def test_head_is_a_ping_that_takes_no_fault_and_is_not_logged(api):
    api.inject("503")
    assert requests.head(api.url, timeout=10).status_code == 404  # the base URL itself is no endpoint
    ping = requests.head(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{GRP}?format=json", timeout=10)
    assert ping.status_code == 200 and ping.content == b"" and int(ping.headers["Content-Length"]) > 0
    assert api.request_log == [] and data(api, GRP, "&age=TOTAL").status_code == 503


def test_keep_alive_connection_serves_head_then_get(api):
    with requests.Session() as session:
        assert session.head(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{GRP}?format=json", timeout=10).content == b""
        assert session.get(f"{api.url}/sdmx/2.1/dataflow/ESTAT/{GRP}?format=json", timeout=10).json()["label"]
