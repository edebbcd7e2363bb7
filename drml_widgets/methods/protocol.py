"""One shape for every method: a read-only view of a session, a method that declares what it
needs, and a registry that the session's routes, its ``methods()`` table and the scorecard
all read.

A method is registered once, in its own package::

    register(Method("lowest_loss", "a toy", "Which slice has the lowest mean loss?", run=my_run))

and from then on ``session.run("lowest_loss")``, ``session.methods()`` and the scorecard know it.
``run(view, **options)`` returns a :class:`~drml_widgets.results.Result`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from ..errors import SessionError
from ..prompts.generate import CLASS, AttributeSet, PromptSpec
from ..results import Result

# What a method may need of a session, and how a session lacking it is told.
NEEDS = {
    "classifier": "no classifier yet: call session.train_head(), or build the session with your model's outputs",
    "head": "no head yet: call session.train_head()",
    "trainable_head": "the classifier is known by its outputs only; retraining a surrogate would not change it",
    "image_attributes": "no image attributes (metadata columns or CLIP tags) to group images by",
    "images": "the session holds no images",
}


class ViewSource(Protocol):
    """What a :class:`SessionView` reads lazily from its session (a Session is one)."""

    text_emb: np.ndarray

    def image_features(self) -> np.ndarray:
        """Image embeddings as the head reads them."""

    def text_features(self) -> np.ndarray:
        """Prompt embeddings as the head reads them."""

    def image_predictions(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The classifier's predicted class per image (of ``mask`` when given)."""

    def image_losses(self) -> np.ndarray:
        """The classifier's loss on each image's true label."""


@dataclass(frozen=True, repr=False)
class SessionView:
    """What a method may read of a session, and nothing it may change: the image table and its
    splits, labels, classes, prompts, the class attribute (resolved once), the encoder, the
    head, and lazily the features and the classifier's outcomes.

    ``class_type`` is the attribute whose value is the class (None when a function gives the
    class); ``image_types`` the attribute types the table has, the class attribute left out.
    ``head`` is the CLIP head (for a black box: its surrogate); ``model_name`` names the user's
    classifier when it is a black box (None when the head is the classifier).

    Example:
        >>> from drml_widgets import Session
        >>> view = Session.from_shapes_world(n=1200, ensemble=False).view
        >>> view.class_type, view.image_types, int(view.split("test").sum())
        ('shape', ('size', 'color'), 1037)
    """

    source: ViewSource
    table: pd.DataFrame
    classes: tuple[str, ...]
    labels: np.ndarray
    attributes: AttributeSet
    spec: PromptSpec
    prompts: pd.DataFrame
    class_type: str | None
    encoder: Any
    image_emb: np.ndarray
    seed: int = 0
    head: Any = None
    model_name: str | None = None
    images: Any = None
    close_gap: bool = False
    extra: dict = field(default_factory=dict)

    @cached_property
    def splits(self) -> np.ndarray:
        """``train``/``val``/``test`` per image; every image is ``test`` without a split column."""
        if "split" not in self.table.columns:
            return np.full(len(self.table), "test", dtype=object)
        return self.table["split"].to_numpy(dtype=object)

    def split(self, name: str) -> np.ndarray:
        """The mask of one split (every image when the table has no split column)."""
        if "split" not in self.table.columns:
            return np.ones(len(self.table), dtype=bool)
        mask = self.splits == name
        if not mask.any():
            raise SessionError(f"No images in split {name!r}. Fix: mark rows of the table's 'split' column.")
        return mask

    @cached_property
    def image_types(self) -> tuple[str, ...]:
        """Attribute types the image table has, the class attribute left out."""
        return tuple(t for t in self.attributes.types
                     if t in self.table.columns and t != CLASS and t != self.class_type)

    @property
    def text_emb(self) -> np.ndarray:
        """Embeddings of the prompts (embedded on first use, cached on disk by the encoder)."""
        return self.source.text_emb

    def image_features(self) -> np.ndarray:
        """Image embeddings as the head reads them (gap closed when the session closes it)."""
        return self.source.image_features()

    def text_features(self) -> np.ndarray:
        """Prompt embeddings as the head reads them."""
        return self.source.text_features()

    def predictions(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The classifier's predicted class of every image (or of ``mask``)."""
        return self.source.image_predictions(mask)

    def losses(self) -> np.ndarray:
        """The classifier's per-image loss."""
        return self.source.image_losses()

    def rows_of(self, split: str) -> np.ndarray:
        """Row numbers of one split."""
        return np.flatnonzero(self.split(split))

    def __repr__(self) -> str:
        classifier = self.model_name or ("a CLIP head" if self.head is not None else "no head")
        return (f"SessionView({len(self.table)} images, {len(self.prompts)} prompts, classes={list(self.classes)}, "
                f"class_type={self.class_type!r}, {classifier})")


@dataclass(frozen=True)
class Method:
    """A registered method: its ``name`` (the session's ``run`` key and the scorecard's column),
    the ``paper`` it implements, the ``question`` it answers, what it ``needs`` (keys of
    :data:`NEEDS`), the ``view`` class that shows its result (if any), ``run(view, **options) ->
    Result``, and whether the scorecard may score it (``scorecard``: its top finding names a slice
    of images; False for a method whose findings are sentences or models).

    Example:
        >>> m = Method("toy", "none", "Which rows?", run=lambda view: None, needs=("head",))
        >>> m.name, m.needs
        ('toy', ('head',))
    """

    name: str
    paper: str
    question: str
    run: Callable[..., Result]
    needs: tuple[str, ...] = ()
    view: str | None = None
    scorecard: bool = True

    def __post_init__(self):
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise SessionError(f"Method {self.name!r} needs {unknown}, which are not known needs {list(NEEDS)}. "
                               "Fix: declare some of those.")

    def applies(self, view: SessionView) -> tuple[bool, str]:
        """Whether the method applies to ``view``, and why not when it does not."""
        have = {"classifier": view.head is not None or view.model_name is not None,
                "head": view.head is not None,
                "trainable_head": view.head is not None and view.model_name is None,
                "image_attributes": bool(view.image_types),
                "images": view.images is not None}
        missing = [NEEDS[n] for n in self.needs if not have[n]]
        return (not missing, "; ".join(missing))

    def options(self, required: bool = False) -> list[str]:
        """The named options ``run`` takes besides the view (``required``: only those without a default)."""
        params = list(inspect.signature(self.run).parameters.values())[1:]
        return [p.name for p in params if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
                and (not required or p.default is inspect.Parameter.empty)]

    def __call__(self, view: SessionView, **options) -> Result:
        """Run on ``view`` after checking that it applies and that every option is one ``run`` takes."""
        ok, why = self.applies(view)
        if not ok:
            raise SessionError(f"{self.name} does not apply to this session: {why}. Fix: see session.methods().")
        try:
            inspect.signature(self.run).bind(view, **options)
        except TypeError:
            unknown = sorted(set(options) - set(self.options()))
            raise SessionError(f"{self.name} takes no option {unknown}; its options are {self.options()}. "
                               f"Fix: pass some of those.") from None
        try:
            result = self.run(view, **options)
        except TypeError as error:  # an option passed on (**options) to a kernel that does not take it
            if "unexpected keyword argument" not in str(error):
                raise
            raise SessionError(f"{self.name}: {error}. Fix: pass the options its docstring lists "
                               f"(help(session.run) / get_method({self.name!r}).run).") from None
        result.method = self.name  # one result class may serve several methods (slices, failing slices)
        return result


_REGISTRY: dict[str, Method] = {}


def methods_table(view: SessionView, routes: dict[str, str] | None = None, also: tuple = ()) -> pd.DataFrame:
    """Every registered method (and the methods in ``also``): its paper, question, whether it
    applies to ``view`` and why not, the route that runs it (``routes``: method name -> the
    session's route) and its view.

    Example:
        >>> from drml_widgets import Session
        >>> methods_table(Session.from_shapes_world(n=1200, ensemble=False).view).columns.tolist()
        ['method', 'paper', 'question', 'applies', 'why', 'route', 'view']
    """
    rows = []
    for m in [*registered(), *also]:
        ok, why = m.applies(view)
        route = (routes or {}).get(m.name)
        rows.append({"method": m.name, "paper": m.paper, "question": m.question, "applies": ok, "why": why,
                     "route": f"session.{route}()" if route else f'session.run("{m.name}")', "view": m.view or ""})
    return pd.DataFrame(rows)


def register(method: Method, replace: bool = False) -> Method:
    """Add a method to the registry (``replace`` to swap one of the same name); returns it.

    Example:
        >>> toy = register(Method("doc_toy", "none", "?", run=lambda view: None))
        >>> "doc_toy" in [m.name for m in registered()]
        True
        >>> unregister("doc_toy").name
        'doc_toy'
    """
    if method.name in _REGISTRY and not replace:
        raise SessionError(f"A method named {method.name!r} is registered already. Fix: choose another name, "
                           "or pass replace=True.")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> Method:
    """Remove a method from the registry; returns it."""
    return _REGISTRY.pop(get_method(name).name)


def registered() -> list[Method]:
    """Every registered method, in registration order."""
    return list(_REGISTRY.values())


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Example:
        >>> get_method("no such method")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        drml_widgets.errors.SessionError: No method 'no such method'; the registered methods are [...]. Fix: pass one of them, or register(Method(...)) first.
    """
    if name not in _REGISTRY:
        raise SessionError(f"No method {name!r}; the registered methods are [{', '.join(_REGISTRY)}]. "
                           "Fix: pass one of them, or register(Method(...)) first.")
    return _REGISTRY[name]
