"""A small client for the three endpoints of Eurostat's dissemination API that the harvest uses.

- ``sdmx/2.1/dataflow/ESTAT/{code}?format=json``: annotations UPDATE_DATA / UPDATE_STRUCTURE (did it change?)
- ``sdmx/2.1/contentconstraint/ESTAT/{code}/1.0``: SDMX-ML listing the codes present per dimension (planning)
- ``statistics/1.0/data/{code}?format=JSON&lang=EN&dim=code...``: JSON-stat 2.0 data

Eurostat is a shared public service that is sometimes slow or overloaded, so every call has a timeout and
transient failures (connection errors, timeouts, 429, 5xx, a redirect to the "sorry" page, a truncated body) are
retried with exponential backoff and jitter, honouring ``Retry-After``, up to a cap. Error bodies become typed
errors that name the dataset, the filter and what to do.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

from multilevel.errors import ApiError, ApiUnavailable, ExtractionTooBig, ParseError
from multilevel.eurostat.catalogue import TOC_TXT_PATH, CatalogueEntry, parse_toc_txt

log = logging.getLogger(__name__)

USER_AGENT = "multilevel/0.1 (+https://github.com/multilevel; regional statistics harvester)"
SDMX_COMMON = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common}"
TRANSIENT_STATUS = {429, 500, 502, 503, 504}


class _Retry(Exception):
    """Internal: this attempt failed transiently; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


@dataclass(frozen=True)
class Dataflow:
    code: str
    label: str
    update_data: str | None
    update_structure: str | None
    obs_count: int | None


def describe_filters(filters: dict[str, list[str]]) -> str:
    return ", ".join(f"{dim}={'+'.join(codes)}" for dim, codes in filters.items()) or "(whole dataset)"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _decode(body: bytes) -> bytes:
    # Large answers sometimes arrive gzip-compressed without a Content-Encoding header: sniff the magic bytes.
    if body[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(body)
        except (OSError, EOFError) as e:
            raise _Retry(f"truncated gzip body ({e})") from e
    return body


class EurostatClient:
    """Talks to one base URL (the real API or the local stand-in)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.sleep = sleep

    @classmethod
    def from_settings(cls, settings) -> EurostatClient:
        return cls(
            settings.eurostat_url,
            timeout=settings.http_timeout_seconds,
            max_retries=settings.http_max_retries,
            backoff=settings.http_backoff_seconds,
            backoff_cap=settings.http_backoff_cap_seconds,
        )

    # --- the three endpoints ---------------------------------------------------------------------------------
    def dataflow(self, code: str) -> Dataflow:
        """Metadata of a dataset, including when its data and structure last changed."""
        body = self._get(f"sdmx/2.1/dataflow/ESTAT/{code}", {"format": "json"}, code, {})
        doc = self._json(body, code, "dataflow")
        annotations = {a.get("type"): a for a in (doc.get("extension") or {}).get("annotation", [])}
        if not annotations:
            raise ParseError(f"dataflow of {code} has no annotations; is {self.base_url} the Eurostat API?")

        def date(kind: str) -> str | None:
            a = annotations.get(kind) or {}
            return a.get("date") or a.get("title")

        obs = (annotations.get("OBS_COUNT") or {}).get("title")
        return Dataflow(code, doc.get("label", ""), date("UPDATE_DATA"), date("UPDATE_STRUCTURE"),
                        int(obs) if obs and str(obs).isdigit() else None)

    def catalogue(self) -> list[CatalogueEntry]:
        """Every dataset of Eurostat's table of contents (text form, English): one request for all of them."""
        return parse_toc_txt(self._get(TOC_TXT_PATH, {"lang": "en"}, "catalogue", {}))

    def content_constraint(self, code: str) -> dict[str, list[str]]:
        """Codes that actually occur, per dimension (lower-case dimension ids; time as ``time``)."""
        body = self._get(f"sdmx/2.1/contentconstraint/ESTAT/{code}/1.0", {}, code, {})
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise ParseError(f"content constraint of {code} is not SDMX-ML ({e})") from e
        codes: dict[str, list[str]] = {}
        for key_value in root.iter(f"{SDMX_COMMON}KeyValue"):
            dim = key_value.get("id", "").lower()
            dim = "time" if dim == "time_period" else dim
            codes.setdefault(dim, []).extend(v.text or "" for v in key_value.iter(f"{SDMX_COMMON}Value"))
        if not codes:
            raise ParseError(f"content constraint of {code} lists no dimensions; does the dataset exist?")
        return codes

    def data(self, code: str, filters: dict[str, list[str]]) -> bytes:
        """JSON-stat 2.0 body for the selection; ExtractionTooBig when the API refuses it as too large (413)."""
        params: list[tuple[str, str]] = [("format", "JSON"), ("lang", "EN")]
        for dim, values in filters.items():
            params.extend((dim, v) for v in values)
        body = self._get(f"statistics/1.0/data/{code}", params, code, filters)
        # A 413 may come as HTTP 200 with a warning instead of data: look at the head of the body only.
        if b'"warning"' in body[:512]:
            warning = self._json(body, code, "data").get("warning") or {}
            if warning.get("status") == 413:
                raise ExtractionTooBig(
                    f"{code} [{describe_filters(filters)}]: the API would answer asynchronously "
                    f"({warning.get('label', '')}); split the request"
                )
        return body

    # --- plumbing --------------------------------------------------------------------------------------------
    @staticmethod
    def _json(body: bytes, code: str, what: str) -> dict:
        try:
            return json.loads(body)
        except ValueError as e:
            raise ParseError(f"{what} answer for {code} is not JSON ({e}); first bytes: {body[:80]!r}") from e

    def _get(self, path: str, params, code: str, filters: dict[str, list[str]]) -> bytes:
        url = f"{self.base_url}/{path}"
        if params:
            url = f"{url}?{urlencode(params)}"
        attempt = 0
        while True:
            try:
                return self._attempt(url, code, filters)
            except _Retry as retry:
                attempt += 1
                if attempt > self.max_retries:
                    raise ApiUnavailable(
                        f"Eurostat API failed {attempt} times for {code} [{describe_filters(filters)}]: {retry}. "
                        "It is probably overloaded or down; run again later."
                    ) from None
                wait = min(self.backoff_cap, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                if retry.wait is not None:
                    wait = min(self.backoff_cap, max(wait, retry.wait))
                log.warning("retry %d/%d in %.1fs: %s", attempt, self.max_retries, wait, retry)
                self.sleep(wait)

    def _attempt(self, url: str, code: str, filters: dict[str, list[str]]) -> bytes:
        started = time.perf_counter()
        status: int | str = "-"
        size = 0
        try:
            response = self.session.get(url, timeout=self.timeout)
            status = response.status_code
            body = response.content  # raises on a body shorter than its Content-Length
            size = len(body)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            status = type(e).__name__
            raise _Retry(f"{type(e).__name__}: {e}") from e
        finally:
            log.info("GET %s %s %d bytes %.2fs", url, status, size, time.perf_counter() - started)

        if response.history and any(word in response.url.lower() for word in ("sorry", "maintenance")):
            raise _Retry(f"redirected to {response.url} (the API's overload page)")
        if status in TRANSIENT_STATUS:
            raise _Retry(f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))
        body = _decode(body)
        if status == 413:
            raise ExtractionTooBig(f"{code} [{describe_filters(filters)}]: EXTRACTION_TOO_BIG; split the request")
        if status >= 400:
            raise self._error(status, body, code, filters)
        is_json = "json" in (response.headers.get("Content-Type") or "") and body[:1] in (b"{", b"[")
        if is_json and not _complete_json(body):
            raise _Retry("truncated JSON body")
        return body

    @staticmethod
    def _error(status: int, body: bytes, code: str, filters: dict[str, list[str]]) -> ApiError:
        api_id, label = None, body[:200].decode("utf-8", "replace")
        try:
            first = (json.loads(body).get("error") or [{}])[0]
            api_id, label = first.get("id"), first.get("label", label)
        except (ValueError, AttributeError, IndexError):
            pass
        if status == 404:
            hint = f"check that dataset {code!r} exists (Eurostat's data browser) and is spelled right in datasets.yaml"
        elif status == 400:
            hint = f"check the filter's dimension names against the dataset's structure ({describe_filters(filters)})"
        else:
            hint = "check the request; this is not a transient failure"
        return ApiError(
            f"Eurostat API answered HTTP {status} (id {api_id}: {label}) "
            f"for {code} [{describe_filters(filters)}]: {hint}",
            status=status, api_id=api_id,
        )


def _complete_json(body: bytes) -> bool:
    """Cheap truncation check: a JSON document ends with its closing bracket (allowing trailing whitespace)."""
    tail = body.rstrip()[-1:]
    return tail in (b"}", b"]")
