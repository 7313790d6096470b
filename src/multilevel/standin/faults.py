"""Faults the stand-in injects into its next answers, so tests can drive a client through every failure mode.

Each fault is queued with a count and an optional path substring; the next ``count`` requests whose path+query
contains the substring get it, first queued first served. Kinds, and what the client sees:

==============  ==============================================================================================
``500/502/503`` that HTTP status with a server error body
``429``         HTTP 429 with ``Retry-After: <retry_after>`` (seconds, default 1)
``slow``        the normal answer after sleeping ``seconds`` (default 2)
``truncate``    the normal status and full ``Content-Length``, but only the first half of the body, then the
                connection closes
``sorry``       HTTP 302 to the "sorry" page (``/sorry/index.html``), which answers HTML with HTTP 200
``gzip``        the normal answer gzip-compressed WITHOUT a ``Content-Encoding`` header
``413``         HTTP 413 with the EXTRACTION_TOO_BIG error body
``413warning``  HTTP 200 with ``{"warning":{"status":413,"label":"ASYNCHRONOUS_RESPONSE..."}}``
``async``       HTTP 413 with the ASYNCHRONOUS_RESPONSE error body (as recorded live in 2026)
``html``        HTTP 200 with an HTML page (Eurostat under load, rOpenGov/eurostat#302)
``drip``        the normal answer, one byte every ``seconds`` (default 0.5) for at most ``limit`` seconds
                (default 30): a read timeout never fires, only a total deadline does
``redirect``    HTTP 302 to another host (``http://mirror.invalid/...``): a client must not follow it
==============  ==============================================================================================
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from multilevel.standin import render
from multilevel.standin.api import ASYNC_LABEL, HTML_TYPE, SORRY_PATH, Answer

KINDS = ("500", "502", "503", "429", "slow", "truncate", "sorry", "gzip", "413", "413warning", "async", "html",
         "drip", "redirect")
OPTIONS = {"429": {"retry_after"}, "slow": {"seconds"}, "drip": {"seconds", "limit"}}
FOREIGN_HOST = "http://mirror.invalid"
ASYNC_WARNING = ASYNC_LABEL
SERVER_ERRORS = {"500": "Internal server error", "502": "Bad Gateway", "503": "Service Unavailable"}
# kinds that alter the normal answer (applied by the handler) instead of replacing it
ALTERING = ("gzip", "truncate", "drip")
OVERLOAD_HTML = (
    b"<!DOCTYPE html><html><head><title>Eurostat</title></head><body><p>The server is busy. "
    b"Please try again later.</p></body></html>"
)


@dataclass
class Fault:
    """One queued fault: ``kind``, how many more requests get it, the path filter and kind options."""

    kind: str
    count: int = 1
    path: str | None = None
    opts: dict[str, float] = field(default_factory=dict)


class FaultQueue:
    """Thread-safe queue of faults; ``take(path)`` hands the first matching fault to one request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, kind: str, count: int = 1, path: str | None = None, **opts: float) -> Fault:
        """Queue ``count`` occurrences of ``kind``; ValueError names the bad kind or option."""
        kind = str(kind)
        if kind not in KINDS:
            raise ValueError(f"fault kind {kind!r} is unknown: use one of {', '.join(KINDS)}")
        if count < 1:
            raise ValueError(f"fault {kind!r}: count must be at least 1, got {count}")
        unknown = set(opts) - OPTIONS.get(kind, set())
        if unknown:
            allowed = ", ".join(sorted(OPTIONS.get(kind, set()))) or "none"
            raise ValueError(
                f"fault {kind!r} takes no option {', '.join(sorted(unknown))} (options: {allowed})"
            )
        fault = Fault(kind, count, path or None, {k: float(v) for k, v in opts.items()})
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The fault for a request to ``path`` (path+query), using up one occurrence; None if none."""
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in path:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                    return Fault(fault.kind, 1, fault.path, dict(fault.opts))
        return None

    def pending(self) -> list[dict]:
        """The queued faults, for the state endpoint."""
        with self._lock:
            return [{"kind": f.kind, "count": f.count, "path": f.path, **f.opts} for f in self._faults]

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()


def answer(fault: Fault, base_url: str, max_cells: int) -> Answer | None:
    """The answer that replaces the normal one, or None when ``fault`` only delays or alters it."""
    kind = fault.kind
    if kind in SERVER_ERRORS:
        status = int(kind)
        return Answer(status, render.error_body(status, 500, SERVER_ERRORS[kind]))
    if kind == "429":
        seconds = int(fault.opts.get("retry_after", 1))
        return Answer(429, render.error_body(429, 429, "Too Many Requests"), headers={"Retry-After": str(seconds)})
    if kind == "sorry":
        return Answer(302, b"", HTML_TYPE, {"Location": base_url + SORRY_PATH})
    if kind == "413":
        error = render.too_big(max_cells * 10, max_cells)
        return Answer(error.status, error.body())
    if kind == "async":
        return Answer(413, render.error_body(413, 413, ASYNC_WARNING))
    if kind == "html":
        return Answer(200, OVERLOAD_HTML, HTML_TYPE)
    if kind == "redirect":
        return Answer(302, b"", HTML_TYPE, {"Location": FOREIGN_HOST + "/eurostat/api/dissemination/data"})
    if kind == "413warning":
        body = json.dumps({"warning": {"status": 413, "label": ASYNC_WARNING}}, separators=(",", ":")).encode()
        return Answer(200, body)
    if kind == "slow":
        time.sleep(fault.opts.get("seconds", 2.0))
    return None
