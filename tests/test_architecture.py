"""The package's import graph: dependencies point one way.

Every module of ``sk_mlp`` is parsed (not imported) and each import of an
``sk_mlp`` module is collected, at module level or inside a function. The
tests fail on an import cycle between modules, on a subpackage importing one
above it in :data:`MAY_IMPORT`, on an import of an ``sk_mlp`` module inside a
function (the way a cycle is usually dodged), and on torch in the
preprocessing or scikit-learn in the network. ``docs/architecture.rst``
draws the same table.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

import sk_mlp

PACKAGE = pathlib.Path(sk_mlp.__file__).parent

# What each subpackage may import besides itself: the layers, top to bottom.
MAY_IMPORT = {
    "_estimators": {"_io", "_scale", "_engine", "_nn", "_preprocessing", "_compat"},
    "_io": {"_engine", "_nn", "_preprocessing", "_compat"},
    "_scale": {"_engine", "_nn", "_preprocessing", "_compat"},
    "_engine": {"_nn", "_preprocessing", "_compat"},
    "_nn": {"_preprocessing", "_compat"},
    "_preprocessing": {"_compat"},
    "_compat": set(),
}
# Modules at the top of the package: the public names and the command line
# import anything; the version imports nothing and anything may import it.
TOP = {"sk_mlp": "any", "sk_mlp.__main__": "any", "sk_mlp._version": "leaf"}
# Third-party libraries a subpackage must never import.
FORBIDDEN_LIBRARIES = {"_preprocessing": {"torch"}, "_nn": {"sklearn"}, "_compat": set()}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


class Import:
    """One import statement's target, where it is, and whether it sits in a function."""

    def __init__(self, target: str, line: int, in_function: bool):
        self.target, self.line, self.in_function = target, line, in_function


def imports(tree: ast.Module, name: str) -> Iterator[Import]:
    """Every module ``tree`` (module ``name``) imports, relative ones resolved;
    ``from package import module`` names the module."""
    package = name if _is_package(name) else name.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(alias.name, child.lineno, inside)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module
                for alias in child.names:
                    submodule = f"{source}.{alias.name}"
                    target = submodule if _is_module(submodule) else source
                    yield Import(target, child.lineno, inside)
            yield from walk(child, inside)

    yield from walk(tree, False)


def import_graph() -> dict[str, list[Import]]:
    """Each ``sk_mlp`` module with the imports it makes (all libraries)."""
    return {
        module_name(path): list(imports(ast.parse(path.read_text()), module_name(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def package_edges(graph) -> dict[str, set[str]]:
    return {
        name: {i.target for i in found if i.target.split(".")[0] == "sk_mlp"}
        for name, found in graph.items()
    }


def subpackage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and _is_package(name)) else None


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first repeated last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


GRAPH = import_graph()
EDGES = package_edges(GRAPH)


def test_the_graph_sees_every_subpackage_and_module():
    """The walk finds the subpackages of the table and their imports (a
    walk that found nothing would pass every test below)."""
    assert {subpackage(name) for name in GRAPH} - {None} == set(MAY_IMPORT)
    assert "sk_mlp._engine.training" in EDGES["sk_mlp._estimators.base"]
    assert len(GRAPH) > 40


def test_no_import_cycle():
    cycle = find_cycle(EDGES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_function_level_import_of_the_package():
    """A function-level import is how a cycle is dodged: imports of sk_mlp
    modules sit at the top of a module. (Optional libraries such as onnx,
    dask and safetensors are still imported inside the functions using them.)"""
    found = [
        f"{name}:{i.line} imports {i.target}"
        for name, imps in GRAPH.items()
        for i in imps
        if i.in_function and i.target.split(".")[0] == "sk_mlp"
    ]
    assert not found, "\n".join(found)


def _layer_violations(edges) -> list[str]:
    found = []
    for name, targets in edges.items():
        for target in targets:
            if TOP.get(target) == "leaf" or TOP.get(name) == "any":
                continue
            if target in TOP:
                found.append(f"{name} imports {target}, which imports the whole package")
                continue
            if TOP.get(name) == "leaf":
                found.append(f"{name} must import nothing of the package, imports {target}")
                continue
            mine, theirs = subpackage(name), subpackage(target)
            if mine != theirs and theirs not in MAY_IMPORT[mine]:
                found.append(f"{name} ({mine}) imports {target} ({theirs})")
    return found


def test_dependencies_point_down_the_layers():
    violations = _layer_violations(EDGES)
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_LIBRARIES))
def test_layers_keep_off_the_libraries_they_must_not_import(layer):
    found = [
        f"{name}:{i.line} imports {i.target}"
        for name, imps in GRAPH.items()
        if subpackage(name) == layer
        for i in imps
        if i.target.split(".")[0] in FORBIDDEN_LIBRARIES[layer]
    ]
    assert not found, "\n".join(found)


def test_compat_imports_nothing_of_the_package():
    found = [
        f"{name} imports {target}"
        for name, targets in EDGES.items()
        if subpackage(name) == "_compat"
        for target in targets
        if subpackage(target) != "_compat"
    ]
    assert not found, "\n".join(found)


# ------------------------------------------------------ the checks themselves
def test_a_cycle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_an_upward_import_is_found():
    edges = {
        "sk_mlp._nn.layers": {"sk_mlp._engine.training"},
        "sk_mlp._engine.training": {"sk_mlp._nn.layers", "sk_mlp._version"},
        "sk_mlp._io.codec": {"sk_mlp"},
    }
    assert sorted(_layer_violations(edges)) == [
        "sk_mlp._io.codec imports sk_mlp, which imports the whole package",
        "sk_mlp._nn.layers (_nn) imports sk_mlp._engine.training (_engine)",
    ]


def test_relative_and_function_level_imports_are_resolved():
    source = (
        "from . import device\n"
        "from .._nn.losses import weighted_mean\n"
        "def f():\n"
        "    from .._version import __version__\n"
        "    import torch\n"
    )
    found = list(imports(ast.parse(source), "sk_mlp._nn.layers"))
    assert [(i.target, i.in_function) for i in found] == [
        ("sk_mlp._nn.device", False),
        ("sk_mlp._nn.losses", False),
        ("sk_mlp._version", True),
        ("torch", True),
    ]
