"""Stage and load an ESS file.

fetch -> read -> validate -> Parquet in the stage -> one transaction into ess.respondents.

Staged files: ``ess/{round}/{run_id}/respondents.parquet`` and ``manifest.json`` (rows, sha256, source file name).
Reloading a round deletes that round and inserts the staged rows in one transaction, so a reader sees the old round
or the new one, never a mix; a bad file fails before the warehouse is touched.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from multilevel.errors import InputFileError, StageError, WarehouseError
from multilevel.ess.config import RoundConfig, load_round
from multilevel.ess.reader import read_respondents
from multilevel.ess.validate import validate_respondents
from multilevel.httpclient import HttpClient
from multilevel.redaction import public_url
from multilevel.runs import check_run_id, new_run_id
from multilevel.settings import Settings
from multilevel.stage import Store, open_store, split_url
from multilevel.warehouse import Warehouse, connect, quote
from multilevel.workdir import remove_abandoned, work_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EssLoadResult:
    essround: int
    rows: int
    run_id: str
    parquet_url: str


def fetch_source(source: str, folder: Path, settings: Settings) -> Path:
    """A local copy of ``source`` (local path, file://, s3:// or https://)."""
    parsed = urlparse(source)
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else source)
        if not path.is_file():
            raise InputFileError(f"ESS file {path} does not exist; download it from the ESS Data Portal")
        return path
    target = folder / (Path(parsed.path).name or "ess.dta")
    if parsed.scheme == "s3":
        store, key = split_url(source)
        store.download(key, target)
        log.info("fetched %s", source)
        return target
    if parsed.scheme in ("http", "https"):
        # the project's one HTTP client: retries, timeouts and the total deadline; any host (portals redirect to
        # storage hosts) and no query in logs (a signed URL's query is a credential)
        http = HttpClient.from_settings(settings, any_host=True, log_query=False)
        shown = public_url(source)  # no userinfo, no query: a signed URL carries its signature there
        try:
            fetched = http.get(source, what=f"ESS file {shown}", to_file=target)
        finally:
            http.close()
        if fetched.status >= 400:
            raise InputFileError(f"{shown} answered HTTP {fetched.status}; check the URL")
        return target
    raise InputFileError(
        f"unsupported ESS source {public_url(source)!r}: use a path, file://, s3:// or https:// URL"
    )


def detect_round(path: Path) -> int:
    """The ESS round a file holds (its ``essround`` column), read without loading anything else."""
    import pyreadstat

    from multilevel.ess.reader import _check_stata, _read

    _check_stata(path)
    try:
        frame, _ = _read(path, usecols=["essround"], row_limit=1)
    except pyreadstat.ReadstatError as e:
        raise InputFileError(f"{path} is not a readable Stata file ({e})") from e
    if "essround" not in frame.columns or frame.empty:
        raise InputFileError(f"{path} has no essround column: it is not an ESS integrated file")
    return int(frame["essround"].iloc[0])


def to_parquet(df: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(df, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def stage_respondents(df: pd.DataFrame, store: Store, config: RoundConfig, run_id: str, source: str) -> str:
    """Write the Parquet file and its manifest; returns the Parquet key."""
    prefix = f"ess/{config.essround}/{run_id}"
    data = to_parquet(df)
    digest = store.put_immutable(f"{prefix}/respondents.parquet", data)
    manifest = {
        "essround": config.essround,
        "run_id": run_id,
        "rows": len(df),
        "sha256": digest,
        "columns": list(df.columns),
        "source": Path(urlparse(source).path).name,  # only the file name: URLs may carry signed tokens
        "staged_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.put_immutable(f"{prefix}/manifest.json", json.dumps(manifest, indent=2).encode())
    log.info("staged %s: %d rows", store.url_for(f"{prefix}/respondents.parquet"), len(df))
    return f"{prefix}/respondents.parquet"


def ensure_table(wh: Warehouse, config: RoundConfig) -> None:
    answer_columns = ",\n    ".join(
        f"{quote(a)} SMALLINT, {quote(a + '_missing')} VARCHAR(1)" for a in config.answers
    )
    wh.run_sql_file("ess/schema.sql")
    wh.run_sql_file("ess/respondents.sql", answer_columns=answer_columns)
    have = wh.columns_of("ess", "respondents")
    lacking = [c for c in config.table_columns if c not in have]
    if lacking:
        raise WarehouseError(
            f"ess.respondents lacks columns {lacking} that the ESS configuration needs; add them "
            "(ALTER TABLE ess.respondents ADD COLUMN ...) or drop the table to have it recreated"
        )


def load_staged(wh: Warehouse, store: Store, key: str, config: RoundConfig) -> int:
    """Replace the round in ess.respondents by the staged rows, in one transaction."""
    manifest = json.loads(store.read_bytes(key.rsplit("/", 1)[0] + "/manifest.json"))
    if store.checksum(key) != manifest["sha256"]:
        raise StageError(f"{store.url_for(key)} changed after staging (sha256 differs from its manifest)")
    ensure_table(wh, config)
    with wh.transaction():
        wh.lock(f"ess.respondents.{config.essround}", "ess.respondents")
        wh.run_sql_file("ess/delete_round.sql", params=[config.essround])
        count = wh.copy_parquet("ess.respondents", store, [key], config.table_columns)
        loaded = wh.query("SELECT COUNT(*) FROM ess.respondents WHERE essround = %s", [config.essround])[0][0]
        if loaded != manifest["rows"]:
            raise WarehouseError(
                f"ess.respondents round {config.essround}: {loaded} rows after load, manifest says "
                f"{manifest['rows']} (copy reported {count}); nothing was changed"
            )
    wh.analyze("ess.respondents")
    log.info("loaded ess.respondents round %d: %d rows", config.essround, loaded)
    return loaded


def load_ess(
    source: str, settings: Settings, essround: int | None = None, run_id: str | None = None
) -> EssLoadResult:
    """Everything ``multilevel ess load`` does: fetch, read, validate, stage, load, refresh reference and views."""
    from multilevel.ess.labels import read_labels, store_labels
    from multilevel.ess.views import create_context_views, missing_sources
    from multilevel.reference import load_reference

    run_id = check_run_id(run_id or new_run_id())
    remove_abandoned()  # working folders of runs that were killed
    with work_dir("ess") as tmp:
        path = fetch_source(source, tmp, settings)
        found = detect_round(path)
        if essround is not None and found != essround:
            raise InputFileError(f"{path.name} holds ESS round {found}, not round {essround} as asked")
        config = load_round(found)
        df = validate_respondents(read_respondents(path, config), config)
        labels = read_labels(path, config)
    store = open_store(settings.stage_url)
    key = stage_respondents(df, store, config, run_id, source)
    with connect(settings.warehouse_url, settings) as wh:
        rows = load_staged(wh, store, key, config)
        store_labels(wh, config.essround, labels)
        load_reference(wh)
        if not missing_sources(wh):
            create_context_views(wh)
        else:
            log.warning("context views not created yet: %s missing", ", ".join(missing_sources(wh)))
    return EssLoadResult(config.essround, rows, run_id, store.url_for(key))
