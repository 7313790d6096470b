"""The product's promise end to end: harvest + ESS load in either order give the regional-context views."""

import pytest

from multilevel.ess.load import load_ess
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.paths import DATA_DIR
from multilevel.warehouse import connect

ESS_FILE = DATA_DIR / "ess9_synthetic.dta"


def coverage(settings):
    with connect(settings.warehouse_url) as wh:
        return wh.query_df("SELECT * FROM analytics.ess_join_coverage ORDER BY cntry")


@pytest.mark.parametrize("ess_first", [True, False], ids=["ess-then-harvest", "harvest-then-ess"])
def test_context_views_exist_whichever_load_comes_last(settings, api, ess_first):
    if ess_first:
        load_ess(str(ESS_FILE), settings)
    for dataset in ("demo_r_pjanind3", "demo_r_pjangrp3"):
        harvest_dataset(settings, dataset)
    if not ess_first:
        load_ess(str(ESS_FILE), settings)
    table = coverage(settings)
    assert table["respondents"].sum() == 3000
    split = ["own_boundary", "coarser_region", "country", "none"]
    assert (table[split].sum(axis=1) == table["respondents"]).all()
    # the small stand-in serves EE, ME and MT only: no ESS9 country of the synthetic file has context, and none of
    # them may be counted as regional
    assert (table["none"] == table["respondents"]).all()
