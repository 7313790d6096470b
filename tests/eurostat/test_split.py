"""Splitting a request the API refused as too big: the parts must select exactly the same cells."""

from itertools import product

from multilevel.eurostat.download import split_request

CODES = {"geo": ["AT", "AT1", "AT11", "BE", "BE1", "DE", "DE1", "DE11"], "time": ["2021", "2022", "2023"]}


def cells(filters):
    return set(product(filters.get("geo", CODES["geo"]), filters.get("time", CODES["time"])))


def test_first_split_is_by_country_prefix():
    parts = split_request({"age": ["TOTAL"]}, CODES)
    assert [p["geo"] for p in parts] == [["AT", "AT1", "AT11"], ["BE", "BE1"], ["DE", "DE1", "DE11"]]
    assert all(p["age"] == ["TOTAL"] for p in parts)


def test_repeated_splits_cover_every_cell_exactly_once_and_end():
    pending, leaves = [{"age": ["TOTAL"]}], []
    while pending:
        f = pending.pop()
        smaller = split_request(f, CODES)
        if smaller:
            pending.extend(smaller)
        else:
            leaves.append(f)
    covered = [c for leaf in leaves for c in cells(leaf)]
    assert len(covered) == len(set(covered)) == len(CODES["geo"]) * len(CODES["time"])
    assert all(len(leaf["geo"]) == 1 and len(leaf["time"]) == 1 for leaf in leaves)


def test_one_geo_one_period_cannot_be_split():
    assert split_request({"geo": ["AT11"], "time": ["2021"]}, CODES) == []
