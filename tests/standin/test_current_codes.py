"""The stand-in's current-codes mode (standin/current_codes.py): chosen per stand-in, other countries unchanged."""

from __future__ import annotations

import pytest

from multilevel.standin import StandIn
from multilevel.standin.current_codes import geo_list


def served_years(geo, code: str) -> list[int]:
    i = geo.codes.index(code)
    return [y for y, ok in zip(geo.years, geo.valid[i], strict=True) if ok]


def test_only_the_named_countries_move_to_current_codes():
    years = [2017, 2019, 2021, 2024]
    geo = geo_list(years, {"NO", "EE"}, frozenset({"NO"}))
    assert served_years(geo, "NO083") == years  # NUTS 2024 code back-cast over every year
    assert served_years(geo, "NO01") == [2017, 2019] and geo.labels["NO01"].endswith("(NUTS 2016)")
    assert "NO03" not in geo.codes and "NO082" not in geo.codes
    # Estonia keeps the default: each year in the NUTS version in force for it
    assert served_years(geo, "EE009") == [2021, 2024] and served_years(geo, "EE006") == [2017, 2019]


def test_default_stand_in_is_unchanged_and_unknown_countries_are_refused():
    with StandIn(size="small") as api:
        assert api.current_codes == frozenset() and api.state()["current_codes"] == []
    with pytest.raises(ValueError, match="XX are not in the stand-in's NUTS list"):
        StandIn(current_codes=["XX"])
