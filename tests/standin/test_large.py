"""The scale-test dataset synth_r_large: any number of observations, harvested through slices planned from the API."""

from __future__ import annotations

import duckdb
import pytest

from multilevel.eurostat.harvest import harvest_dataset
from multilevel.standin import StandIn
from multilevel.standin.large import CODE


def test_the_large_dataset_is_served_only_when_asked_for_and_has_the_size_asked():
    with StandIn(size="small") as plain:
        assert CODE not in plain.datasets()
    with StandIn(size="small", large_obs=160_000) as api:
        assert CODE in api.datasets()
        cube = api.cube(CODE)
        # one indicator holds ~147,500 observations: 160,000 need two; the count is what OBS_COUNT reports
        assert cube.dim("indic_sy").codes == ["I0000", "I0001"]
        assert 160_000 <= cube.obs_count() < 2 * 160_000
    with pytest.raises(ValueError, match="large_obs"):
        StandIn(large_obs=-1)


def test_the_large_dataset_harvests_whole_through_slices_planned_from_the_content_constraint(settings, tmp_path):
    config = tmp_path / "datasets.yaml"
    config.write_text(f"datasets:\n  - code: {CODE}\n    nonnegative: true\n")
    settings.datasets_file = config
    settings.max_cells_per_request = 200_000  # one indicator (177,300 cells) per request
    with StandIn(size="small", large_obs=160_000) as api:
        settings.eurostat_url = api.url
        result = harvest_dataset(settings, CODE)
        expected = api.cube(CODE).obs_count()
        data_requests = [r for r in api.request_log if "/statistics/" in r[1]]
    assert result.status == "loaded"
    assert sorted(r[1].split("indic_sy=")[1][:5] for r in data_requests) == ["I0000", "I0001"]
    assert all(status == 200 for _, _, status in data_requests)
    with duckdb.connect(settings.warehouse_url.removeprefix("duckdb:///"), read_only=True) as db:
        rows, keys = db.execute(f"SELECT count(*), count(DISTINCT (indic_sy, sex, geo, time_period)) "
                                f"FROM eurostat.{CODE}").fetchone()
    assert rows == keys == expected == result.load.rows_inserted
