"""The package's shape, checked: imports point down the layers, no module imports itself back through
others, and no module grows past 400 lines. docs/architecture.md draws the layers this test enforces."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "zkinfer"  # tests/unit/ -> the repository root
# lower number = lower layer; a module may import its own layer (no cycle) or any lower one
LAYERS = {
    "core": 0,
    "prover": 1,
    "verify": 1,
    "llm": 1,
    "chain": 2,
    "serving": 3,
    "node": 4,
    "network": 4,
    "llm_node": 4,
    "cli": 5,
}
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module → the zkinfer modules it imports (a `from pkg import name` counts pkg.name when that is a module)."""
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        here = _module(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from pkg import submodule` depends on the submodule; `from pkg import name` on pkg itself
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                targets = subs + ([node.module] if len(subs) < len(node.names) else [])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[here] |= {t for t in targets if t in modules and t != here}
    return graph


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{source} -> {target}"
        for source, targets in _imports().items()
        for target in targets
        if (a := _layer(source)) and (b := _layer(target)) and LAYERS[b] > LAYERS[a]
    ]
    assert upward == [], "imports that point up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_modules() -> None:
    edges = _imports()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(edges.get(module, ())):
            if seen.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in seen:
                visit(target, [*path, target])
        seen[module] = 2

    for module in sorted(edges):
        if module not in seen:
            visit(module, [module])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_every_module_stays_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)}: {lines} lines; split it by job (<= {MAX_LINES})"
