"""The import graph of the project's own modules has no circle: every ``import`` counted,
module-level and inside functions alike (a function-level import is no licence for a cycle),
so each module can be read, and imported, after the modules it names."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("pipelines", "analysis")


def module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported(tree: ast.AST, known: dict[str, Path]) -> set[str]:
    """The project modules a module's import statements name (``from a.b import c`` names
    ``a.b.c`` when that is a module, else ``a.b``)."""
    out = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                       for alias in node.names]
        out |= {t for t in targets if t in known}
    return out


def test_no_import_circle_among_the_projects_modules():
    known = module_names()
    graph = {name: imported(ast.parse(path.read_text(encoding="utf-8")), known) - {name} for name, path in known.items()}
    assert len(graph) > 60 and sum(map(len, graph.values())) > 200  # the graph was read, not empty
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_every_built_in_stages_record_class_is_in_records():
    """Readers parse every built-in record without importing a stage: each stage of the
    project keeps its record class in pipelines/records.py (plug-ins: the run manifest)."""
    from pipelines.records import RECORD_TYPES
    from pipelines.stages import STAGES

    built_in = {name: spec for name, spec in STAGES.items() if spec.fn.__module__.startswith("pipelines.stages.")}
    assert len(built_in) >= 15
    assert {name: spec.record_cls.__module__ for name, spec in built_in.items()
            if spec.record_cls.__module__ != "pipelines.records"} == {}
    assert all(RECORD_TYPES[name] is spec.record_cls for name, spec in built_in.items())
