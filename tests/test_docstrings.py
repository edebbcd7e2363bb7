"""Every public module, class, function, method and property of the package says what it is
(widget traits are covered by test_trait_help.py): the API reference is generated from these."""

import importlib
import inspect
import pkgutil

import drml_widgets


def public_modules():
    for info in pkgutil.walk_packages(drml_widgets.__path__, "drml_widgets."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield importlib.import_module(info.name)


def documented(cls, name, member) -> bool:
    """A member's own docstring, or the one it overrides (a refresh, a trait's validate)."""
    target = member if isinstance(member, property) else getattr(cls, name)
    return bool(inspect.getdoc(target)) or any(inspect.getdoc(getattr(base, name, None))
                                               for base in cls.__mro__[1:] if hasattr(base, name))


def undocumented(modules) -> list[str]:
    missing = []
    for module in modules:
        if not (module.__doc__ or "").strip():
            missing.append(module.__name__)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                missing += [f"{module.__name__}.{name}.{attr}" for attr, member in vars(obj).items()
                            if not attr.startswith("_")
                            and (isinstance(member, (property, staticmethod, classmethod)) or inspect.isfunction(member))
                            and not documented(obj, attr, member)]
    return missing


def test_every_public_name_has_a_docstring():
    missing = undocumented(public_modules())
    assert not missing, f"{len(missing)} public names have no docstring (say what each is or does): {missing}"


def test_the_walk_catches_what_has_none(tmp_path, monkeypatch):
    (tmp_path / "toy_docs.py").write_text(
        '"""A toy module."""\n\n'
        "def bare():\n    return 1\n\n\n"
        'def told():\n    """Says."""\n\n\n'
        'class Thing:\n    """A thing."""\n\n'
        "    def method(self):\n        return 2\n\n"
        "    @property\n    def prop(self):\n        return 3\n\n"
        "    def _private(self):\n        return 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = importlib.import_module("toy_docs")
    assert undocumented([toy]) == ["toy_docs.bare", "toy_docs.Thing.method", "toy_docs.Thing.prop"]
