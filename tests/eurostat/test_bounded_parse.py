"""Huge bodies in bounded memory: sparse cells read straight from the bytes, rows validated and written in chunks.

Memory itself is measured by `make bench` (validate-step peak of a 5M-cell body); these tests hold the behaviour:
the array reading agrees with the full decoder on every body, falls back to it on anything unusual (same result or
same error), and a slice validated in chunks stages exactly the rows and labels of one whole frame.
"""

from __future__ import annotations

import json

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests

from multilevel.errors import ParseError
from multilevel.eurostat import jsonstat, steps
from multilevel.eurostat.jsonstat import _lift_sparse, parse_jsonstat
from multilevel.eurostat.plan import Plan, Slice
from multilevel.stage import open_store
from multilevel.standin import StandIn


def both_ways(body: bytes):
    """Parse by the array reading (bytes) and by the full decoder (a decoded dict); they must agree."""
    fast, full = parse_jsonstat(body), parse_jsonstat(orjson.loads(body))
    pd.testing.assert_frame_equal(fast.frame, full.frame)
    pd.testing.assert_frame_equal(fast.labels, full.labels)
    assert (fast.update_data, fast.update_structure, fast.dataset) == (full.update_data, full.update_structure,
                                                                        full.dataset)
    return fast


@pytest.mark.parametrize("query", ["demo_r_pjanind3?format=JSON", "demo_r_pjangrp3?format=JSON&age=TOTAL&sex=F",
                                   "hlth_ehis_hc8?format=JSON"])
def test_served_bodies_are_read_as_arrays_and_agree_with_the_full_decoder(api, query):
    body = requests.get(f"{api.url}/statistics/1.0/data/{query}", timeout=30).content
    assert _lift_sparse(body) is not None  # the plain shape Eurostat sends takes the array path
    parsed = both_ways(body)
    assert len(parsed.frame) > 100 and parsed.frame["flag"].notna().any()


def small(value: str, status: str | None = None, extra: str = "") -> bytes:
    doc = ('{"version":"2.0","class":"dataset","id":["geo","time"],"size":[2,2],"dimension":{'
           '"geo":{"category":{"index":{"AT":0,"BE":1}}},"time":{"category":{"index":{"2020":0,"2021":1}}}},'
           f'"value":{value}' + (f',"status":{status}' if status is not None else "") + extra + "}")
    return doc.encode()


@pytest.mark.parametrize("body", [
    small('{"0":1.5,"3":null,"2":-2e3}', '{"1":":","3":"p"}'),
    small('{ "0" : 1.5 ,\n "3": 2 }', '{"0": "p"}'),  # whitespace: values still read as arrays, status falls back
    small('{"0":1}', '{"0":"e p"}'),  # a space inside a flag: falls back, the flag is kept whole
    small('{"0":1}', '{"0":"\\u00e9"}'),  # an escape: falls back
    small('{}', '{}'),
    small('[1,2,null,4]'),  # a dense array: the full decoder
    small('{"0":"1.5","1":true}'),  # numbers as text and booleans: whatever the full decoder makes of them
    small('{"0":1,"1":2}', '{"0":"p"}', ',"extension":{"status":{"label":{"p":"provisional"}},"value":{"9":1}}'),
])
def test_unusual_bodies_give_what_the_full_decoder_gives(body):
    both_ways(body)


@pytest.mark.parametrize("value, error", [
    ('{"0":NaN}', "NaN"), ('{"0":Infinity}', "Infinity"), ('{"0":"abc"}', "not a number"),
    ('{"x":1}', "cell numbers"), ('{"7":1}', "has cell 7"), ('{"0":1,}', "not JSON"),
])
def test_bad_cells_are_the_same_parse_errors_as_before(value, error):
    with pytest.raises(ParseError, match=error):
        parse_jsonstat(small(value))


def test_a_slice_validated_in_chunks_stages_the_rows_and_labels_of_the_whole_frame(settings, api, monkeypatch,
                                                                                    tmp_path):
    body = requests.get(f"{api.url}/statistics/1.0/data/demo_r_pjanind3?format=JSON", timeout=30).content
    whole = parse_jsonstat(body)
    raw = open_store(str(tmp_path / "raw"))
    import gzip

    raw.write_bytes("part-0000.json.gz", gzip.compress(body))
    raw.write_bytes("parts.json", json.dumps({"parts": 1}).encode())
    plan = Plan("demo_r_pjanind3", "r1", True, whole.update_data, whole.update_structure, "", "2026-01-01T00:00:00",
                [Slice("all", {})], dimensions=[*whole.dimensions, "time"])
    monkeypatch.setattr(steps, "CHUNK_ROWS", 1_000)
    out = tmp_path / "validated.parquet"
    rows = steps.validate_step(settings, plan, "all", str(tmp_path / "raw"), str(out))
    written = pq.ParquetFile(out)
    assert rows == written.metadata.num_rows == len(whole.frame)
    assert written.num_row_groups == -(-len(whole.frame) // 1_000)
    pd.testing.assert_frame_equal(written.read().to_pandas(), whole.frame, check_dtype=False)
    staged = steps.stage_step(settings, plan, "all", str(out))
    assert {tuple(x) for x in staged["labels"]} >= {("indic_de", "MEDAGEPOP", "Median age of population")}


def test_the_min_rows_rule_counts_the_whole_slice_not_a_chunk(settings, api, monkeypatch, tmp_path):
    from multilevel.errors import ValidationFailed

    body = requests.get(f"{api.url}/statistics/1.0/data/demo_r_pjanind3?format=JSON", timeout=30).content
    whole = parse_jsonstat(body)
    raw = open_store(str(tmp_path / "raw"))
    import gzip

    raw.write_bytes("part-0000.json.gz", gzip.compress(body))
    raw.write_bytes("parts.json", json.dumps({"parts": 1}).encode())
    monkeypatch.setattr(steps, "CHUNK_ROWS", 1_000)
    n = len(whole.frame)
    for expected, passes in ((n, True), (n + 1, False)):
        plan = Plan("demo_r_pjanind3", "r1", True, whole.update_data, whole.update_structure, "",
                    "2026-01-01T00:00:00", [Slice("all", {}, expected_min_rows=expected)],
                    dimensions=[*whole.dimensions, "time"])
        out = str(tmp_path / f"v{expected}.parquet")
        if passes:
            assert steps.validate_step(settings, plan, "all", str(tmp_path / "raw"), out) == n
        else:
            with pytest.raises(ValidationFailed, match=rf"rule min_rows: 1 row\(s\) short \({n} rows, expected"):
                steps.validate_step(settings, plan, "all", str(tmp_path / "raw"), out)
            assert not (tmp_path / f"v{expected}.parquet").exists()  # nothing written


def test_jsonstat_cells_build_any_window_of_rows(api):
    body = requests.get(f"{api.url}/statistics/1.0/data/demo_r_pjanind3?format=JSON", timeout=30).content
    cells = jsonstat.read_jsonstat(body)
    whole = cells.frame()
    parts = [cells.frame(i, i + 777) for i in range(0, cells.rows, 777)]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_the_large_stand_in_dataset_serves_a_body_read_as_arrays():
    with StandIn(size="small", large_obs=100) as server:
        body = requests.get(f"{server.url}/statistics/1.0/data/synth_r_large?format=JSON&sex=T", timeout=30).content
    assert _lift_sparse(body) is not None
    both_ways(body)


def test_an_answer_larger_than_the_body_limit_is_refused_naming_the_setting(settings, api):
    from multilevel.errors import ApiError
    from multilevel.eurostat.client import EurostatClient

    url = f"{api.url}/statistics/1.0/data/demo_r_pjanind3?format=JSON"
    size = len(requests.get(url, timeout=30).content)
    settings.http_max_body_bytes = size
    assert len(EurostatClient.from_settings(settings).data("demo_r_pjanind3", {})) == size  # at the limit: read
    settings.http_max_body_bytes = size - 1
    asked = api.count_requests("/statistics/")
    with pytest.raises(ApiError, match=rf"more than {size - 1:,} bytes \(MULTILEVEL_HTTP_MAX_BODY_BYTES\)"):
        EurostatClient.from_settings(settings).data("demo_r_pjanind3", {})
    assert api.count_requests("/statistics/") == asked + 1  # refused at once, not retried


def test_an_answer_without_content_length_is_cut_as_it_arrives():
    from multilevel.errors import ApiError
    from multilevel.httpclient import HttpClient, HttpPolicy

    client = HttpClient(HttpPolicy(max_body_bytes=10))
    taken = []

    def chunks(*parts):
        for chunk in parts:
            taken.append(chunk)
            yield chunk

    assert b"".join(client._limited(chunks(b"12345", b"67890"), {}, "http://x/")) == b"1234567890"  # at the limit
    taken.clear()
    with pytest.raises(ApiError, match="more than 10 bytes"):
        b"".join(client._limited(chunks(b"12345", b"67890", b"x", b"never read"), {}, "http://x/"))
    assert taken == [b"12345", b"67890", b"x"]  # stopped at the first chunk over the limit


def test_a_gzip_body_may_not_expand_past_the_body_limit():
    import gzip as gz

    from multilevel.errors import ApiError
    from multilevel.httpclient import Transient, decode_body

    body = gz.compress(b"x" * 600) + gz.compress(b"y" * 400)  # two members, as gzip.decompress accepts
    assert decode_body(body, limit=1000) == gz.decompress(body) == decode_body(body)
    with pytest.raises(ApiError, match=r"expands to more than 999 bytes \(MULTILEVEL_HTTP_MAX_BODY_BYTES\)"):
        decode_body(body, limit=999)
    with pytest.raises(Transient, match="truncated gzip body"):
        decode_body(body[:20], limit=1000)
    assert decode_body(b'{"plain":1}', limit=3) == b'{"plain":1}'  # not gzip: the byte limit applied while reading
