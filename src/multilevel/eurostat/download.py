"""Download one slice, splitting it further whenever the API refuses a request as too big (HTTP 413).

The split order follows how Eurostat data is shaped: first by country (the first two letters of geo, which keeps
a country's NUTS 1-3 regions together), then by halving the time periods, then by halving the geo codes. Every
refused request is replaced by requests that together select exactly the same cells, so nothing is dropped; a
request that cannot be split any further is an error.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable

from multilevel.errors import ExtractionTooBig
from multilevel.eurostat.client import EurostatClient, describe_filters
from multilevel.eurostat.plan import Plan, Slice
from multilevel.settings import Settings
from multilevel.stage import open_store

log = logging.getLogger(__name__)


def _halves(filters: dict[str, list[str]], dim: str) -> list[dict[str, list[str]]]:
    codes = filters[dim]
    mid = len(codes) // 2
    return [{**filters, dim: codes[:mid]}, {**filters, dim: codes[mid:]}]


def split_request(filters: dict[str, list[str]], split_codes: dict[str, list[str]]) -> list[dict[str, list[str]]]:
    """Smaller requests covering exactly the cells of ``filters``; [] when it cannot be split further."""
    if "geo" not in filters and split_codes.get("geo"):
        by_country: dict[str, list[str]] = {}
        for code in split_codes["geo"]:
            by_country.setdefault(code[:2], []).append(code)
        if len(by_country) > 1:
            return [{**filters, "geo": codes} for codes in by_country.values()]
        filters = {**filters, "geo": split_codes["geo"]}
    if "time" not in filters and len(split_codes.get("time", [])) > 1:
        return _halves({**filters, "time": split_codes["time"]}, "time")
    if len(filters.get("time", [])) > 1:
        return _halves(filters, "time")
    if len(filters.get("geo", [])) > 1:
        return _halves(filters, "geo")
    return []


def download_slice(client: EurostatClient, plan: Plan, slice_: Slice, write_part: Callable[[int, bytes], None]) -> int:
    """Fetch every part of a slice, handing each JSON-stat body to ``write_part(n, body)``. Returns the part count."""
    pending = [slice_.filters]
    parts = 0
    while pending:
        filters = pending.pop(0)
        try:
            body = client.data(plan.dataset, filters)
        except ExtractionTooBig as too_big:
            smaller = split_request(filters, plan.split_codes)
            if not smaller:
                raise ExtractionTooBig(
                    f"{plan.dataset} [{describe_filters(filters)}] is too big even as one geo and one period; "
                    "add filters for this dataset in datasets.yaml or ask Eurostat for a bulk download"
                ) from too_big
            log.info("split %s [%s] into %d requests", plan.dataset, describe_filters(filters), len(smaller))
            pending[:0] = smaller
            continue
        write_part(parts, body)
        parts += 1
    return parts


# --- the download step ----------------------------------------------------------------------------------------
# How raw parts are kept between the download and validate steps: gzip where they travel (the stage, S3, between
# Argo pods), as received in `multilevel harvest`'s own working folder (compressing there only costs CPU).
PART_ENCODINGS = {"gzip": ".json.gz", "identity": ".json"}


def download_step(settings: Settings, plan: Plan, slice_id: str, out: str,
                  client: EurostatClient | None = None, *, compress: bool = True) -> int:
    """Write the slice's JSON-stat bodies as ``part-NNNN.json.gz`` (``.json`` without ``compress``) under ``out``;
    returns the number of parts."""
    client = client or EurostatClient.from_settings(settings)
    raw = open_store(out, durable=False)
    encoding = "gzip" if compress else "identity"
    suffix = PART_ENCODINGS[encoding]

    def write_part(n: int, body: bytes) -> None:
        raw.write_bytes(f"part-{n:04d}{suffix}", gzip.compress(body, 1) if compress else body)

    # parts.json is written last and says how many parts count, so a retried attempt that split differently
    # never mixes its parts with a previous attempt's leftovers.
    parts = download_slice(client, plan, plan.slice(slice_id), write_part)
    raw.write_bytes("parts.json", json.dumps({"parts": parts, "encoding": encoding}).encode())
    return parts
