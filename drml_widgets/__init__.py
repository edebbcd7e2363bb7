"""drml-widgets: diagnose and rectify vision classifiers with language, in CLIP's shared space.

The public face: a :class:`Session` ties images, a classifier and prompts together; its
``find_*``/``fit_*`` routes run the registered methods (``session.methods()`` lists them);
``Dashboard`` and the other views show their results; errors are in :mod:`drml_widgets.errors`.

Example:
    >>> from drml_widgets import ClipEncoder, Session, load_shapes_world
    >>> world = load_shapes_world(n=1200)
    >>> ClipEncoder("shapes").encode_images(world.images[:4]).shape
    (4, 64)
"""

import importlib
import warnings

from . import errors
from .data.shapes import WATERBIRDS_LIKE, ShapesWorld, load_shapes_world
from .data.sources import load_images
from .embed.encoder import ClipEncoder
from .methods.protocol import Method, register
from .prompts.generate import AttributeSet, PromptSpec
from .session import Session

__version__ = "0.1.0"
__all__ = [
    "AttributeSet", "ClipEncoder", "Dashboard", "Method", "PromptSpec", "Session", "ShapesWorld", "WATERBIRDS_LIKE",
    "errors", "load_images", "load_shapes_world", "register", "run_scorecard", "write_report",
]

# Loaded on first use: the widgets bring anywidget and the scorecard its pool, neither needed to compute.
_LAZY = {"Dashboard": "drml_widgets.widgets", "write_report": "drml_widgets.widgets",
         "run_scorecard": "drml_widgets.scorecard.run"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if isinstance(getattr(errors, name, None), type):  # errors used to sit at the top level; one release of that
        warnings.warn(f"drml_widgets.{name} moved to drml_widgets.errors.{name}. Fix: from drml_widgets.errors "
                      f"import {name}.", FutureWarning, stacklevel=2)
        return getattr(errors, name)
    raise AttributeError(f"module 'drml_widgets' has no attribute {name!r}")
