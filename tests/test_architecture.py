"""The map of vetting/: sub-packages by role, and no import cycle among its modules.

Only imports that run when a module is loaded count (module level, outside ``TYPE_CHECKING``):
a function may import what it needs when it runs, which is how the CLI stays quick to start.
docs/architecture.md draws the same map.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "vetting"
#: The rooms of the house, and the only top-level modules left beside them.
PACKAGES = {"domain", "store", "engine", "collectors", "screening", "review", "reports", "services", "people",
            "records", "queue", "cli", "web", "demo", "demoweb", "data"}
TOP_LEVEL = {"__init__.py", "errors.py"}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _load_time_imports(path: Path) -> set[str]:
    """The vetting modules ``path`` imports when it is loaded (not inside functions or TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vetting") and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("vetting"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in _load_time_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_vetting_is_sub_packages_by_role() -> None:
    top = {p.name for p in ROOT.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert {p for p in top if (ROOT / p).is_dir()} - {"__pycache__"} == PACKAGES
    assert {p for p in top if (ROOT / p).is_file()} == TOP_LEVEL


def test_no_import_cycle() -> None:
    g = graph()
    assert len(g) > 80
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_the_lower_rooms_never_import_the_shell() -> None:
    """Domain, store, engine, screening, review and reports never import the CLI or the services at load time."""
    for name, deps in graph().items():
        room = name.split(".")[1] if "." in name else ""
        if room in {"domain", "store", "engine", "screening", "review", "reports", "collectors"}:
            shell = sorted(d for d in deps if d.startswith(("vetting.cli", "vetting.web", "vetting.services", "vetting.demo.")))
            assert shell == [], (name, shell)
