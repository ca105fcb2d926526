"""The package's import graph: no cycle anywhere in ``resolver/``, and imports where readers see them.

Every ``import`` statement of every module counts (module level, under
``TYPE_CHECKING``, inside functions), so that a cycle cannot hide behind a late
import. Imports of mach-nix modules inside functions are allowed only at the
command boundary (the executable's entry, the command modules and ``__main__``
programs), where they keep the start-up of unrelated commands cheap; and package
``__init__`` files import nothing, so that importing one module of a package never
runs the others.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from nixhelpers import REPO

SOURCE = REPO / "resolver"
PACKAGE = "mach_nix"

#: Modules where function-level imports of mach-nix modules keep unrelated commands fast.
BOUNDARY = ("mach_nix.entry", "mach_nix.commands.")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(path): path for path in sorted((SOURCE / PACKAGE).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """The mach-nix modules ``name`` imports: ``(module, line, inside a function)``.

    ``from a.b import c`` counts as an import of ``a.b.c`` when that is a module, else of ``a.b``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    found.append((target if target in known else base, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return [(target, line, late) for target, line, late in found if target.split(".")[0] == PACKAGE]


def import_graph() -> dict[str, set[str]]:
    """Module -> the mach-nix modules it imports."""
    known = set(modules())
    return {name: {target for target, _, _ in imports_of(name, path, known)} for name, path in modules().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path ``[a, b, …, a]``, or ``None`` when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = walk(target)
                if cycle is not None:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = walk(node)
            if cycle is not None:
                return cycle
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_sees_every_kind_of_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    (source / PACKAGE / "sub").mkdir(parents=True)
    (source / PACKAGE / "__init__.py").write_text("")
    (source / PACKAGE / "sub" / "__init__.py").write_text("")
    (source / PACKAGE / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mach_nix.sub import b\n"
    )
    (source / PACKAGE / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "SOURCE", source)
    graph = import_graph()
    assert graph["mach_nix.a"] == {"mach_nix.sub.b"} and graph["mach_nix.sub.b"] == {"mach_nix.a"}
    assert find_cycle(graph) == ["mach_nix.a", "mach_nix.sub.b", "mach_nix.a"]


def test_no_import_cycle_in_the_package() -> None:
    graph = import_graph()
    assert len(graph) > 30 and "mach_nix.resolution.provider" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_function_level_imports_only_at_the_command_boundary() -> None:
    known = set(modules())
    late = [
        f"{name}:{line} imports {target}"
        for name, path in modules().items()
        if not name.startswith(BOUNDARY) and not name.endswith("__main__")
        for target, line, inside in imports_of(name, path, known)
        if inside
    ]
    assert late == []


def test_package_init_files_import_nothing_of_the_package() -> None:
    known = set(modules())
    loaded = {
        name: [target for target, _, _ in imports_of(name, path, known)]
        for name, path in modules().items()
        if path.name == "__init__.py"
    }
    assert {name: targets for name, targets in loaded.items() if targets} == {}
    assert {"mach_nix", "mach_nix.db", "mach_nix.resolution", "mach_nix.server", "mach_nix.commands"} <= set(loaded)
