"""The Session's entry points, made from the registry's methods: one route per method, with the
method's own signature and docstring, and the old names kept one release as warning aliases.

The naming rule: verbs for work (``find_*``, ``fit_*``, ``measure_*``, ``train_head``,
``rectify``), nouns for cheap reads (``view``, ``version``, ``methods()``,
``image_predictions()``).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Callable


def route(name: str, run: Callable) -> Callable:
    """A Session method that runs the registered method ``name`` (whose ``run`` is ``run``):
    ``session.<route>(...)`` is ``session.run(name, ...)``, with ``run``'s signature less the
    view, and its docstring.

    Example:
        >>> from drml_widgets import Session
        >>> str(inspect.signature(Session.find_slices))
        "(self, by: 'Sequence[str]') -> 'SliceComparison'"
    """
    signature = inspect.signature(run)
    params = list(signature.parameters.values())

    @functools.wraps(run)
    def method(self, *args, **options):
        bound = signature.bind_partial(None, *args, **options)
        arguments = dict(bound.arguments)
        arguments.pop(params[0].name)
        for p in params:  # **options of run travel as keywords
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                arguments.update(arguments.pop(p.name, {}))
        return self.run(name, **arguments)

    del method.__wrapped__  # the signature below is the route's own, without the view
    method.method_name = name
    method.__signature__ = signature.replace(parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
                                             + params[1:])
    return method


def renamed(old: str, new: str, adapt: Callable | None = None) -> Callable:
    """An alias kept for one release: warns (FutureWarning, which notebooks show) and calls
    ``new``; ``adapt`` turns the new return value into the old one.

    Example:
        >>> from drml_widgets import Session
        >>> Session.slices.__doc__.splitlines()[0]
        'Deprecated: renamed find_slices (the old name goes in the next release).'
    """
    def alias(self, *args, **kwargs):
        warnings.warn(f"Session.{old} is renamed Session.{new}; the old name goes in the next release. "
                      f"Fix: call session.{new}(...).", FutureWarning, stacklevel=2)
        out = getattr(self, new)(*args, **kwargs)
        return adapt(out) if adapt is not None else out

    alias.__name__ = old
    alias.__doc__ = f"Deprecated: renamed {new} (the old name goes in the next release)."
    return alias
