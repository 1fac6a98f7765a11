"""The import graph of the repository's apps, read with ast (imports at the top of a module and
inside functions alike), keeps the layers one-way:

- `files` and `storage` import nothing from `sharing` (sharing builds on files; what files needs
  of it is registered by sharing when it starts, files.link_uploads);
- no cycle between apps;
- no cycle among the modules of an app's service layer (everything but its ways in and wiring:
  views, api/, urls, admin, forms, apps, management commands, migrations, template tags).

`locker/` (settings, URLs, the frame every app uses) is an app too, held to the same rules.
"""

import ast
from pathlib import Path

from django.apps import apps

REPO = Path(__file__).resolve().parents[1]
# Parts of a module path that make it a way in or wiring, outside an app's service layer.
WAYS_IN = {"views", "api", "urls", "admin", "apps", "forms", "management", "migrations"}
WAYS_IN |= {"templatetags"}


def repo_apps() -> list[str]:
    """Top-level packages of the Django apps of this repository."""
    names = []
    for config in apps.get_app_configs():
        top = config.name.split(".")[0]
        path = Path(config.path).resolve()
        if path.is_relative_to(REPO) and path.relative_to(REPO).parts[0] == top:
            names.append(top)
    return sorted(names)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(root: Path, packages: list[str]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def imported_names(path: Path, name: str) -> set[str]:
    """The dotted name of everything imported anywhere in the module (a module, or a name in a
    module), relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            # `from a import b` is a.b when that is a module, else a name in a (resolved below).
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, packages: list[str]) -> dict[str, set[str]]:
    """module → the modules of `packages` it imports."""
    modules = modules_of(root, packages)
    graph = {}
    for name, path in modules.items():
        edges = set()
        for imported in imported_names(path, name):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                edges.add(imported)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def app_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for module, targets in graph.items():
        app = module.split(".")[0]
        result.setdefault(app, set())
        result[app].update(t.split(".")[0] for t in targets if t.split(".")[0] != app)
    return result


def service_layer(graph: dict[str, set[str]], app: str) -> dict[str, set[str]]:
    members = {
        m
        for m in graph
        if m.split(".")[0] == app
        and not any(p in WAYS_IN or p.endswith("_views") for p in m.split(".")[1:])
    }
    return {m: graph[m] & members for m in members}


def where(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    return [f"{m} → {t}" for m in component for t in sorted(graph[m]) if t in component]


# --- the checks on this repository ------------------------------------------------------------


def test_the_apps_of_the_repository_are_all_read():
    graph = import_graph(REPO, repo_apps())
    assert {"storage", "accounts", "files", "sharing"} <= set(repo_apps())
    assert len(graph) > 100
    # A function-level import is an edge: upload_link_create imports sharing.selectors.
    assert "sharing.selectors" in graph["sharing.upload_links"]


def test_files_and_storage_import_nothing_from_sharing():
    graph = import_graph(REPO, repo_apps())
    crossings = [
        f"{module} → {target}"
        for module, targets in sorted(graph.items())
        if module.split(".")[0] in ("files", "storage")
        for target in sorted(targets)
        if target.split(".")[0] == "sharing"
    ]
    assert crossings == []


def test_no_cycle_between_apps():
    graph = import_graph(REPO, repo_apps())
    found = {}
    for component in cycles(app_graph(graph)):
        found[" ".join(component)] = [
            f"{module} → {target}"
            for module, targets in sorted(graph.items())
            for target in sorted(targets)
            if module.split(".")[0] in component
            and target.split(".")[0] in component
            and target.split(".")[0] != module.split(".")[0]
        ]
    assert found == {}


def test_no_cycle_in_the_service_layer_of_any_app():
    graph = import_graph(REPO, repo_apps())
    found = {}
    for app in repo_apps():
        layer = service_layer(graph, app)
        for component in cycles(layer):
            found[" ".join(component)] = where(layer, component)
    assert found == {}


# --- the checks can fail ----------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_function_level_import_that_closes_a_cycle_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/services.py": "def f():\n    from app.tasks import t\n",
            "app/tasks.py": "from app import services\n",
            "app/views.py": "from . import services, tasks\n",
        },
    )
    graph = import_graph(tmp_path, ["app"])
    assert graph["app.views"] == {"app.services", "app.tasks"}
    assert cycles(service_layer(graph, "app")) == [["app.services", "app.tasks"]]


def test_a_cycle_between_apps_is_found(tmp_path):
    _write(
        tmp_path,
        {
            "one/__init__.py": "",
            "one/a.py": "import two.b\n",
            "two/__init__.py": "",
            "two/b.py": "def g():\n    from one.a import x\n",
        },
    )
    assert cycles(app_graph(import_graph(tmp_path, ["one", "two"]))) == [["one", "two"]]
