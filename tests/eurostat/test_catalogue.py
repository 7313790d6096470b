"""The catalogue (table of contents): the real text sample, the stand-in's text and XML forms, NUTS levels."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from multilevel.errors import ParseError
from multilevel.eurostat.catalogue import (
    geo_levels,
    is_regional,
    nuts_level,
    parse_toc_txt,
    parse_toc_xml,
    regional_candidate,
)
from multilevel.eurostat.client import EurostatClient
from multilevel.standin import StandIn

REAL_TOC = Path(__file__).resolve().parent.parent / "fixtures" / "eurostat" / "catalogue_toc_txt_en_excerpt.txt"


@pytest.fixture(scope="module")
def real():
    return {e.code: e for e in parse_toc_txt(REAL_TOC.read_bytes())}


def test_real_catalogue_sample_parses_every_leaf(real):
    lines = REAL_TOC.read_text(encoding="utf-8").splitlines()
    leaves = {line.split("\t")[1].strip('"') for line in lines[1:] if line.split("\t")[2] in ('"dataset"', '"table"')}
    assert set(real) == leaves and len(real) == 276
    assert sum(e.type == "table" for e in real.values()) == 46


def test_real_catalogue_dates_themes_and_titles(real):
    e = real["demo_r_pjangrp3"]
    assert e.title == "Population on 1 January by age group, sex and NUTS 3 region"  # indentation stripped
    assert (e.update_data, e.update_structure, e.data_start, e.data_end) == ("2023-07-03", "2023-03-30", "2014", "2022")
    assert e.themes == ["data", "general", "reg", "reg_dem", "reg_dempoar"]
    assert e.values is None  # the 2023 file leaves the values column empty
    table = real["tgs00103"]
    assert table.type == "table" and table.themes[:2] == ["tb", "t_general"]


def test_regional_candidates_of_the_real_sample(real):
    assert regional_candidate(real["demo_r_pjangrp3"])
    assert regional_candidate(real["tgs00103"])  # "by NUTS 2 regions"
    assert not regional_candidate(real["ei_bsco_m"])  # consumer surveys, national
    assert not regional_candidate(real["nama_10_gdp"])


def test_a_dataset_listed_in_two_folders_is_one_entry_with_both_themes():
    text = REAL_TOC.read_text(encoding="utf-8").splitlines()
    header, first = text[0], text[1:5]
    twice = text + ['"Elsewhere"\t"other"\t"folder"\t" "\t" "\t" "\t" "\t',
                    '"    Again"\t"ei_bpm6iip_q"\t"dataset"\t"14.07.2023"\t"14.07.2023"\t"1992Q4"\t"2023Q1"\t']
    entries = {e.code: e for e in parse_toc_txt("\n".join(twice))}
    assert entries["ei_bpm6iip_q"].themes == ["data", "general", "euroind", "ei_bp", "other"]
    assert header and first


def test_not_a_catalogue_is_a_clear_error():
    with pytest.raises(ParseError, match="not Eurostat's text catalogue"):
        parse_toc_txt(b'{"error": "nope"}')
    with pytest.raises(ParseError, match="not Eurostat's XML catalogue"):
        parse_toc_xml(b"<html/>")


def test_nuts_levels_of_geo_codes():
    assert [nuts_level(c) for c in ("DE", "DE1", "DE11", "DE111", "EL30", "DEZZZ")] == [0, 1, 2, 3, 2, 3]
    assert [nuts_level(c) for c in ("EU27_2020", "EU28", "EA20", "EFTA", "DE_TOT")] == [None] * 5
    assert geo_levels({"geo": ["EU27_2020", "BE", "BE1", "BE10"], "time": ["2020"]}) == [0, 1, 2]
    assert geo_levels({"time": ["2020"]}) == []
    assert is_regional([0, 2]) and not is_regional([0]) and not is_regional([])


def test_standin_serves_the_catalogue_as_text_and_xml_in_the_real_shape():
    with StandIn(catalogue=10) as api:
        text = requests.get(f"{api.url}/catalogue/toc/txt?lang=en", timeout=10)
        xml = requests.get(f"{api.url}/eurostat/api/dissemination/catalogue/toc/xml", timeout=10)
        entries = EurostatClient(api.url).catalogue()
    assert text.status_code == 200 and xml.status_code == 200
    real_header = REAL_TOC.read_text(encoding="utf-8").splitlines()[0]
    assert text.text.splitlines()[0] == real_header
    folder_row = text.text.splitlines()[1]
    assert folder_row == '"Database by themes"\t"data"\t"folder"\t" "\t" "\t" "\t" "\t'  # as the real file writes it
    from_txt = {e.code: e for e in entries}
    from_xml = {e.code: e for e in parse_toc_xml(xml.content)}
    assert from_txt == from_xml
    synthetic = [c for c in from_txt if "_s0" in c]
    assert len(synthetic) == 10
    assert from_txt["demo_r_pjangrp3"].themes == ["data", "general", "reg", "reg_dem", "popul", "demo"]
    assert all(from_txt[c].values and from_txt[c].values > 0 for c in synthetic)


def test_standin_catalogue_dates_follow_revisions():
    with StandIn(catalogue=3) as api:
        client = EurostatClient(api.url)
        code = next(c for c in api.regional)
        before = {e.code: e for e in client.catalogue()}[code]
        api.revise(code)
        after = {e.code: e for e in client.catalogue()}[code]
        flow = client.dataflow(code)
    assert after.update_data > before.update_data
    assert flow.update_data.startswith(after.update_data)


def test_synthetic_regional_datasets_have_nuts_geo_and_national_ones_do_not():
    with StandIn(catalogue=25) as api:
        client = EurostatClient(api.url)
        national = [c for c in api.regional if "_nat" in c]
        regional = [c for c in api.regional if "_nat" not in c]
        assert len(national) == 1 and len(regional) == 25
        for code in regional[:6]:
            assert is_regional(geo_levels(client.content_constraint(code))), code
        assert geo_levels(client.content_constraint(national[0])) == [0]
        entry = {e.code: e for e in client.catalogue()}[national[0]]
    assert regional_candidate(entry)  # its title says "regions": only the content constraint tells
