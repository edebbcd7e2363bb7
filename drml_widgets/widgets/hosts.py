"""What a host needs before it can draw our widgets. Colab draws third-party widgets only through
its custom widget manager, which a notebook has to switch on; we do it when ``google.colab`` has
been imported (as it is in every Colab kernel), once per kernel.
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
