"""A hostile Eurostat API for the tests: the stand-in behind a proxy that breaks its answers on purpose.

``HostileApi`` forwards every request to a real ``StandIn`` (so URLs, bodies and revisions are the real stand-in's)
and rewrites the answers of the scenario a test selects with ``use(name, **options)``; ``use("honest")`` (the
default) passes everything through. Scenarios, and the misbehaviour each stands for:

===================  =============================================================================================
``ignore_split``     data requests lose the split dimension's filter: every slice answers the whole cube
``other_dataset``    data bodies claim another dataset (``extension.id``)
``drop_dimension``   data bodies lack dimension ``dim`` (a size-1 dimension, removed consistently)
``extra_dimension``  data bodies and the content constraint gain dimension ``dim`` (size 1, code ``code``)
``vanish_codes``     the content constraint lists only the first ``keep`` codes of dimension ``dim``
``stale_dataflow``   the dataflow's UPDATE_DATA is ``date`` (older than what was loaded: a stale mirror)
``stale_body``       data bodies' UPDATE_DATA is ``date``
``partial``          data bodies keep only every ``every``-th value (an overloaded API's partial answer, with 200)
``no_update_data``   the dataflow has no UPDATE_DATA annotation at all
``nan``              one value of each data body is the literal ``NaN`` (``literal`` picks Infinity etc.)
``long_code``        code ``code`` of dimension ``dim`` becomes ``length`` characters long in data bodies
``long_label``       the label of code ``code`` of dimension ``dim`` becomes ``length`` times ``char`` (default L)
``html200``          data requests answer an HTML page with HTTP 200 (a portal page instead of data)
``drip``             data answers are sent one byte every ``seconds`` (default 2): the ``part`` "head" (status line
                     and headers, the default) or "body"; after ``limit`` seconds (default 60) the rest goes at once
``redirect``         data requests answer 302 to the same URL on host ``host`` (default ``localhost``: this proxy
                     under another name, which answers honestly): another host serving real data
``sorry``            data requests answer 302 to Eurostat's overload page (``/sorry/index.html``, HTML with 200)
``broken``           data answers break in transport, ``how``: "empty" (200, no body), "truncated" (the connection
                     closes after half the body its Content-Length announced) or "reset" (closed before any answer)
===================  =============================================================================================
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from multilevel.standin import StandIn

SCENARIOS = {
    "honest": set(),
    "ignore_split": {"dim"},
    "other_dataset": {"code"},
    "drop_dimension": {"dim"},
    "extra_dimension": {"dim", "code"},
    "vanish_codes": {"dim", "keep"},
    "stale_dataflow": {"date"},
    "stale_body": {"date"},
    "partial": {"every"},
    "no_update_data": set(),
    "nan": {"literal"},
    "long_code": {"dim", "code", "length"},
    "long_label": {"dim", "code", "length", "char"},
    "html200": set(),
    "drip": {"seconds", "part", "limit"},
    "redirect": {"host"},
    "sorry": set(),
    "broken": {"how"},
}
SORRY_PATH = "/sorry/index.html"
HTML = b"<!DOCTYPE html><html><head><title>Eurostat</title></head><body><h1>Welcome</h1></body></html>"


class HostileApi:
    """A stand-in behind a rewriting proxy on 127.0.0.1 (free port); use as a context manager."""

    def __init__(self, size: str = "small"):
        self.standin = StandIn(size=size)
        self.scenario = "honest"
        self.options: dict = {}
        self.requests: list[str] = []
        self.hosts: list[str] = []  # the host each request named (the Host header, without the port)
        self.lock = threading.Lock()
        self.drips: list[str | None] = []  # per dripped answer: None while dripping, then "abandoned" or "completed"
        self._server: ThreadingHTTPServer | None = None

    # --- control ------------------------------------------------------------------------------------------------
    def use(self, scenario: str, **options) -> HostileApi:
        """Select the scenario for every following request; ValueError names an unknown one or option."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}: use one of {', '.join(SCENARIOS)}")
        unknown = set(options) - SCENARIOS[scenario]
        if unknown:
            raise ValueError(f"scenario {scenario!r} takes no option {', '.join(sorted(unknown))}")
        self.scenario, self.options = scenario, options
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileApi:
        self.standin.start()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.api = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.standin.stop()

    # --- rewriting ----------------------------------------------------------------------------------------------
    def answer(self, path: str, query: list[tuple[str, str]], host: str = "127.0.0.1") -> tuple[int, str, bytes, dict]:
        """Status, content type, body and extra headers for one request, after the scenario had its way."""
        self.requests.append(path + ("?" + urlencode(query) if query else ""))
        self.hosts.append(host.rsplit(":", 1)[0])
        s, o = self.scenario, self.options
        is_data = "/statistics/1.0/data/" in path
        if path == SORRY_PATH:
            return 200, "text/html; charset=utf-8", HTML, {}
        if is_data and s == "html200":
            return 200, "text/html; charset=utf-8", HTML, {}
        if is_data and s == "broken" and o["how"] == "empty":
            return 200, "application/json", b"", {}
        if is_data and s == "sorry":
            return 302, "text/html", b"", {"Location": SORRY_PATH}
        if is_data and s == "redirect" and self.hosts[-1] == "127.0.0.1":  # the other name answers honestly
            target = f"http://{o.get('host', 'localhost')}:{self._server.server_address[1]}{path}?{urlencode(query)}"
            return 302, "text/html", b"", {"Location": target}
        if is_data and s == "ignore_split":
            query = [(k, v) for k, v in query if k.lower() != o["dim"]]
        # the stand-in's own faults (e.g. a redirect) pass through as they are
        upstream = requests.get(self.standin.url + path, params=query, timeout=30, allow_redirects=False)
        status, kind, body = upstream.status_code, upstream.headers.get("Content-Type", ""), upstream.content
        if status != 200:
            location = upstream.headers.get("Location")
            return status, kind, body, ({"Location": location} if location else {})
        if is_data:
            body = self._data(body)
        elif "/contentconstraint/" in path:
            body = self._constraint(body)
        elif "/dataflow/" in path and s == "no_update_data":
            doc = json.loads(body)
            doc["extension"]["annotation"] = [a for a in doc["extension"]["annotation"]
                                              if a.get("type") != "UPDATE_DATA"]
            body = json.dumps(doc).encode()
        elif "/dataflow/" in path and s == "stale_dataflow":
            doc = json.loads(body)
            for a in doc["extension"]["annotation"]:
                if a.get("type") == "UPDATE_DATA":
                    a["date"] = o["date"]
            body = json.dumps(doc).encode()
        return status, kind, body, {}

    def dripping(self, path: str) -> tuple[str, float, float] | None:
        """(part, seconds per byte, limit) if this request's answer is to be dripped."""
        if self.scenario != "drip" or "/statistics/1.0/data/" not in path:
            return None
        o = self.options
        return o.get("part", "head"), o.get("seconds", 2.0), o.get("limit", 60.0)

    def _data(self, body: bytes) -> bytes:
        s, o = self.scenario, self.options
        if s not in ("other_dataset", "drop_dimension", "extra_dimension", "stale_body", "nan", "long_code",
                     "long_label", "partial"):
            return body
        doc = json.loads(body)
        if s == "other_dataset":
            doc["extension"]["id"] = o["code"]
        elif s == "drop_dimension":
            i = doc["id"].index(o["dim"])
            assert doc["size"][i] == 1, "drop_dimension needs a dimension of size 1 (the split dimension of a slice)"
            del doc["id"][i], doc["size"][i]
            del doc["dimension"][o["dim"]]
        elif s == "extra_dimension":
            doc["id"].insert(1, o["dim"])
            doc["size"].insert(1, 1)
            doc["dimension"][o["dim"]] = {"label": o["dim"], "category": {"index": {o["code"]: 0},
                                                                          "label": {o["code"]: o["code"]}}}
        elif s == "partial":
            kept = sorted(doc["value"], key=int)[:: o["every"]]
            doc["value"] = {k: doc["value"][k] for k in kept}
            doc["status"] = {k: v for k, v in (doc.get("status") or {}).items() if k in doc["value"]}
        elif s == "stale_body":
            for a in doc["extension"]["annotation"]:
                if a.get("type") == "UPDATE_DATA":
                    a["date"] = o["date"]
        elif s == "long_code":
            category = doc["dimension"][o["dim"]]["category"]
            new = o["code"] + "X" * (o["length"] - len(o["code"]))
            category["index"] = {(new if k == o["code"] else k): v for k, v in category["index"].items()}
            category["label"] = {(new if k == o["code"] else k): v for k, v in category["label"].items()}
        elif s == "long_label":
            category = doc["dimension"][o["dim"]]["category"]
            if o["code"] in category["label"]:
                category["label"][o["code"]] = o.get("char", "L") * o["length"]
        text = json.dumps(doc)
        if s == "nan":  # the first value of the body becomes a non-standard literal (Python's json writes NaN too)
            text = re.sub(r'("value":\s*\{"\d+":\s*)-?[0-9.eE+-]+', r"\g<1>" + o.get("literal", "NaN"), text, count=1)
        return text.encode()

    def _constraint(self, body: bytes) -> bytes:
        s, o = self.scenario, self.options
        text = body.decode()
        if s == "vanish_codes":
            pattern = re.compile(rf'(<c:KeyValue id="{re.escape(o["dim"])}">)(.*?)(</c:KeyValue>)', re.S)
            match = pattern.search(text)
            values = re.findall(r"<c:Value>.*?</c:Value>", match.group(2))
            kept = "".join(values[: o["keep"]])
            text = text[: match.start()] + match.group(1) + kept + match.group(3) + text[match.end():]
        elif s == "extra_dimension":
            extra = f'<c:KeyValue id="{o["dim"]}"><c:Value>{o["code"]}</c:Value></c:KeyValue>'
            text = text.replace("<c:KeyValue ", extra + "<c:KeyValue ", 1)
        return text.encode()


class _Handler(BaseHTTPRequestHandler):
    def _reply(self, head_only: bool) -> None:
        api = self.server.api
        parts = urlsplit(self.path)
        status, kind, body, extra = api.answer(parts.path, parse_qsl(parts.query, keep_blank_values=True),
                                               self.headers.get("Host", ""))
        head = (f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n").encode()
        broken = api.options.get("how") if api.scenario == "broken" and "/statistics/1.0/data/" in parts.path else None
        if broken == "reset":
            self.close_connection = True
            return
        if broken == "truncated":
            body = body[: len(body) // 2]  # after a head announcing the whole body
        drip = api.dripping(parts.path)
        if drip and drip[0] == "head":  # a head longer than the drip limit: only a total deadline ends it early
            head = head[:-2] + b"X-Padding: " + b"p" * int(drip[2] / drip[1]) + b"\r\n\r\n"
        answer = head + (b"" if head_only else body)
        if drip:
            with api.lock:
                api.drips.append(None)
                number = len(api.drips) - 1
            api.drips[number] = self._drip(answer, head, *drip)
            return
        try:
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up or was killed mid-answer
            self.close_connection = True

    def _drip(self, answer: bytes, head: bytes, part: str, seconds: float, limit: float) -> str:
        """Send ``answer`` byte by byte for at most ``limit`` seconds, then the rest; who stopped first."""
        if part == "body":  # the head at once, then the body byte by byte
            self.wfile.write(head)
            answer = answer[len(head):]
        ends = time.monotonic() + limit
        try:
            while answer and time.monotonic() < ends:
                self.wfile.write(answer[:1])
                answer = answer[1:]
                time.sleep(seconds)
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return "abandoned"
        return "completed"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._reply(False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._reply(True)

    def log_message(self, *args) -> None:  # keep test output quiet
        pass
