"""The folders are the layers: each subpackage imports only from the ones below it, with no cycles.

Every import is read from the source (module level and inside functions alike), so a cycle
cannot hide in a function body, and no module reaches into another's ``_private`` names.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "steervec"
# lowest first: a module may import from its own layer and the layers before it
LAYERS = ["core", "backends", "data", "metrics", "vectors", "students", "plots", "experiment", "demo", "cli",
          "__init__", "__main__"]


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] or ["__init__"]
    return ".".join(parts)


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """{module: [(imported steervec module, names)]} with every relative import resolved."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = _module(path)
        pkg = mod.split(".")[:-1] if path.name != "__init__.py" else mod.split(".")
        found = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[: len(pkg) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif node.module and node.module.split(".")[0] == "steervec":
                    target = node.module.removeprefix("steervec").lstrip(".")
                else:
                    continue
                target = target or "__init__"
                subs = [a.name for a in node.names if _exists(f"{target}.{a.name}".removeprefix("__init__."))]
                found += [(f"{target}.{n}".removeprefix("__init__."), []) for n in subs]  # from pkg import module
                rest = [a.name for a in node.names if a.name not in subs]
                if rest:
                    found.append((target, rest))
            elif isinstance(node, ast.Import):
                found += [(a.name.removeprefix("steervec").lstrip(".") or "__init__", [])
                          for a in node.names if a.name.split(".")[0] == "steervec"]
        out[mod] = found
    return out


def _exists(module: str) -> bool:
    path = PACKAGE / module.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_every_module_belongs_to_a_layer():
    assert {m.split(".")[0] for m in _imports()} <= set(LAYERS)


def test_no_import_reaches_up_a_layer():
    bad = [f"{mod} imports {target}" for mod, found in _imports().items() for target, _ in found
           if _layer(target) > _layer(mod)]
    assert not bad, bad


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for mod, found in _imports().items():
        for target, _ in found:
            if target != mod and not _is_package(target):
                graph.setdefault(mod, set()).add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], node, nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [])
    assert not cycles, cycles[:3]


def _is_package(module: str) -> bool:
    return (PACKAGE / module.replace(".", "/") / "__init__.py").is_file() or module == "__init__"


def test_no_private_name_is_imported_across_modules():
    bad = [f"{mod} takes {n} from {target}" for mod, found in _imports().items() for target, names in found
           for n in names if n.startswith("_") and n != "__version__"]
    assert not bad, bad
