"""A small client for the three endpoints of Eurostat's dissemination API that the harvest uses.

- ``sdmx/2.1/dataflow/ESTAT/{code}?format=json``: annotations UPDATE_DATA / UPDATE_STRUCTURE / DISSEMINATION_*
  (did it change?)
- ``sdmx/2.1/contentconstraint/ESTAT/{code}/1.0``: SDMX-ML listing the codes present per dimension (planning)
- ``statistics/1.0/data/{code}?format=JSON&lang=EN&dim=code...``: JSON-stat 2.0 data

Transport (timeouts, the total deadline, retries, redirects, content checks) is ``multilevel.httpclient``'s,
shared with the ESS download. This module reads the API's own answers:

- a 413 (or a 200 with a ``warning``) is read by its label. ``EXTRACTION_TOO_BIG`` (over 5,000,000 cells) means
  split the request (``ExtractionTooBig``); ``ASYNCHRONOUS_RESPONSE`` means Eurostat is preparing the extraction:
  the same request is asked again, with growing pauses, until it is served from Eurostat's cache or
  ``async_wait`` seconds have passed (Eurostat's "Asynchronous API" guide: the system first looks the exact same
  request up in its cache; the Statistics API's label says "Please try again later");
- error bodies ``{"error":[{"status":..,"id":..,"label":..}]}`` become typed errors that name the dataset, the
  filter and what to do; id 100 "No results found" is told apart from a wrong request.
"""

from __future__ import annotations

import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from multilevel.errors import ApiError, ApiUnavailable, ExtractionTooBig, ParseError
from multilevel.eurostat.catalogue import TOC_TXT_PATH, CatalogueEntry, parse_toc_txt
from multilevel.httpclient import EUROSTAT_HOSTS, Fetched, HttpClient, HttpPolicy

log = logging.getLogger(__name__)

SDMX_COMMON = "{http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common}"
ASYNC_LABEL = "ASYNCHRONOUS_RESPONSE"
TOO_BIG_LABEL = "EXTRACTION_TOO_BIG"
NO_RESULTS_ID = 100
# The annotations that say when Eurostat last (re)published a dataset: a re-dissemination moves the
# DISSEMINATION_TIMESTAMP_DATA while UPDATE_DATA stays (seen in real bodies: UPDATE_DATA 2014, dissemination 2025).
VERSION_ANNOTATIONS = ("UPDATE_DATA", "UPDATE_STRUCTURE", "DISSEMINATION_TIMESTAMP_DATA")


@dataclass(frozen=True)
class Dataflow:
    code: str
    label: str
    update_data: str | None
    update_structure: str | None
    obs_count: int | None
    disseminated: str | None = None  # DISSEMINATION_TIMESTAMP_DATA


@dataclass
class ClientStats:
    """Counters a run reports: requests, asynchronous waits and the seconds spent in them."""

    requests: int = 0
    async_waits: int = 0
    async_seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)


class _AsyncPending(Exception):
    """Internal: the API is preparing this extraction asynchronously."""


def describe_filters(filters: dict[str, list[str]]) -> str:
    return ", ".join(f"{dim}={'+'.join(codes)}" for dim, codes in filters.items()) or "(whole dataset)"


def _sentence(text: str) -> str:
    """An API label without its final full stop, so that messages never read '..'."""
    return str(text).strip().rstrip(".")


class EurostatClient:
    """Talks to one base URL (the real API or the local stand-in)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        deadline: float = 600.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        backoff_cap: float = 60.0,
        async_wait: float = 1800.0,
        async_pause: float = 10.0,
        allowed_hosts: tuple[str, ...] = (),
        http: HttpClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.async_wait = async_wait
        self.async_pause = async_pause
        self.sleep = sleep
        self.stats = ClientStats()
        if http is None:
            from urllib.parse import urlsplit

            own = urlsplit(self.base_url).hostname or ""
            policy = HttpPolicy(
                connect_timeout=min(connect_timeout, timeout), read_timeout=timeout, deadline=deadline,
                max_retries=max_retries, backoff=backoff, backoff_cap=backoff_cap,
                allowed_hosts=tuple(dict.fromkeys((*EUROSTAT_HOSTS, own, *allowed_hosts))),
            )
            http = HttpClient(policy, sleep=sleep)
        self.http = http

    @classmethod
    def from_settings(cls, settings) -> EurostatClient:
        return cls(
            settings.eurostat_url,
            async_wait=settings.http_async_wait_seconds,
            async_pause=settings.http_async_pause_seconds,
            http=HttpClient.from_settings(settings, settings.eurostat_url),
        )

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session (for a cheap reachability ping)."""
        return self.http.session

    # --- the three endpoints ---------------------------------------------------------------------------------
    def dataflow(self, code: str) -> Dataflow:
        """Metadata of a dataset, including when its data and structure last changed."""
        body = self._get(f"sdmx/2.1/dataflow/ESTAT/{code}", {"format": "JSON"}, code, {}, "json")
        doc = self._json(body, code, "dataflow")
        annotations = {a.get("type"): a for a in (doc.get("extension") or {}).get("annotation", [])}
        if not annotations:
            raise ParseError(f"dataflow of {code} has no annotations; is {self.base_url} the Eurostat API?")

        def date(kind: str) -> str | None:
            a = annotations.get(kind) or {}
            return a.get("date") or a.get("title")

        obs = (annotations.get("OBS_COUNT") or {}).get("title")
        return Dataflow(code, doc.get("label", ""), date("UPDATE_DATA"), date("UPDATE_STRUCTURE"),
                        int(obs) if obs and str(obs).isdigit() else None, date("DISSEMINATION_TIMESTAMP_DATA"))

    def catalogue(self) -> list[CatalogueEntry]:
        """Every dataset of Eurostat's table of contents (text form, English): one request for all of them."""
        return parse_toc_txt(self._get(TOC_TXT_PATH, {"lang": "en"}, "catalogue", {}, "text"))

    def content_constraint(self, code: str) -> dict[str, list[str]]:
        """Codes that actually occur, per dimension (lower-case dimension ids; time as ``time``)."""
        body = self._get(f"sdmx/2.1/contentconstraint/ESTAT/{code}/1.0", {}, code, {}, "xml")
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
        """JSON-stat 2.0 body for the selection.

        ExtractionTooBig when the API refuses it as too large; an asynchronous answer is waited for (the same
        request again, until Eurostat serves it from its cache) within ``async_wait`` seconds.
        """
        params: list[tuple[str, str]] = [("format", "JSON"), ("lang", "EN")]
        for dim, values in filters.items():
            params.extend((dim, v) for v in values)
        path = f"statistics/1.0/data/{code}"
        started = time.monotonic()
        pause = self.async_pause
        while True:
            try:
                return self._get(path, params, code, filters, "json")
            except _AsyncPending as pending:
                waited = time.monotonic() - started
                if waited + pause > self.async_wait:
                    raise ApiUnavailable(
                        f"{code} [{describe_filters(filters)}]: Eurostat is still preparing this extraction "
                        f"asynchronously after {waited:.0f}s (limit {self.async_wait:g}s, "
                        "MULTILEVEL_HTTP_ASYNC_WAIT_SECONDS); run again later: the prepared extraction is cached"
                    ) from None
                self.stats.async_waits += 1
                self.stats.async_seconds += pause
                # its own log line; ``async_pause`` lets the terminal display count waits and seconds (progress.py)
                log.warning("async %s [%s]: %s; asking again in %.0fs (waited %.0fs of %.0fs)", code,
                            describe_filters(filters), pending, pause, waited, self.async_wait,
                            extra={"async_pause": pause})
                self.sleep(pause)
                pause = min(pause * 2, 120.0)

    # --- plumbing --------------------------------------------------------------------------------------------
    @staticmethod
    def _json(body: bytes, code: str, what: str) -> dict:
        try:
            return json.loads(body)
        except ValueError as e:
            raise ParseError(f"{what} answer for {code} is not JSON ({e}); first bytes: {body[:80]!r}") from e

    def _get(self, path: str, params, code: str, filters: dict[str, list[str]], expect: str) -> bytes:
        url = f"{self.base_url}/{path}"
        if params:
            url = f"{url}?{urlencode(params)}"
        what = f"{code} [{describe_filters(filters)}]"
        self.stats.requests += 1
        fetched = self.http.get(url, what=what, expect=expect)
        return self._read(fetched, code, filters)

    def _read(self, fetched: Fetched, code: str, filters: dict[str, list[str]]) -> bytes:
        status, body = fetched.status, fetched.body
        label, api_id = "", None
        if status >= 400 or b'"warning"' in body[:512]:
            label, api_id = _label(body)
        if status == 413 or (status == 200 and label and b'"warning"' in body[:512]):
            if ASYNC_LABEL in label.upper():
                raise _AsyncPending(_sentence(label))
            if status == 413 or TOO_BIG_LABEL in label.upper() or "413" in str(api_id):
                raise ExtractionTooBig(
                    f"{code} [{describe_filters(filters)}]: {_sentence(label) or TOO_BIG_LABEL}; split the request"
                )
        if status >= 400:
            raise self._error(status, api_id, label or body[:200].decode("utf-8", "replace"), code, filters)
        return body

    @staticmethod
    def _error(status: int, api_id, label: str, code: str, filters: dict[str, list[str]]) -> ApiError:
        label = _sentence(label)
        if api_id == NO_RESULTS_ID and status == 400 and filters:
            hint = (f"the selection {describe_filters(filters)} holds no data; check each code against the "
                    "dataset's content constraint (`multilevel plan` lists them)")
        elif status == 404 or api_id == NO_RESULTS_ID:
            hint = f"check that dataset {code!r} exists (Eurostat's data browser) and is spelled right in datasets.yaml"
        elif status == 400:
            hint = f"check the filter's dimension names against the dataset's structure ({describe_filters(filters)})"
        else:
            hint = "check the request; this is not a transient failure"
        return ApiError(
            f"Eurostat API answered HTTP {status} (id {api_id}: {label}) for {code} [{describe_filters(filters)}]: "
            f"{hint}",
            status=status, api_id=api_id,
        )


def _label(body: bytes) -> tuple[str, object]:
    """(label, id) of an API error or warning body; ("", None) if the body is neither."""
    try:
        doc = json.loads(body)
    except ValueError:
        return "", None
    if not isinstance(doc, dict):
        return "", None
    entry = doc.get("error") or doc.get("warning")
    if isinstance(entry, list):
        entry = entry[0] if entry else {}
    if not isinstance(entry, dict):
        return (str(entry) if entry else ""), None
    return str(entry.get("label") or ""), entry.get("id", entry.get("status"))
