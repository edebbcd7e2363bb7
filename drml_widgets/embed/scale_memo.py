"""A model's learned logit scale, kept beside its cached embeddings.

Tagging reads the scale at which CLIP was trained (see :func:`~drml_widgets.diagnose.zero_shot.logit_scale`).
Asking the model for it builds the model: torch, open_clip and the weights, seconds on a start that
the cache serves otherwise. The scale is kept as ``logit_scale.json`` in the model's cache folder,
which is named after the weights' digest: the same weights, the same scale.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

from .cache import write_atomically

SCALE_FILE = "logit_scale.json"


def _memo(encoder) -> Path | None:
    cache = getattr(encoder, "cache", None)  # a stand-in encoder (a function of texts) has none
    return None if cache is None else Path(cache.dir) / SCALE_FILE


def kept_logit_scale(encoder) -> float | None:
    """The logit scale kept for ``encoder``'s model, or ``None`` (none kept, unreadable, no cache).

    Example:
        >>> import tempfile
        >>> from drml_widgets import ClipEncoder
        >>> encoder = ClipEncoder("shapes", cache_dir=tempfile.mkdtemp())
        >>> kept_logit_scale(encoder) is None
        True
        >>> keep_logit_scale(encoder, 16.5)
        >>> kept_logit_scale(encoder), encoder.is_loaded
        (16.5, False)
    """
    path = _memo(encoder)
    if path is None:
        return None
    try:
        value = float(json.loads(path.read_text())["logit_scale"])
    except (OSError, ValueError, KeyError, TypeError):  # not kept yet, or damaged: the model says again
        return None
    return value if math.isfinite(value) and value > 0 else None


def keep_logit_scale(encoder, value: float) -> None:
    """Keep ``value`` as the logit scale of ``encoder``'s model; nothing without a cache (more in
    :func:`kept_logit_scale`).

    Example:
        >>> keep_logit_scale(lambda texts: None, 20.0)  # a stand-in encoder: nothing is kept
    """
    path = _memo(encoder)
    if path is None:
        return
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs the next start a model
        write_atomically(path.parent, lambda f: f.write(json.dumps({"logit_scale": value}).encode()),
                         lambda tmp: path.name)
