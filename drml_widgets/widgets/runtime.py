"""plotly.js once per kernel: a hidden :class:`PlotlyRuntime` widget holds it, and every plotting
view names that widget in its ``_runtime`` trait.

Jupyter sends and saves a widget's ``_esm`` once per instance, so plotly.js (1.5 MB) inside each
view's module would travel, and be stored in a saved notebook, once per plot. Here it travels in
the ``source`` trait of one runtime widget; the views (``js/src/plots.js``) fetch that model by
reference (``widget_manager.get_model``) and evaluate the code once per page. A saved notebook,
an HTML export and the standalone report hold it once, as the runtime widget's state.
"""

from __future__ import annotations

import weakref

import anywidget
import traitlets as t

from .assets import bundle
from .hosts import kernel_scope, prepare_host


class PlotlyRuntime(anywidget.AnyWidget):
    """The shared plotting code (``static/plotly_runtime.js``); never displayed. Use
    :func:`plotly_runtime` rather than making one.

    Example:
        >>> runtime = plotly_runtime()
        >>> runtime is plotly_runtime(), runtime.source.startswith("/* drml-widgets bundle")
        (True, True)
    """

    source = t.Unicode("", help="the plotly.js bundle the plotting views load from this widget").tag(sync=True)

    def __init__(self):
        prepare_host()
        super().__init__(_esm=bundle("runtime"), source=bundle("plotly_runtime"))


_shared: dict[int, tuple] = {}  # id of the kernel's scope -> (weak reference to that scope, its runtime)


def plotly_runtime() -> PlotlyRuntime:
    """The kernel's runtime widget (one per marimo session: :func:`~.hosts.kernel_scope`), made
    on first use and again after it was closed (e.g. by ``ipywidgets.Widget.close_all()``).

    Example:
        >>> first = plotly_runtime()
        >>> first.close()
        >>> plotly_runtime() is not first
        True
    """
    scope = kernel_scope()
    owner, runtime = _shared.get(id(scope), (None, None))
    if runtime is None or owner() is not scope or runtime.comm is None:
        runtime = PlotlyRuntime()
        _shared[id(scope)] = (weakref.ref(scope) if scope is not None else lambda: None, runtime)
    return runtime
