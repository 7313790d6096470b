"""The project's modules import each other without circles, and each warehouse imports only its own driver.

The graph is read from the source (every ``import`` statement, inside functions too), not from what happens to be
imported at run time, so a lazy import that closes a loop counts as well. Imports under ``if TYPE_CHECKING:`` are
left out of the run-time graph and kept in the type-level one. Factories name their implementations as
``"module:Class"`` strings (``WAREHOUSES``, ``STORES``), which are not imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from multilevel.stage import STORES, Store, store_class
from multilevel.warehouse import WAREHOUSES, Warehouse, warehouse_class

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (annotations only: never run)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return found


def import_graph(src: Path = SRC, *, types: bool = False) -> dict[str, set[str]]:
    """{module: project modules it imports} for every module below ``src`` (with ``types``, also the imports made
    for annotations only, under ``if TYPE_CHECKING:``)."""
    files = {module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        skip = set() if types else _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                # "from pkg import mod" imports the module pkg.mod; "from mod import name" the module mod
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 40  # the whole package was read
    assert circles(graph) == []


def test_no_type_level_circles():
    """Annotations too: nowhere in the package do two modules import each other, even only for type hints."""
    assert circles(import_graph(types=True)) == []


def test_the_circle_check_can_fail(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "base.py").write_text("def make():\n    from pkg.impl import Impl\n    return Impl()\n")
    (package / "impl.py").write_text("from pkg.base import make\n")
    (package / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.user import User\n"
    )
    (package / "user.py").write_text("from pkg.typed import TYPE_CHECKING\n")
    assert circles(import_graph(tmp_path)) == [["pkg.base", "pkg.impl"]]
    assert circles(import_graph(tmp_path, types=True)) == [["pkg.base", "pkg.impl"], ["pkg.typed", "pkg.user"]]


def test_interfaces_know_no_implementation():
    graph = import_graph()
    for interface in ("multilevel.warehouse.base", "multilevel.stage.base"):
        assert not {m for m in graph[interface] if m.rpartition(".")[0] == interface.rpartition(".")[0]}, interface


@pytest.mark.parametrize("scheme", sorted(WAREHOUSES))
def test_every_warehouse_scheme_names_a_warehouse(scheme):
    cls = warehouse_class(f"{scheme}://user@host/db")
    assert issubclass(cls, Warehouse) and cls.dialect.name in ("duckdb", "postgres", "redshift")


@pytest.mark.parametrize("scheme", sorted(STORES))
def test_every_stage_scheme_names_a_store(scheme):
    assert issubclass(store_class(f"{scheme}://bucket/prefix" if scheme else "some/folder"), Store)


def run_without(module: str, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which ``module`` cannot be imported (as if its extra were absent)."""
    prelude = f"import sys\nsys.modules[{module!r}] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_redshift_needs_no_psycopg():
    """``pip install 'multilevel[redshift]'`` alone: the Redshift warehouse and its load path import without psycopg."""
    result = run_without(
        "psycopg",
        "from multilevel.warehouse import warehouse_class\n"
        "import multilevel.warehouse.redshift as r, multilevel.warehouse.history, multilevel.eurostat.steps\n"
        "assert warehouse_class('redshift://u@h/db') is r.RedshiftWarehouse\n"
        "print(r.connection_options('redshift://u:p@h/db', None)[0]['user'])\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "u"


def test_a_missing_driver_names_the_extra():
    result = run_without(
        "psycopg",
        "from multilevel.warehouse import connect\n"
        "from multilevel.errors import ConfigError\n"
        "try:\n    connect('postgresql://u@127.0.0.1:1/db')\nexcept ConfigError as e:\n    print(e)\n",
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'multilevel[postgres]'" in result.stdout
    result = run_without("redshift_connector", "import multilevel.warehouse.postgres, multilevel.cli\n")
    assert result.returncode == 0, result.stderr
