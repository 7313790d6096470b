"""What the routes (``api``, ``admin``, ``handler``) need from the running stand-in.

``StandIn`` in ``server`` satisfies it; the routes name this Protocol instead of ``StandIn`` so they do not import
``server`` (which imports them): no import circle, and the routes' whole dependency on the server is listed here.
"""

from __future__ import annotations

from typing import Any, Protocol

from multilevel.standin import catalogue as toc
from multilevel.standin.cube import Cube


class PendingFaults(Protocol):
    """The queue of injected faults (``faults.FaultQueue``): the handler takes one per request, admin lists them."""

    def take(self, path: str) -> Any: ...

    def pending(self) -> list[dict]: ...


class ServedAPI(Protocol):
    """The state and controls of one running stand-in, as the request routes use them."""

    max_cells: int
    async_cells: int | None
    faults: PendingFaults
    request_log: list[tuple[str, str, int]]

    @property
    def url(self) -> str: ...

    def cube(self, dataset: str) -> Cube: ...

    def prepared(self, cube: Cube, params: list[tuple[str, str]]) -> bool: ...

    def toc_leaves(self) -> list[toc.TocLeaf]: ...

    def state(self) -> dict: ...

    def inject(self, kind: str, count: int = 1, path: str | None = None, **opts: float) -> None: ...

    def clear(self) -> None: ...

    def revise(self, dataset: str, n: int = 5) -> dict: ...

    def redisseminate(self, dataset: str, old: str = "e", new: str = "i") -> dict: ...

    def set_structure_update(self, dataset: str) -> str: ...

    def set_async(self, cells: int | None, seconds: float = 0.0) -> None: ...
