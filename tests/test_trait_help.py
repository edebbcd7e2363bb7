"""Every public synced trait of every view says what it holds (``help=``): the widget classes
drml_widgets.widgets exports, their bases, and any other widget class its modules define."""

import importlib
import inspect
import pkgutil

import traitlets as t

import drml_widgets.widgets as widgets


def widget_classes() -> set[type]:
    """The exported classes and their bases, and every HasTraits class the package's modules
    define: those of this package only (ipywidgets' and anywidget's own traits are theirs)."""
    found = {base for name in widgets.__all__ if inspect.isclass(getattr(widgets, name))
             for base in getattr(widgets, name).__mro__}
    for module in pkgutil.iter_modules(widgets.__path__):
        found |= {cls for _, cls in inspect.getmembers(importlib.import_module(f"{widgets.__name__}.{module.name}"),
                                                       inspect.isclass)}
    return {cls for cls in found if issubclass(cls, t.HasTraits) and cls.__module__.startswith("drml_widgets.")}


def without_help(classes) -> list[str]:
    """``module.Class.trait`` for every synced trait, not named with ``_``, that a class defines
    with no help text."""
    return sorted(f"{cls.__module__}.{cls.__name__}.{name}" for cls in classes for name, trait in vars(cls).items()
                  if isinstance(trait, t.TraitType) and trait.metadata.get("sync") and not name.startswith("_")
                  and not (trait.help or "").strip())


def test_every_public_synced_trait_has_help():
    classes = widget_classes()
    assert {"FindingsView", "ResultView", "SessionWidget", "PlotlyRuntime", "Dashboard"} <= {c.__name__ for c in classes}
    missing = without_help(classes)
    assert not missing, f"{len(missing)} synced traits have no help= (say what each holds, and what setting it does): {missing}"


def test_the_walker_catches_a_trait_without_help():
    class Throwaway(t.HasTraits):
        shown = t.Unicode("", help="has one").tag(sync=True)
        bare = t.Int(0).tag(sync=True)
        blank = t.Int(0, help="  ").tag(sync=True)
        _private = t.Int(0).tag(sync=True)
        kernel_only = t.Int(0)

    class Child(Throwaway):
        added = t.List().tag(sync=True)

    assert without_help([Throwaway, Child]) == [f"{__name__}.Child.added", f"{__name__}.Throwaway.bare",
                                                f"{__name__}.Throwaway.blank"]
