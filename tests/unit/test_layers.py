"""chatd's layers, top to bottom, and the two rules that keep them (docs/architecture.md).

A module imports only from its own layer or the layers below it, and no two
modules import each other, directly or around a circle. Imports made only for
type annotations (under `if TYPE_CHECKING:`) are not counted: they run nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "chatd"

#: Layer of each module, by the longest matching prefix; the first layer is the top.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry", ("chatd.app", "chatd.cli", "chatd.__main__", "chatd.wiring")),
    ("adapters", ("chatd.api", "chatd.web", "chatd.realtime", "chatd.handlers")),
    ("actions", ("chatd.actions",)),
    ("domain", ("chatd.domain", "chatd.auth")),
    ("fan-out", ("chatd.fanout",)),
    ("wire", ("chatd.wire",)),
    ("ports", ("chatd.store", "chatd.broker", "chatd.files")),
    (
        "base",
        (
            "chatd.models",
            "chatd.settings",
            "chatd.errors",
            "chatd.keys",
            "chatd._compat",
            "chatd.util",
            "chatd.observability",
            "chatd",
        ),
    ),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _layer(module: str) -> int:
    matches = [
        (len(prefix), rank)
        for rank, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The chatd modules `module` imports at run time (any depth of the file)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - child.level + 1], base]
                    ).strip(".")
                for alias in child.names:
                    candidate = f"{base}.{alias.name}"
                    found.add(candidate if candidate in known else base)
            visit(child)

    visit(ast.parse(path.read_text()))
    return {name for name in found if name in known and name != module}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_no_module_imports_from_a_higher_layer():
    names = [name for name, _ in LAYERS]
    upward = sorted(
        f"{module} ({names[_layer(module)]}) imports {target} ({names[_layer(target)]})"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) < _layer(module)
    )
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)
    assert [" -> ".join(cycle) for cycle in cycles] == []


def test_the_checker_sees_an_upward_import():
    """The rules above are only as good as the import graph: it must see these."""
    graph = _graph()
    assert "chatd.store.base" in graph["chatd.store.sqlite"] or any(
        target.startswith("chatd.store") for target in graph["chatd.store.sqlite"]
    )
    assert "chatd.models" in graph["chatd.store.base"]
