"""The shape of the code, checked: dependencies point one way and no two modules need each other.

Layers, lowest first: `tally.engine` (a library: no Django, no pb) ← `pb.core` (and `pb.worker`) ←
`proposals` ← `ballots` ← `tally` ← `pb.demo` (the demo loader, which drives every app) ← the project's
wiring (`pb.settings`, `pb.urls`, `pb.wsgi`, `pb.asgi`). A module may import its own layer or lower ones;
where a lower layer must trigger a higher one it offers a hook that the higher app registers at start-up
(pb.core.services.PHASE_HOOKS, pb.core.navigation). Every import counts, at module level or inside a
function, and a cycle of any length between modules is refused. Migrations are left out (Django's own graph
orders them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("pb", "proposals", "ballots", "tally")
LAYERS = (  # (prefix, layer): the first matching prefix wins
    ("tally.engine", 0),
    ("pb.core", 1),
    ("pb.worker", 1),
    ("proposals", 2),
    ("ballots", 3),
    ("tally", 4),
    ("pb.demo", 5),
    ("pb", 6),
)
# A module longer than this says why in its docstring, in a sentence starting "Long module:".
MAX_LINES = 500


def _layer(module: str) -> int:
    return next(n for prefix, n in LAYERS if module == prefix or module.startswith(prefix + "."))


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:  # `from pkg import module` imports the module, not just pkg
                full = f"{base}.{alias.name}"
                names.add(full if _resolve(full) == full else base)
    targets = {_resolve(n) for n in names if n.split(".")[0] in APPS}
    return {t for t in targets if t and t != module}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {module: _imports(module, path) for module, path in MODULES.items()}


def test_the_walk_sees_the_apps(graph):
    # Not vacuous: the walk finds the apps' modules and their imports (a broken walk would pass everything).
    assert len(graph) > 100
    assert "ballots.casting.services" in graph and "tally.counting" in graph
    assert "ballots.ballotbox.sealing" in graph["tally.counting"]
    assert "pb.core.models" in graph["proposals.models"]


def test_no_import_runs_upward(graph):
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == [], "imports against the layer order:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_two_modules_need_each_other(graph):
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    # The check itself, on a made-up graph: a → b → c → a is found, a lone edge is not.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_long_modules_say_why():
    unexplained = []
    for module, path in sorted(MODULES.items()):
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MAX_LINES and "Long module:" not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{module}: {lines} lines")
    assert unexplained == [], "modules over ~500 lines without a reason in their docstring:\n" + "\n".join(
        unexplained
    )


def test_the_engine_imports_no_django(graph):
    # The engine is a library an official runs on a laptop (`python -m tally`): no Django, no pb app.
    for module, path in MODULES.items():
        if module.startswith("tally.engine"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = (
                        [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    )
                    assert not any(n.split(".")[0] == "django" for n in names), module
