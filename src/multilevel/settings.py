"""Settings, read from the environment (prefix ``MULTILEVEL_``), a ``.env`` file or mounted secret files.

Three names are part of the product's contract and never change meaning:

- ``MULTILEVEL_EUROSTAT_URL``: base of the Eurostat dissemination API;
- ``MULTILEVEL_STAGE_URL``: where validated files are staged (a folder, ``file:///...`` or ``s3://bucket/prefix``);
- ``MULTILEVEL_WAREHOUSE_URL``: ``duckdb:///path.duckdb``, ``postgresql://...`` or ``redshift://...``.

Secrets (warehouse password) are ``SecretStr``: they are read from ``MULTILEVEL_WAREHOUSE_PASSWORD`` or from a file
of that name in ``/run/secrets`` (how Kubernetes mounts a Secret) and are never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from multilevel.redaction import query_passwords, register, split_credentials

REAL_EUROSTAT_URL = "https://ec.europa.eu/eurostat/api/dissemination"
HOME = Path(os.environ.get("MULTILEVEL_HOME", ".multilevel"))
SECRETS_DIR = "/run/secrets"


def _cores() -> int:
    """The cores this process may use (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything a step needs to know about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="MULTILEVEL_",
        env_file=".env",
        extra="ignore",
        secrets_dir=SECRETS_DIR if Path(SECRETS_DIR).is_dir() else None,
    )

    eurostat_url: str = Field(REAL_EUROSTAT_URL, description="Base URL of the Eurostat dissemination API.")
    stage_url: str = Field(str(HOME / "stage"), description="Folder, file:// or s3:// URL for staged files.")
    # repr=False: the URL may hold the password; printing the settings must not show it
    warehouse_url: str = Field(f"duckdb:///{HOME / 'warehouse.duckdb'}", description="Warehouse connection URL.",
                               repr=False)
    warehouse_password: SecretStr | None = Field(None, description="Password, if not in the URL (kept secret).")
    datasets_file: Path | None = Field(None, description="Dataset configuration; default: the packaged one.")
    context_file: Path | None = Field(
        None, description="Context variables and reference dates (indicators.yaml format); default: the packaged one."
    )

    # Eurostat is a shared public service: keep concurrency small and every call bounded.
    max_concurrent_downloads: int = Field(3, ge=1, le=16)
    # Parsing and validating slices is CPU-bound: one worker process per core (0: in the harvest process itself).
    slice_processes: int = Field(default_factory=lambda: _cores(), ge=0, le=64)
    http_timeout_seconds: float = Field(60.0, gt=0, description="Read timeout: the longest pause between two bytes.")
    http_connect_timeout_seconds: float = Field(10.0, gt=0)
    http_deadline_seconds: float = Field(
        600.0, gt=0, description="Total time one attempt may take, however slowly the server sends."
    )
    http_async_wait_seconds: float = Field(
        1800.0, ge=0, description="How long to wait for an extraction Eurostat prepares asynchronously."
    )
    http_async_pause_seconds: float = Field(
        10.0, gt=0, description="First pause before asking again for an asynchronous extraction; doubles, to 120 s."
    )
    http_allowed_hosts: str = Field(
        "", description="Extra hosts (comma-separated) the API may redirect to, besides Eurostat's and its own."
    )
    http_max_body_bytes: int = Field(
        256 * 2**20, ge=1, description="Largest API answer read into memory; a larger one is refused as it arrives."
    )
    http_max_retries: int = Field(5, ge=0)
    http_backoff_seconds: float = Field(1.0, ge=0, description="First backoff; doubles each retry, with jitter.")
    http_backoff_cap_seconds: float = Field(60.0, ge=0)

    # Cells (empty ones included) one data request may select; automatic slicing stays under it. The real API
    # refuses about 5 million; a smaller request also bounds the memory of the validate step (one slice at a time).
    max_cells_per_request: int = Field(1_000_000, ge=1)
    # Slices one run of one dataset may fan out to (one download/validate/stage task each, one Argo pod each): a plan
    # over it is refused before anything is downloaded (a split on a dimension with thousands of codes, a tiny
    # max_cells_per_request). 1000 slices of 1M cells cover a billion-cell dataset.
    max_slices_per_run: int = Field(1000, ge=1)
    # Daily check: a dataset is stale when its last check, or an update Eurostat published that is not loaded
    # yet, is older than this (``multilevel status`` exits non-zero).
    stale_after_hours: float = Field(36.0, gt=0)

    # DuckDB: memory the warehouse may use before it spills to disk (a DuckDB size: 128MB, 2GB). The default keeps a
    # load's process near DuckDB's own CREATE TABLE AS of the same rows: `multilevel load` of a 1.65M-row revision
    # (a process that imports no parse stack) peaks at 357 MiB RSS with 256MB, 231 MiB with 128MB, at the same
    # speed (3.4-4.4 s either way on 2 shared cores; notes of issue 10, session 4).
    duckdb_memory_limit: str = "128MB"
    # DuckDB never reuses the blocks a revision frees inside the file; `multilevel load` and `harvest` copy the file
    # into a new one when at least this fraction of its blocks is free (1: only `multilevel compact --force`).
    duckdb_compact_free_fraction: float = Field(0.25, gt=0, le=1)

    # Stage retention: after a successful load, keep this many runs per dataset (the loaded one included), delete
    # older ones. Each run is a full copy of its dataset, so the stage stays at about this many copies.
    stage_keep_runs: int = Field(3, ge=1, le=1000)

    # Validation: a slice may shrink by at most this fraction compared with the rows currently loaded.
    max_row_drop_fraction: float = Field(0.05, ge=0, le=1)
    # Split codes that vanished from the API close their current rows; over max_row_drop_fraction of the current view
    # that fails (a partial answer from an overloaded API), unless this says Eurostat really dropped them (one run).
    accept_vanished_codes: bool = False
    # Stage folders of runs that never loaded (killed or failed) are deleted by the next plan of their dataset once
    # they are this old (younger ones may still be running elsewhere).
    orphan_run_hours: float = Field(24.0, ge=0)
    # An UPDATE_DATA older than the last load is a stale mirror or cache and is refused, unless this is set (one run).
    accept_older_data: bool = False

    # Redshift: the role COPY assumes to read the stage bucket (no access keys in SQL, ever).
    redshift_iam_role: str | None = None

    log_level: str = "INFO"


def load_settings(**overrides) -> Settings:
    """Read the settings; keyword overrides win over the environment (used by tests and the CLI).

    Secrets found (the warehouse password, from a file, the environment or the URL) are registered with
    ``multilevel.redaction`` so that no log line or message can show them.
    """
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    password = settings.warehouse_password.get_secret_value() if settings.warehouse_password else None
    register(password, split_credentials(settings.warehouse_url)[1], *query_passwords(settings.warehouse_url))
    return settings
