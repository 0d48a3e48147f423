"""The package's import graph: floors that imports only go down, no circle, no alias module.

Every ``import`` of a vaebench module is counted, at module level and inside functions (a lazy
import is still a dependency). A unit is a top-level module or a subpackage; each has a floor, and
a module may import its own unit or a unit on a lower floor. The one upward import is listed in
`UPWARD` with its reason. Run ``python tests/test_layers.py`` to print the graph.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vaebench"

FLOORS = {
    "version": 0, "validation": 0, "runtime": 0, "ops": 0, "sampling": 0, "contract": 0,
    "options": 1,
    "base": 2,
    "data": 3, "results": 3,
    "estimators": 4,
    "models": 5,
    "registry": 6,
    "training": 7, "adapters": 7,
    "testing": 8,
    "bench": 9, "report": 9,
    "evaluation": 10,
    "cli": 11, "__main__": 12, "vaebench": 12,  # the package's __init__: the public names
}
# (from unit, to unit): why the import goes up.
UPWARD = {
    ("models", "training"): "the catalogue's trained presets (mnist-2d, synthetic-2d) are built by training on "
                            "first use: imported lazily inside the build function",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "vaebench"


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def import_edges() -> dict[str, set[str]]:
    """module -> the vaebench modules it imports (top-level and lazy)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from vaebench.x import y`: the module y where it is one, else vaebench.x
                targets = [f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                           for a in node.names]
            else:
                continue
            edges[module].update(t for t in targets if t.split(".")[0] == "vaebench" and t != module)
    return edges


def unit_edges() -> dict[str, set[str]]:
    units: dict[str, set[str]] = defaultdict(set)
    for source, targets in import_edges().items():
        units[_unit(source)].update(_unit(t) for t in targets if _unit(t) != _unit(source))
    return units


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_unit_has_a_floor():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert units <= set(FLOORS), f"give these a floor in FLOORS: {sorted(units - set(FLOORS))}"


def test_imports_go_down_but_for_the_documented_one():
    upward = sorted((s, t) for s, targets in unit_edges().items() for t in targets if FLOORS[t] >= FLOORS[s])
    assert set(upward) == set(UPWARD), f"imports that do not go down: {upward} (documented: {sorted(UPWARD)})"
    assert len(UPWARD) <= 1


def test_no_circle_between_units_nor_modules():
    units = {s: {t for t in targets if (s, t) not in UPWARD} for s, targets in unit_edges().items()}
    assert _cycle(units) is None, f"units import each other in a circle: {' -> '.join(_cycle(units))}"
    modules = import_edges()
    # Within a unit, the package's __init__ re-exports its modules: an edge to it is to the whole unit.
    found = _cycle({s: {t for t in ts if not (t == s.rsplit(".", 1)[0] or _unit(t) != _unit(s))}
                    for s, ts in modules.items()})
    assert found is None, f"modules import each other in a circle: {' -> '.join(found)}"


def test_the_circle_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_alias_modules():
    """A module that only re-exports names from elsewhere is a second door: packages' __init__ aside, none."""
    aliases = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        own = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               or (isinstance(n, (ast.Assign, ast.AnnAssign)) and not _is_all(n))]
        if not own:
            aliases.append(str(path.relative_to(PACKAGE.parent)))
    assert not aliases, f"modules that define nothing of their own: {aliases}"


def _is_all(node: ast.AST) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


if __name__ == "__main__":  # print the unit graph, floor by floor
    graph = unit_edges()
    for unit in sorted(FLOORS, key=lambda u: (FLOORS[u], u)):
        print(f"{FLOORS[unit]:>2} {unit:<11} -> {', '.join(sorted(graph.get(unit, ())))}", file=sys.stdout)
