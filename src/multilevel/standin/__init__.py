"""A local HTTP stand-in for Eurostat's dissemination API (tests and the offline demo).

``StandIn`` serves two seeded synthetic cubes shaped like demo_r_pjangrp3 and demo_r_pjanind3, plus real
whole-dataset JSON-stat fixture files, with the real URL shapes, error bodies, revisions and injectable
faults. ``serve(host, port, size)`` runs it in the foreground for ``multilevel standin``.
"""

from multilevel.standin.server import DEFAULT_MAX_CELLS, StandIn, main, serve

__all__ = ["DEFAULT_MAX_CELLS", "StandIn", "main", "serve"]
