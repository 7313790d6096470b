"""The worked MixedLM example of docs/analysis.md runs as written on the synthetic ESS9 export."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))
import standin_eurostat  # noqa: E402

from multilevel import paths  # noqa: E402
from multilevel.context.export import round_frame, write_export  # noqa: E402
from multilevel.ess.load import load_ess  # noqa: E402
from multilevel.settings import Settings  # noqa: E402
from multilevel.warehouse import connect  # noqa: E402

DOC = paths.ROOT / "docs" / "analysis.md"


def test_worked_example_runs(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with connect(url) as wh:
        standin_eurostat.create(wh, tmp_path / "es")
    load_ess(str(paths.DATA_DIR / "ess9_synthetic.dta"),
             Settings(_env_file=None, stage_url=str(tmp_path / "stage"), warehouse_url=url))
    with connect(url) as wh:
        frame = round_frame(wh, 9)
    write_export(frame, "parquet", tmp_path / "ess9_context.parquet")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(DOC), "exec"), scope)  # noqa: S102 - the documented example, as written
    result = scope["result"]
    own = frame[frame["method"].isin(["published", "recoded", "reconstructed"])].dropna(subset=["trstprl"])
    assert scope["regions"] == own.groupby(["cntry", "region"]).ngroups > 50
    assert "median_age_c" in result.params.index and abs(result.params["median_age_c"]) < 1
    assert 0 <= scope["icc"] < 0.2
    assert "Mixed Linear Model Regression Results" in out.getvalue()
