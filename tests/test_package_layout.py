"""The package's shape: imports only go down the layers, no cycles (lazy and ``TYPE_CHECKING`` imports
included), no private name imported from another module, every error class in errors.py, and no module
too large to read."""

import ast
from fnmatch import fnmatch
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "drml_widgets"
MAX_LINES = 400

# The layer order, declared once, lowest first: a module imports its own layer or lower ones only.
# Names are patterns for the first part after ``drml_widgets.``; "" is the package's own ``__init__``.
LAYERS = [
    ["errors", "_common", "threads", "results"],
    ["prompts"],  # attribute sets and templates: the shapes world's presets are written in them
    ["data"],  # image sources and the shapes world
    ["embed"],  # encoders read image tables through data.sources
    ["diagnose"],
    ["methods"],
    ["jobs"],  # scripts that train the bundled models
    ["scorecard"],
    ["session*"],
    ["widgets"],
    ["demo", "cli", "__main__", ""],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str, layers: list[list[str]] = LAYERS) -> int:
    """Index of the layer holding ``module`` (``drml_widgets.data.shapes`` is in the ``data`` layer)."""
    top = module.split(".")[1] if "." in module else ""
    for i, names in enumerate(layers):
        if any(fnmatch(top, pattern) for pattern in names):
            return i
    raise KeyError(f"{module} is in no layer: add {top!r} to LAYERS")


def import_edges(name: str, is_package: bool, source: str, known) -> set[tuple[str, str | None]]:
    """``(module, imported name)`` for every package module ``name`` imports: at import time,
    inside functions or under ``if TYPE_CHECKING:`` (a circle only type checkers see is still one).
    The name is None for ``import x`` and where the imported name is itself a module."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            edges = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from .pkg import mod" names a module; "from .mod import func" names its module.
            edges = [(f"{base}.{a.name}", None) if f"{base}.{a.name}" in known else (base, a.name)
                     for a in node.names]
        else:
            continue
        found |= {(t, n) for t, n in edges if t in known and t != name}
    return found


def all_edges() -> dict[str, set[tuple[str, str | None]]]:
    known = modules()
    return {name: import_edges(name, path.name == "__init__.py", path.read_text(), known)
            for name, path in known.items()}


def graph_of(edges) -> dict[str, set[str]]:
    return {name: {target for target, _ in out} for name, out in edges.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Every edge from a module to one of a higher layer, as ``"a -> b"``."""
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets
                  if layer_of(b, layers) > layer_of(a, layers))


def private_imports(edges) -> list[str]:
    """Every ``from .x import _y`` of a private (not dunder) name from another module."""
    return sorted(f"{a} imports {name} from {b}" for a, out in edges.items() for b, name in out
                  if name and name.startswith("_") and not name.startswith("__"))


def test_the_import_graph_has_no_cycle():
    graph = graph_of(all_edges())
    assert graph["drml_widgets.session"], "the walk found no imports: it is broken, not the package clean"
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_walk_sees_lazy_and_type_checking_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
              "def f():\n    from .c import g\n")
    known = {"p", "p.a", "p.b", "p.c"}
    assert import_edges("p.a", False, source, known) == {("p.b", "B"), ("p.c", "g")}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_imports_only_go_down_the_layers():
    found = upward_imports(graph_of(all_edges()))
    assert not found, "these import a higher layer:\n" + "\n".join(found)


def test_the_layer_check_finds_an_upward_import():
    layers = [["low"], ["high"]]
    graph = {"p.low.a": {"p.high"}, "p.high": {"p.low.a"}, "p.low.b": {"p.low.a"}}
    assert upward_imports(graph, layers) == ["p.low.a -> p.high"]


def test_no_private_name_is_imported_from_another_module():
    found = private_imports(all_edges())
    assert not found, "make these public or keep them in their module:\n" + "\n".join(found)


def test_the_private_import_check_finds_one():
    source = "from .b import _hidden, shown, __version__\nfrom . import _mod\n"
    known = {"p", "p.a", "p.b", "p._mod"}
    edges = {"p.a": import_edges("p.a", False, source, known)}
    assert private_imports(edges) == ["p.a imports _hidden from p.b"]


def error_classes_outside(sources: dict[str, str], home: str) -> list[str]:
    """Every class deriving, directly or through others, from ``DrmlError`` that is defined
    in a module other than ``home``, as ``"module.Class"``."""
    defined = []  # (module, class, base names)
    for name, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", None) for b in node.bases}
                defined.append((name, node.name, bases))
    errors, grew = {"DrmlError"}, True
    while grew:
        found = {cls for _, cls, bases in defined if bases & errors}
        grew = not found <= errors
        errors |= found
    return sorted(f"{name}.{cls}" for name, cls, _ in defined if cls in errors and name != home)


def test_every_error_class_is_defined_in_errors():
    sources = {name: path.read_text() for name, path in modules().items()}
    found = error_classes_outside(sources, "drml_widgets.errors")
    assert not found, "define these in drml_widgets/errors.py and import them where raised:\n" + "\n".join(found)


def test_the_error_check_finds_one_outside():
    sources = {"p.errors": "class DrmlError(Exception): pass\nclass AError(DrmlError): pass\n",
               "p.b": "from . import errors\nclass BError(errors.AError): pass\nclass CError(BError): pass\n"
                      "class Plain(ValueError): pass\n"}
    assert error_classes_outside(sources, "p.errors") == ["p.b.BError", "p.b.CError"]


def test_no_module_is_too_long_to_read():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these by concern: {long}"
