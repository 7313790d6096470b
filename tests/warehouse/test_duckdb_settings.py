"""DuckDB takes its memory limit from the settings (so a merge spills instead of growing) and checkpoints loads."""

import pytest

from multilevel.errors import ConfigError
from multilevel.warehouse import connect


def test_memory_limit_comes_from_the_settings(settings, tmp_path):
    settings.duckdb_memory_limit = "300MB"
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}", settings) as wh:
        limit = wh.query("SELECT current_setting('memory_limit')")[0][0]
    assert limit.startswith("286") and "MiB" in limit  # 300 MB in DuckDB's own units


def test_a_default_limit_applies_without_settings(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        assert wh.query("SELECT current_setting('memory_limit')")[0][0].startswith("122")  # 128MB


@pytest.mark.parametrize("bad", ["lots", "512MB'; DROP TABLE x; --", ""])
def test_a_bad_memory_limit_is_a_config_error_naming_the_setting(settings, tmp_path, bad):
    settings.duckdb_memory_limit = bad
    with pytest.raises(ConfigError, match="MULTILEVEL_DUCKDB_MEMORY_LIMIT"):
        connect(f"duckdb:///{tmp_path / 'w.duckdb'}", settings)
