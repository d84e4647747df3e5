"""The house rules of the layout, checked on the source (ARCHITECTURE.md).

- Dependencies run one way between subpackages (``ALLOWED``), for every import:
  top-level, inside functions and under ``TYPE_CHECKING`` alike.
- No import cycle between modules, lazy or not. A package's ``__init__`` counts as a
  module that imports what it re-exports, so ``from symbl_async.core import X`` inside
  ``core`` itself would show up as a cycle.
- No function or method body over ``MAX_FUNCTION_LINES`` lines unless it opens with a
  comment saying why.
- No ``raise NotImplementedError``: a class lives whole in one module, and parts are
  composed, not mixins whose hook methods another file fills in (a ``Protocol``'s ``...``
  bodies are fine).
- Every package the source imports is declared: in ``[project] dependencies``, or in a
  user-facing extra (``postgres``, ``fastapi``) for what is imported only when used; the
  ``test`` and ``bench`` extras do not count.
- One name, one thing: no two classes with the same name, and no two modules with the
  same file name in different subpackages. The emulator is left out of this rule: it is the
  service's side of the same API (its ``_config`` configures the service, its ``Job`` is a
  job as the service keeps it), and nothing imports both.

Each rule that is broken today lists its offenders (``KNOWN_...``); the test fails when an
offender is fixed but still listed, so the lists only shrink.

Module length is not a rule: size is a smell to look at, and one concept in one module
reads better than the same concept cut into fragments to meet a line count.

Run the same check by hand: ``python -m pytest tests/test_layout.py -q``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "symbl_async"

# subpackage (or top-level module) -> what it may import inside the package.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "_serving": set(),  # how the package's own aiohttp servers start and stop
    "core": {"errors"},
    "models": {"core", "errors"},  # the converter parses times with core's parse_iso
    "transport": {"core", "errors", "_version"},
    "webhooks": {"core", "errors", "_serving"},
    "client": {"core", "errors", "models", "transport", "webhooks", "_version"},
    "batch": {"core", "errors", "models"},
    "emulator": {"core", "_serving"},
    "cli": {"*"},
    "fastapi": {"webhooks"},
    "__init__": {"*"},
}

# Edges that break the rules today, each with the issue that removes it. The test fails
# when one disappears without being removed here, so the list only shrinks.
KNOWN_VIOLATIONS: set[tuple[str, str]] = {
    # SymblClient.process_many: the 0.1 README's name, kept as a typed alias of
    # symbl_async.process_many (imported when called; batch never imports the client, so
    # there is no cycle). Goes when the alias is retired.
    ("client", "batch"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every package module that ``name`` imports, resolved to real modules."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # ``from pkg import mod`` imports the module; ``from mod import name`` the module.
            targets = [
                f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known else stem
                for alias in node.names
            ]
        for target in targets:
            if not target.startswith("symbl_async"):
                continue
            # The longest known module that the import names (or lies inside).
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    edges = {name: imports_of(name, path, known) for name, path in mods.items()}
    return edges


def area(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_dependencies_run_one_way_between_subpackages() -> None:
    violations: set[tuple[str, str]] = set()
    for name, targets in graph().items():
        src = area(name)
        allowed = ALLOWED[src]
        for target in targets:
            dst = area(target)
            if dst != src and "*" not in allowed and dst not in allowed:
                violations.add((src, dst))
    assert violations == KNOWN_VIOLATIONS


def test_no_import_cycle_between_modules() -> None:
    edges = graph()
    # The known violations are the only cycle allowed for now (issue 7 removes them).
    for src, dst in KNOWN_VIOLATIONS:
        for name in edges:
            if area(name) == src:
                edges[name] = {t for t in edges[name] if area(t) != dst}
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


MAX_FUNCTION_LINES = 60


def test_long_functions_say_why_they_are_long() -> None:
    """Over 60 lines (docstring aside), a function opens with a comment saying why."""
    unexplained = []
    for path in ROOT.rglob("*.py"):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = node.body[0]
            has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            start = first.end_lineno if has_doc and first.end_lineno else node.lineno
            end = node.end_lineno or node.lineno
            if end - start <= MAX_FUNCTION_LINES:
                continue
            opening = [line.strip() for line in lines[start : start + 3]]
            if not any(line.startswith("#") for line in opening):
                unexplained.append(f"{module_name(path)}.{node.name}: {end - start} lines")
    assert unexplained == []


def _raises_not_implemented(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


# Modules that still raise NotImplementedError in hook methods, with how many; each goes
# when its class is made whole (or its parts composed).
KNOWN_NOT_IMPLEMENTED: dict[str, int] = {}


def test_no_hook_method_raises_not_implemented() -> None:
    found: dict[str, int] = {}
    for path in ROOT.rglob("*.py"):
        count = sum(map(_raises_not_implemented, ast.walk(ast.parse(path.read_text()))))
        if count:
            found[module_name(path)] = count
    assert found == KNOWN_NOT_IMPLEMENTED


# Class names defined in more than one module today, with those modules.
KNOWN_SHARED_CLASS_NAMES: dict[str, list[str]] = {
    # core's is the submit option (symbl_async.Tracker), models' the detected tracker
    # (exported as symbl_async.DetectedTracker): the public names differ already.
    "Tracker": ["symbl_async.core._option_items", "symbl_async.models._insights"],
}


def _client_side() -> list[Path]:
    """The package's modules, the emulator (the service's side) left out."""
    return [p for p in ROOT.rglob("*.py") if "emulator" not in p.relative_to(ROOT).parts]


def test_no_two_classes_share_a_name() -> None:
    where: dict[str, set[str]] = {}
    for path in _client_side():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, set()).add(module_name(path))
    shared = {name: sorted(mods) for name, mods in where.items() if len(mods) > 1}
    assert shared == KNOWN_SHARED_CLASS_NAMES


# File names used by modules in more than one subpackage today, with those modules.
KNOWN_SHARED_MODULE_NAMES: dict[str, list[str]] = {
}


def test_no_two_modules_share_a_file_name() -> None:
    where: dict[str, set[str]] = {}
    for path in _client_side():
        if path.name != "__init__.py":
            where.setdefault(path.name, set()).add(module_name(path))
    shared = {name: sorted(mods) for name, mods in where.items() if len(mods) > 1}
    assert shared == KNOWN_SHARED_MODULE_NAMES


# Imported by the package, installed by a declared dependency that requires it.
VIA_DEPENDENCY = {"multidict": "aiohttp", "yarl": "aiohttp"}
# Extras for developing the package, not for using it.
DEVELOPER_EXTRAS = {"test", "bench"}


def third_party_imports() -> dict[str, set[str]]:
    """Each top-level name imported from outside the standard library -> its importers."""
    where: dict[str, set[str]] = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            else:
                continue
            for target in targets:
                root = target.partition(".")[0]
                if root != "symbl_async" and root not in sys.stdlib_module_names:
                    where.setdefault(root, set()).add(name)
    return where


def declared_distributions() -> set[str]:
    """Distributions the installed package requires, or offers in a user-facing extra.

    Read from the installed metadata (``pip install -e .`` writes it from pyproject.toml).
    """
    declared = set()
    for requirement in importlib.metadata.requires("symbl_async") or []:
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", requirement)
        if extra is None or extra.group(1) not in DEVELOPER_EXTRAS:
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            assert match is not None, requirement
            declared.add(match.group(0).lower().replace("_", "-"))
    return declared


def test_every_imported_package_is_declared() -> None:
    declared = declared_distributions()
    missing = {root: sorted(importers) for root, importers in third_party_imports().items()
               if VIA_DEPENDENCY.get(root, root) not in declared}
    assert missing == {}, (
        "imported but not declared in pyproject.toml's [project] dependencies (a fresh "
        "install cannot import the package; declare it, then pip install -e . again)"
    )
