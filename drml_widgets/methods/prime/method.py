"""PRIME (paper 001) as a registered method: failure modes as minimal sets of the evaluated
images' attribute values, optionally checked on images kept aside."""

from __future__ import annotations

import warnings

import numpy as np

from ...errors import SessionError
from ..clip_reads import clip_reads, clip_tagged
from ..protocol import Method, SessionView, register
from ..tagging import tags_from_table
from .modes import find_failure_modes as search_failure_modes, generalisation
from .result import PrimeResult


def find_failure_modes(view: SessionView, held_out: float = 0.0, **options) -> PrimeResult:
    """PRIME's failure modes on the evaluated images, tagged by their attribute values.

    ``held_out`` (a share below 1, e.g. 0.5) keeps that part of the evaluated images aside,
    drawn by the session's seed, and checks the modes on it: ``result.heldout`` is then
    :func:`~drml_widgets.methods.prime.generalisation` there. ``result.rows`` are the table
    rows searched. ``options`` go to :func:`~drml_widgets.methods.prime.find_failure_modes`
    (``s``, ``a``, ``l``, ``b``, ``min_count``, ``search``). Attribute columns CLIP tagged for the
    session are left out, with a warning, where CLIP reads them poorly (:func:`~..clip_reads.clip_reads`):
    PRIME would search failure modes in CLIP's guesses.

    Example:
        >>> from drml_widgets import Session
        >>> result = Session.from_shapes_world(n=1200, ensemble=False).find_failure_modes(held_out=0.5, s=10)
        >>> len(result.rows), int(result.heldout["heldout_images"].sum()) > 0, result.top().name
        (519, True, {'size': 'large', 'color': 'green', 'shape': 'triangle'})
    """
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)) or not 0 <= held_out < 1:
        raise SessionError(f"held_out is the share of the evaluated images kept aside to check the modes, in [0, 1); "
                           f"got {held_out!r}. Fix: pass e.g. held_out=0.5, or 0 to search them all.")
    types = list(view.image_types)
    tagged = clip_tagged(view)
    checked = clip_reads(view) if tagged else None
    misread = [t for t in types if checked is not None and t in tagged and t in checked.unreliable]
    if misread:
        rows = checked.table.set_index("type")
        reasons = "; ".join(f"{t}: {rows.loc[t, 'why']}" for t in misread)
        if len(misread) == len(types):
            raise SessionError(f"Every image attribute {misread} is a CLIP tag that CLIP reads poorly ({reasons}). "
                               "Fix: give true values (metadata columns), or use a CLIP that sees them.")
        warnings.warn(f"PRIME leaves out {misread}: CLIP tagged them for the session and reads them poorly "
                      f"({reasons}). Fix: give true values as metadata columns to search them.", stacklevel=3)
        types = [t for t in types if t not in misread]
    test = view.rows_of("test")
    tags = tags_from_table(view.table.iloc[test], types)  # tag columns from every evaluated image
    n_held = int(round(held_out * len(test)))
    order = np.random.default_rng(view.seed).permutation(len(test))
    found, held = np.sort(order[n_held:]), np.sort(order[:n_held])
    predictions, labels = view.predictions(test), view.labels[test]
    result = search_failure_modes(tags.iloc[found].reset_index(drop=True), predictions[found], labels[found],
                                  list(view.classes), **options)
    result.rows = test[found]
    result.tag_types = {str(v): t for t in types for v in view.table[t].dropna().unique()}
    result.class_type = view.class_type or "class"
    if n_held:
        result.heldout = generalisation(result, tags.iloc[held].reset_index(drop=True), predictions[held],
                                        labels[held], list(view.classes))
    return result


register(Method("failure_modes", "001 PRIME", "Which small sets of attribute values single out images it fails?",
                find_failure_modes, needs=("classifier", "image_attributes"), view="FailureModes"))
