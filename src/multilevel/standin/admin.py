"""The stand-in's control interface for tests and demos (admin requests are not in the request log)::

    POST /_standin/revise?dataset=D&n=5           publish a revision (values, one flag, one gone, one new)
    POST /_standin/structure?dataset=D            bump UPDATE_STRUCTURE
    POST /_standin/inject?kind=K&count=1&path=P&seconds=S&retry_after=R    queue a fault (see faults.py)
    POST /_standin/max_cells?value=N              change the extraction limit
    POST /_standin/async?cells=N&seconds=S        asynchronous regime above N cells (no cells: off)
    POST /_standin/redisseminate?dataset=D        re-disseminate: recode flags, UPDATE_DATA unchanged
    POST /_standin/clear                          drop queued faults and the request log
    GET  /_standin/state                          datasets, versions, timestamps, faults, limit
    GET  /_standin/log                            the request log
"""

from __future__ import annotations

import json

from multilevel.standin import render
from multilevel.standin.api import Answer
from multilevel.standin.contract import ServedAPI

PREFIX = "/_standin/"


def get(standin: ServedAPI, route: str) -> Answer:
    """Answer an admin GET."""
    if route == "/_standin/state":
        return _json(standin.state())
    if route == "/_standin/log":
        return _json(standin.request_log)
    return _not_found(route)


def post(standin: ServedAPI, route: str, params: dict[str, str]) -> Answer:
    """Answer an admin POST; ValueError/TypeError for bad parameters (the handler answers 400)."""
    if route == "/_standin/revise":
        result = standin.revise(_required(params, "dataset"), int(params.get("n", 5)))
    elif route == "/_standin/structure":
        dataset = _required(params, "dataset")
        result = {"dataset": dataset.lower(), "update_structure": standin.set_structure_update(dataset)}
    elif route == "/_standin/inject":
        opts = {k: float(v) for k, v in params.items() if k not in ("kind", "count", "path")}
        standin.inject(_required(params, "kind"), int(params.get("count", 1)), params.get("path"), **opts)
        result = {"faults": standin.faults.pending()}
    elif route == "/_standin/max_cells":
        value = int(_required(params, "value"))
        if value < 1:
            raise ValueError(f"max_cells must be at least 1, got {value}")
        standin.max_cells = value
        result = {"max_cells": value}
    elif route == "/_standin/async":
        cells = int(params["cells"]) if params.get("cells") else None
        standin.set_async(cells, float(params.get("seconds", 0)))
        result = {"async_cells": cells}
    elif route == "/_standin/redisseminate":
        result = standin.redisseminate(_required(params, "dataset"), params.get("old", "e"), params.get("new", "i"))
    elif route == "/_standin/clear":
        standin.clear()
        result = {"cleared": True}
    else:
        return _not_found(route)
    return _json(result)


def _json(doc: object) -> Answer:
    return Answer(200, json.dumps(doc).encode())


def _not_found(route: str) -> Answer:
    return Answer(404, render.error_body(404, 100, f"No results found: no admin endpoint {route}"))


def _required(params: dict[str, str], name: str) -> str:
    if not params.get(name):
        raise ValueError(f"the admin request needs the query parameter {name}=...")
    return params[name]
