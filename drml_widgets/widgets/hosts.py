"""What a host needs before it can draw our widgets. Colab draws third-party widgets only through
its custom widget manager, which a notebook has to switch on; we do it when ``google.colab`` has
been imported (as it is in every Colab kernel), once per kernel. marimo's app server runs many
sessions in one process, so "once per kernel" means once per marimo session there
(:func:`kernel_scope`).
"""

from __future__ import annotations

import sys

_prepared = False


def prepare_host() -> bool:
    """Switch on Colab's custom widget manager when running in Colab; returns whether it did.

    Example (outside Colab there is nothing to do):
        >>> prepare_host()
        False
    """
    global _prepared
    if _prepared or "google.colab" not in sys.modules:
        return False
    try:
        from google.colab import output
    except ImportError:  # a module named google.colab that is not Colab's
        return False
    output.enable_custom_widget_manager()
    _prepared = True
    return True


def kernel_scope():
    """What stands for one kernel: ``None`` where a process is one kernel (Jupyter, Colab, VS
    Code); the running session's runtime context under marimo, whose server runs each browser
    session in its own thread of one process.

    Example (outside marimo):
        >>> kernel_scope() is None
        True
    """
    context = sys.modules.get("marimo._runtime.context.types")
    return context.safe_get_context() if context is not None else None
