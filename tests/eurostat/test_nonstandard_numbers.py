"""NaN and Infinity are not JSON: a body holding them is a parse error, whichever JSON decoder the parser uses.

Python's ``json`` accepts the literals (and overflows ``1e999`` to infinity); a stricter decoder rejects them itself.
Both routes must end in ParseError, never in a silently dropped observation: the text cases go through the decoder,
the dict cases hand the parser what a lenient decoder would have produced.
"""

from __future__ import annotations

import json

import pytest

from multilevel.errors import ParseError
from multilevel.eurostat.jsonstat import parse_jsonstat


def body(values) -> dict:
    return {
        "version": "2.0", "class": "dataset", "id": ["geo", "time"], "size": [2, 2],
        "dimension": {"geo": {"category": {"index": {"DE": 0, "FR": 1}}},
                      "time": {"category": {"index": {"2020": 0, "2021": 1}}}},
        "value": values, "extension": {"id": "DEMO"},
    }


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
@pytest.mark.parametrize("shape", ["sparse", "array"])
def test_a_non_standard_number_in_the_text_is_a_parse_error(literal, shape):
    values = {"0": 1.5, "1": "X", "3": 2.0} if shape == "sparse" else [1.5, "X", None, 2.0]
    text = json.dumps(body(values)).replace('"X"', literal)
    with pytest.raises(ParseError, match="NaN|Infinity|infinite"):
        parse_jsonstat(text.encode())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("shape", ["sparse", "array"])
def test_a_non_finite_value_from_a_lenient_decoder_is_a_parse_error(bad, shape):
    values = {"0": 1.5, "1": bad, "3": 2.0} if shape == "sparse" else [1.5, bad, None, 2.0]
    with pytest.raises(ParseError, match="NaN or an infinite number"):
        parse_jsonstat(body(values))


def test_null_still_marks_a_missing_value():
    parsed = parse_jsonstat(body([1.5, None, None, 2.0]))
    assert parsed.frame["value"].tolist() == [1.5, 2.0]
    parsed = parse_jsonstat(json.dumps(body({"0": 1.5, "2": None})).encode())
    assert parsed.frame["value"].tolist() == [1.5]
