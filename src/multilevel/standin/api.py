"""The stand-in's API routes: what each request of the real URL shapes answers, as an ``Answer``.

Routes (relative to the base URL; the real prefix ``/eurostat/api/dissemination`` is stripped before)::

    GET /sdmx/2.1/dataflow/ESTAT/{code}[/1.0]?format=json     dataflow JSON (SDMX-ML without format=json)
    GET /sdmx/2.1/contentconstraint/ESTAT/{code}/1.0          SDMX-ML ContentConstraint
    GET /statistics/1.0/data/{code}?format=JSON&lang=EN&{dim}={code}...   JSON-stat 2.0
    GET /catalogue/toc/txt?lang=en                            the table of contents, text (see catalogue.py)
    GET /catalogue/toc/xml                                    the table of contents, XML
    GET /sorry/index.html                                     the "sorry" page a ``sorry`` fault redirects to
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from multilevel.standin import catalogue as toc
from multilevel.standin import render
from multilevel.standin.contract import ServedAPI
from multilevel.standin.cube import Cube

SORRY_PATH = "/sorry/index.html"
ASYNC_LABEL = "ASYNCHRONOUS_RESPONSE. Your request will be treated asynchronously. Please try again later."
REAL_PREFIX = "/eurostat/api/dissemination"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=UTF-8"
SDMX_XML_TYPE = "application/vnd.sdmx.structure+xml;version=2.1"
SORRY_HTML = (
    b'<!DOCTYPE html><html lang="en" class="no-js"><head><title>Eurostat - Service temporarily unavailable'
    b"</title></head><body><h1>We apologise for the inconvenience</h1>"
    b"<p>The service is temporarily unavailable "
    b"due to high demand. Please try again later.</p></body></html>"
)


@dataclass
class Answer:
    """One HTTP answer: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def error(err: render.RequestError) -> Answer:
    """The API's JSON error body for ``err``."""
    return Answer(err.status, err.body())


def answer(standin: ServedAPI, route: str, params: list[tuple[str, str]]) -> Answer:
    """The answer to an API GET of ``route``; raises render.RequestError for the API's error answers."""
    if route == SORRY_PATH:
        return Answer(200, SORRY_HTML, HTML_TYPE)
    parts = route.strip("/").split("/")
    options = {k: v for k, v in params}
    if parts[:3] == ["statistics", "1.0", "data"] and len(parts) == 4:
        cube = _cube(standin, parts[3])
        positions, lang = render.parse_data_query(cube, params)
        cells = render.count_cells(positions)
        if cells > standin.max_cells:
            raise render.too_big(cells, standin.max_cells)
        if standin.async_cells is not None and cells > standin.async_cells and not standin.prepared(cube, params):
            # above the synchronous threshold: Eurostat prepares the extraction and asks to try again later
            raise render.RequestError(413, 413, ASYNC_LABEL)
        return Answer(200, render.jsonstat(cube, positions, lang))
    if parts[:4] == ["sdmx", "2.1", "dataflow", "ESTAT"] and len(parts) in (5, 6) and _version_ok(parts):
        cube = _cube(standin, parts[4])
        if options.get("format", "").lower() == "json":
            return Answer(200, render.dataflow_json(cube, options.get("lang", "EN").upper()))
        return Answer(200, render.dataflow_xml(cube, datetime.now(UTC)), SDMX_XML_TYPE)
    if parts[:2] == ["catalogue", "toc"] and len(parts) == 3 and parts[2] in ("txt", "xml"):
        leaves = standin.toc_leaves()  # dates and sizes as of now: revisions move them
        if parts[2] == "txt":
            return Answer(200, toc.toc_txt(leaves), "text/plain; charset=UTF-8")
        return Answer(200, toc.toc_xml(leaves, datetime.now(UTC)), "application/xml")
    if (
        parts[:4] == ["sdmx", "2.1", "contentconstraint", "ESTAT"]
        and len(parts) in (5, 6)
        and _version_ok(parts)
    ):
        cube = _cube(standin, parts[4])
        return Answer(200, render.content_constraint_xml(cube, datetime.now(UTC)), SDMX_XML_TYPE)
    raise render.RequestError(404, 100, f"No results found: {route} is not an endpoint of this API")


def _cube(standin: ServedAPI, dataset: str) -> Cube:
    try:
        return standin.cube(dataset)
    except KeyError:
        # worded as the live API (tests/fixtures/eurostat/errors/statsapi_404_not_available.json)
        raise render.RequestError(
            404, 100, f"ERR_NOT_FOUND_4: {dataset.upper()} (DATA_FLOW:ALL,1.0) is not available for dissemination."
        ) from None


def _version_ok(parts: list[str]) -> bool:
    return len(parts) == 5 or parts[5] in ("1.0", "latest")
