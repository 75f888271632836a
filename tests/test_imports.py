"""The module graph: no import cycle (deferred imports included), and the layers that must stay Flask-free."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = {".venv", "tests", "bench", "node_modules", "openrouter_mock", "deploy"}


def _modules():
    modules = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in SKIP or rel.parts[0].startswith("."):
            continue
        modules[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    return modules


def _imports(path):
    """Every absolute import in the file, at the top or inside a function (a deferred import is still an edge)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph():
    modules = _modules()
    return {name: {dep for dep in _imports(path) if dep in modules and dep != name} for name, path in modules.items()}


def find_cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[name] = "done"
        stack.pop()
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    graph = _graph()
    layers = {"app", "core.errors", "webapp.error_handlers", "webapp.auth", "webapp.composition", "services.container"}
    assert layers <= set(graph)
    assert find_cycle(graph) is None


@pytest.mark.parametrize("layer", ["core", "services", "upstream", "server"])
def test_layer_is_flask_free(layer):
    flask_users = sorted(
        name
        for name, path in _modules().items()
        if (name == layer or name.startswith(layer + "."))
        and any(dep == "flask" or dep.startswith(("flask.", "flask_")) for dep in _imports(path))
    )
    assert flask_users == []


def test_no_test_module_imports_another():
    """Shared test helpers live in conftest.py (or the server helpers), never in a test module."""
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for dep in _imports(path):
            if dep.startswith("tests.test_") or (dep.startswith("test_") and dep != path.stem):
                offenders.append(f"{path.name} imports {dep}")
    assert offenders == []


def test_the_top_level_holds_only_the_stack_names():
    """app.py and gunicorn.conf.py; every other module sits in a package named for its role."""
    assert sorted(path.name for path in ROOT.glob("*.py")) == ["app.py", "gunicorn.conf.py"]
    for init in sorted(ROOT.glob("*/__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.parent.name}/__init__.py says what it is for"


def test_only_the_factory_imports_blueprints():
    importers = sorted(
        name
        for name, path in _modules().items()
        if name.split(".")[0] != "blueprints"
        and any(dep == "blueprints" or dep.startswith("blueprints.") for dep in _imports(path))
    )
    assert importers == ["app"]
