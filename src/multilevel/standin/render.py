"""Response bodies in the shapes of today's Eurostat dissemination API.

- Statistics API JSON-stat 2.0 (``statistics/1.0/data/{code}``), shaped like the real whole-dataset
  sample ``statsapi_jsonstat_hlth_ehis_hc8_full.json``: sparse ``value``/``status`` objects keyed by the flat
  row-major index as a string, keys in no particular order, ``|C`` cells with a status and no value, empty cells
  absent (real slices in tests/fixtures/eurostat/slices; see SOURCES).
- SDMX 2.1 dataflow, as JSON (``format=json``) or SDMX-ML, and the SDMX-ML ContentConstraint.
- Error bodies ``{"error":[{"status":404,"id":100,"label":"..."}]}``.
"""

from __future__ import annotations

import json
import re
import zlib
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from multilevel.standin.cube import FLAG_LABELS, BaseCube, Cube, format_ts
from multilevel.standin.geo import geo_level

LANGS = ("EN", "FR", "DE")
GEO_LEVELS = ("country", "nuts1", "nuts2", "nuts3", "aggregate")
QUERY_OPTIONS = {"format", "lang", "sinceTimePeriod", "untilTimePeriod", "lastTimePeriod", "geoLevel"}
_PERIOD = re.compile(r"^[0-9]{4}(-?[A-Z0-9]{1,3})?$")


class RequestError(Exception):
    """A request answered with an error body; ``status`` is the HTTP status, ``api_id`` the API's code."""

    def __init__(self, status: int, api_id: int, label: str):
        super().__init__(label)
        self.status = status
        self.api_id = api_id
        self.label = label

    def body(self) -> bytes:
        """The error body exactly in the API's shape."""
        return error_body(self.status, self.api_id, self.label)


def error_body(status: int, api_id: int, label: str) -> bytes:
    """``{"error":[{"status":..,"id":..,"label":".."}]}`` as bytes."""
    return _dumps({"error": [{"status": status, "id": api_id, "label": label}]})


def too_big(cells: int, max_cells: int) -> RequestError:
    """The 413 EXTRACTION_TOO_BIG answer, worded like the real API's."""
    return RequestError(
        413,
        413,
        f"EXTRACTION_TOO_BIG: The requested extraction is too big, estimated {cells} rows, max authorised is "
        f"{max_cells}, please change your filters to reduce the extraction size",
    )


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _bad(label: str) -> RequestError:
    return RequestError(400, 140, label)


def _semantic(label: str) -> RequestError:
    """HTTP 400, fault code 150 "Semantic error" (Eurostat's API Statistics error table: syntactically correct
    but fails a semantic validation / business rule)."""
    return RequestError(400, 150, label)


def parse_data_query(cube: Cube, params: list[tuple[str, str]]) -> tuple[list[np.ndarray], str]:
    """Turn the query parameters of a data request into one position array per dimension, and the language.

    A parameter that is neither a known option nor a dimension of the dataset gives HTTP 400, id 150, worded as
    the real API words it (tests/fixtures/eurostat/errors/statsapi_400_invalid_query_dimension.json); a code that
    the dimension does not have is ignored, so a query of only wrong codes gives that dimension at size 0 (real:
    slices/statsapi_une_rt_m_all_geo_codes_unknown.json). ``geo`` together with ``geoLevel`` is refused with
    HTTP 400: Eurostat's "API - Detailed guidelines - API Statistics" page documents the two as mutually exclusive
    (https://ec.europa.eu/eurostat/web/user-guides/data-browser/api-data-access/api-detailed-guidelines/api-statistics,
    as quoted by third parties citing it; the section itself was not available to us), and the live API's label
    was recorded as "'geo' parameter and 'geoLevel' parameter cannot be set at the same time."
    (cyanheads/eurostat-mcp-server docs/design.md); the fault code of that answer is not recorded, 150 (semantic
    error) is the documented code for a request that fails a business rule.
    """
    dim_ids = [d.id for d in cube.dims]
    # dimension codes and values are case-insensitive (Eurostat's "API Statistics - data query" guide)
    by_lower = {d.lower(): d for d in dim_ids}
    wanted: dict[str, list[str]] = {}
    options: dict[str, str] = {}
    for key, value in params:
        if key in QUERY_OPTIONS:
            options[key] = value
        elif key.lower() in by_lower:
            wanted.setdefault(by_lower[key.lower()], []).append(value.upper())
        else:
            raise _semantic(f'INVALID_QUERY_DIMENSION: Dimension "{key.upper()}" is not defined')
    if "geo" in wanted and "geoLevel" in options:
        raise _semantic("'geo' parameter and 'geoLevel' parameter cannot be set at the same time.")
    if options.get("format", "JSON").upper() != "JSON":
        raise _bad(f"Syntax error: format '{options['format']}' is not supported, use format=JSON")
    lang = options.get("lang", "EN").upper()
    if lang not in LANGS:
        raise _bad(f"Syntax error: lang '{options['lang']}' is not supported, use one of {', '.join(LANGS)}")
    positions = []
    for dim in cube.dims:
        keep = np.ones(len(dim.codes), dtype=bool)
        if dim.id in wanted:
            chosen = set(wanted[dim.id])
            keep &= np.array([c.upper() in chosen for c in dim.codes], dtype=bool)
        if dim.id == "time":
            keep &= _time_filter(dim.codes, options)
        if dim.id == "geo" and "geoLevel" in options:
            level = options["geoLevel"].lower()
            if level not in GEO_LEVELS:
                raise _bad(
                    f"Syntax error: geoLevel '{options['geoLevel']}' must be one of {', '.join(GEO_LEVELS)}"
                )
            keep &= np.array([geo_level(c) == level for c in dim.codes], dtype=bool)
        positions.append(np.flatnonzero(keep))
    return positions, lang


def _time_filter(periods: list[str], options: dict[str, str]) -> np.ndarray:
    keep = np.ones(len(periods), dtype=bool)
    for option, keep_if in (
        ("sinceTimePeriod", lambda p, bound: p >= bound),
        ("untilTimePeriod", lambda p, bound: p <= bound),
    ):
        if option in options:
            bound = options[option]
            if not _PERIOD.match(bound):
                raise _bad(f"Syntax error: {option} '{bound}' is not a time period such as 2020")
            keep &= np.array([keep_if(p, bound) for p in periods], dtype=bool)
    if "lastTimePeriod" in options:
        text = options["lastTimePeriod"]
        if not text.isdigit() or int(text) < 1:
            raise _bad(f"Syntax error: lastTimePeriod '{text}' must be a positive whole number")
        last = np.zeros(len(periods), dtype=bool)
        last[np.flatnonzero(keep)[-int(text) :]] = True
        keep &= last
    return keep


def count_cells(positions: list[np.ndarray]) -> int:
    """Cells of the selected cube (the API's extraction size), empty ones included."""
    return int(np.prod([len(p) for p in positions], dtype=np.int64))


def _extension_head(base: BaseCube, lang: str) -> dict:
    upper = base.code.upper()
    return {
        "lang": lang,
        "id": upper,
        "agencyId": "ESTAT",
        "version": "1.0",
        "datastructure": {"id": upper, "agencyId": "ESTAT", "version": base.dsd_version},
    }


def jsonstat(cube: Cube, positions: list[np.ndarray], lang: str = "EN") -> bytes:
    """The JSON-stat 2.0 body for the sub-cube at ``positions``.

    Keys of ``value`` and ``status`` come in a deterministic shuffled order (seeded by the dataset, its
    version and the selection), because the real API does not sort them and parsers must not rely on it.
    """
    values, status, flags = cube.select(positions)
    sizes = [len(p) for p in positions]
    flat_values = values.reshape(-1)
    flat_status = status.reshape(-1)
    has_value = ~np.isnan(flat_values)
    has_status = flat_status > 0
    seed = zlib.crc32(repr((cube.code, cube.version, [p.tolist()[:50] for p in positions], sizes)).encode())
    order = np.random.default_rng(seed).permutation(np.flatnonzero(has_value | has_status))
    value_keys = order[has_value[order]]
    status_keys = order[has_status[order]]
    flag_text = np.array(flags, dtype=object)
    value = dict(zip(value_keys.astype(str).tolist(), flat_values[value_keys].tolist(), strict=True))
    status_obj = dict(
        zip(status_keys.astype(str).tolist(), flag_text[flat_status[status_keys]].tolist(), strict=True)
    )
    present = (has_value | has_status).reshape(sizes)
    no_data = {}
    dimension = {}
    for axis, (dim, pos) in enumerate(zip(cube.dims, positions, strict=True)):
        others = tuple(a for a in range(len(sizes)) if a != axis)
        no_data[dim.id] = (
            np.flatnonzero(~present.any(axis=others)).tolist()
            if others
            else (np.flatnonzero(~present).tolist())
        )
        codes = [dim.codes[i] for i in pos]
        dimension[dim.id] = {
            "label": dim.label,
            "category": {
                "index": {c: i for i, c in enumerate(codes)},
                "label": {c: dim.labels[c] for c in codes},
            },
        }
    extension = _extension_head(cube.base, lang)
    extension["annotation"] = cube.annotations()
    used = sorted({flags[i] for i in np.unique(flat_status[has_status])})
    if used:
        extension["status"] = {"label": {f: FLAG_LABELS.get(f, f) for f in used}}
    extension["positions-with-no-data"] = no_data
    if status_obj:  # the real API leaves ``status`` out when no cell of the selection is flagged
        doc_status = {"status": status_obj}
    else:
        doc_status = {}
    doc = {
        "version": "2.0",
        "class": "dataset",
        "label": cube.base.label,
        "source": "ESTAT",
        # the later of UPDATE_DATA and UPDATE_STRUCTURE, as in every real body we hold: hlth_ehis_hc8 (structure
        # 2024-01-03 > data 2014) and the 2026 slices sts_inpr_m / une_rt_m (data > structure)
        "updated": format_ts(max(cube.update_data, cube.update_structure)),
        "value": value,
        **doc_status,
        "id": [d.id for d in cube.dims],
        "size": sizes,
        "dimension": dimension,
        "extension": extension,
    }
    return _dumps(doc)


def dataflow_json(cube: Cube, lang: str = "EN") -> bytes:
    """The dataflow in JSON (``format=json``), shaped like sdmx21_dataflow_demo_r_d2jan.json."""
    extension = _extension_head(cube.base, lang)
    extension["annotation"] = cube.annotations()
    return _dumps({"version": "2.0", "class": "dataset", "label": cube.base.label, "extension": extension})


_NAMESPACES = (
    'xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
    'xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" '
    'xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"'
)


def _header(message_id: str, prepared: datetime) -> str:
    stamp = prepared.strftime("%Y-%m-%dT%H:%M:%S.") + f"{prepared.microsecond // 1000:03d}Z"
    return (
        f"<m:Header><m:ID>{message_id}</m:ID><m:Test>false</m:Test><m:Prepared>{stamp}</m:Prepared>"
        '<m:Sender id="ESTAT"/><m:Receiver id="unknown"/></m:Header>'
    )


def dataflow_xml(cube: Cube, prepared: datetime) -> bytes:
    """The dataflow in SDMX-ML 2.1 (no ``format`` parameter), shaped like sdmx21_dataflow_lfsa_egai2d.xml."""
    upper = cube.code.upper()
    parts = []
    for a in cube.annotations():
        if "text" in a:
            texts = "".join(
                f'<c:AnnotationText xml:lang="{lg}">{escape(a["text"])}</c:AnnotationText>'
                for lg in ("fr", "en", "de")
            )
            parts.append(
                f"<c:Annotation><c:AnnotationType>{a['type']}</c:AnnotationType>{texts}</c:Annotation>"
            )
            continue
        title = a.get("date", a.get("title", ""))
        url = f"<c:AnnotationURL>{escape(a['href'])}</c:AnnotationURL>" if "href" in a else ""
        parts.append(
            f"<c:Annotation><c:AnnotationTitle>{escape(title)}</c:AnnotationTitle>"
            f"<c:AnnotationType>{a['type']}</c:AnnotationType>{url}</c:Annotation>"
        )
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<m:Structure {_NAMESPACES}>'
        f"{_header(f'DF{int(prepared.timestamp())}', prepared)}<m:Structures><s:Dataflows>"
        f'<s:Dataflow id="{upper}" '
        f'urn="urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=ESTAT:{upper}(1.0)" '
        f'agencyID="ESTAT" version="1.0" isFinal="false"><c:Annotations>{"".join(parts)}</c:Annotations>'
        f'<c:Name xml:lang="en">{escape(cube.base.label)}</c:Name>'
        f'<s:Structure><Ref id="{upper}" version="{cube.base.dsd_version}" agencyID="ESTAT" '
        f'package="datastructure" class="DataStructure"/></s:Structure></s:Dataflow></s:Dataflows>'
        f"</m:Structures></m:Structure>"
    )
    return body.encode("utf-8")


def content_constraint_xml(cube: Cube, prepared: datetime) -> bytes:
    """The SDMX-ML 2.1 ContentConstraint: the codes present per dimension, time as ``TIME_PERIOD``.

    Shaped like sdmx21_contentconstraint_demo_r_d2jan.xml (namespaces m/s/c, CubeRegion of KeyValue/Value).
    """
    upper = cube.code.upper()
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f"<m:Structure {_NAMESPACES}>",
        "    " + _header(f"DS-{upper}{int(prepared.timestamp() * 1000)}", prepared),
        "    <m:Structures>",
        "        <s:Constraints>",
        f'            <s:ContentConstraint agencyID="ESTAT" id="{upper}" isFinal="false" type="Actual"',
        f'                urn="urn:sdmx:org.sdmx.infomodel.registry.ContentConstraint=ESTAT:{upper}(1.0)"',
        '                version="1.0">',
        f'                <c:Name xml:lang="en">Cube description for dataflow {upper}</c:Name>',
        "                <s:ConstraintAttachment>",
        "                    <s:Dataflow>",
        f'                        <Ref agencyID="ESTAT" class="Dataflow" id="{upper}"',
        '                            package="datastructure" version="1.0" />',
        "                    </s:Dataflow>",
        "                </s:ConstraintAttachment>",
        '                <s:CubeRegion include="true">',
    ]
    for dim_id, codes in cube.present_codes().items():
        key = "TIME_PERIOD" if dim_id == "time" else dim_id
        lines.append(f"                    <c:KeyValue id={quoteattr(key)}>")
        lines.extend(f"                        <c:Value>{escape(code)}</c:Value>" for code in codes)
        lines.append("                    </c:KeyValue>")
    lines += [
        "                </s:CubeRegion>",
        "            </s:ContentConstraint>",
        "        </s:Constraints>",
        "    </m:Structures>",
        "</m:Structure>",
    ]
    return "\n".join(lines).encode("utf-8")
