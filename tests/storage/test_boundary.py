"""The storage engine imports nothing from the apps that use it: every module of storage/
(functions and migrations included) is read with ast, and an import of another app of this
repository fails the test. The apps find blobs through Blob's relations and hand the engine what
it needs (a holder's liveness, a signal receiver), never the other way round."""

import ast
from pathlib import Path

from django.apps import apps
from django.conf import settings

STORAGE = Path(__file__).resolve().parents[2] / "storage"
REPO = STORAGE.parent


def domain_apps() -> set[str]:
    """Top-level packages of the Django apps of this repository, other than storage."""
    names = set()
    for config in apps.get_app_configs():
        top = config.name.split(".")[0]
        path = Path(config.path).resolve()
        # An app of this repository is a package at its top; an installed library can also sit
        # under the repository (a .venv inside the checkout) and is not one of ours.
        if path.is_relative_to(REPO) and path.relative_to(REPO).parts[0] == top != "storage":
            names.add(top)
    return names


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import, and of every import_module()/get_model() given a literal."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            first = node.args[0]
            if name in ("import_module", "get_model", "__import__") and isinstance(
                first, ast.Constant
            ):
                found.append((node.lineno, str(first.value)))
    return found


def test_the_domain_apps_are_the_ones_the_boundary_keeps_out():
    assert {"accounts", "files", "sharing"} <= domain_apps()
    assert "storage" in settings.INSTALLED_APPS


def test_storage_imports_nothing_from_the_apps_that_use_it():
    forbidden = domain_apps()
    modules = sorted(STORAGE.rglob("*.py"))
    assert len(modules) > 10  # the walk sees the whole package
    crossings = []
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, module in imported_modules(tree):
            top = module.replace(".", " ").split()[0] if module else ""
            if top in forbidden:
                crossings.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert crossings == []
