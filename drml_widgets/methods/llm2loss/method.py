"""LLM2Loss (paper 002) as a registered method: ensembles fit to the classifier's per-image
loss, queried with text; the session's prompts are the reference texts that close the gap."""

from __future__ import annotations

import numpy as np

from ...errors import SessionError
from ..protocol import Method, SessionView, register
from .ensemble import LLM2Loss
from .ensemble import fit_loss_predictor as fit_ensembles


def _rows(view: SessionView, rows) -> np.ndarray:
    """Row numbers from indices or a mask of the session's images; a clear error otherwise."""
    n = len(view.table)
    if rows is None:
        return np.arange(n)
    try:
        out = np.asarray(rows)
    except (TypeError, ValueError):  # a ragged or odd object: say below what a row selection is
        out = np.asarray([], dtype=object)
    if out.dtype == bool and out.ndim == 1 and len(out) == n:
        out = np.flatnonzero(out)
    if (out.ndim != 1 or len(out) == 0 or not np.issubdtype(out.dtype, np.integer)
            or out.min() < 0 or out.max() >= n):
        raise SessionError(f"rows must be row numbers (or a mask of length {n}) of the session's {n} images, at least "
                           f"one; got {str(rows)[:60]!r}. Fix: pass e.g. rows=np.flatnonzero(mask), or leave it out.")
    return out


def fit_loss_predictor(view: SessionView, rows=None, **options) -> LLM2Loss:
    """LLM2Loss ensembles fit to the classifier's per-image loss, queried with text; the
    session's prompts are the reference texts that close the gap. ``rows`` (indices or a mask)
    fits on those images only, e.g. to hold the others out (``LossQuery`` does). Its findings
    are the prompts by estimated loss, highest first.

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> s.fit_loss_predictor(members=2, epochs=2).estimate("a small green triangle.").shape[0]
        1
    """
    options.setdefault("reference_texts", view.prompts["prompt"].tolist())
    rows = _rows(view, rows)
    return fit_ensembles(view.image_emb[rows], view.losses()[rows], view.encoder, seed=view.seed, **options)


register(Method("loss_predictor", "002 LLM2Loss", "How large is its loss on images a sentence describes?",
                fit_loss_predictor, needs=("classifier",), view="LossQuery", scorecard=False))
