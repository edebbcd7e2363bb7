"""DrML's text probes (paper 000) as registered methods: slices scored by text beside image
accuracy, every slice of every attribute subset, the failing slices, and the one failure the
text probe names. Each reads a :class:`~.protocol.SessionView` and returns a
:class:`~drml_widgets.diagnose.slices.SliceComparison` or a
:class:`~drml_widgets.diagnose.text_failure.TextFailure`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..diagnose.gap import GapCloser
from ..diagnose.rectify_advice import slice_margins
from ..diagnose.slices import (MIN_DROP, SliceComparison, all_slices, check_slice_types, compare_slices, flag_failing,
                               image_slice_scores, rows_in_slice, text_slice_scores)
from ..diagnose.text_failure import TextFailure, top_text_failure
from ..errors import SessionError
from .clip_reads import poorly_read
from .protocol import Method, SessionView, register

PAPER = "000 DrML"


def _test_images(view: SessionView, by: Sequence[str]):
    """The evaluated images' table (session rows as its index) over the types it has of ``by``."""
    test = view.split("test")
    return test, view.table.loc[test, [t for t in by if t in view.table.columns]]


def find_slices(view: SessionView, by: Sequence[str]) -> SliceComparison:
    """Text-discovered slices over the attribute types ``by`` beside image accuracy on the
    ``test`` split, with Spearman and Pearson; findings lowest text probability first. Types of
    ``by`` that CLIP reads poorly, and values of them it misreads (:func:`~.clip_reads.clip_reads`),
    are named in ``caveats`` and a warning.

    Example:
        >>> from drml_widgets import Session
        >>> Session.from_shapes_world(n=1200, ensemble=False).find_slices(["color", "shape"]).table.shape[0]
        12
    """
    by = check_slice_types(by, view.attributes, view.table.columns, "The slice")
    test, images = _test_images(view, by)
    text = text_slice_scores(view.head.predict_proba(view.text_features()), view.prompts, by)
    image = image_slice_scores(view.predictions(test), view.labels[test], view.table[test], by)
    result = compare_slices(text, image, by)
    result.images = images
    result.caveats = tuple(poorly_read(view, by, "slices"))
    return result


def find_failing_slices(view: SessionView, by: Sequence[str], threshold: float | None = None,
                        min_drop: float = MIN_DROP) -> SliceComparison:
    """The slices over ``by`` the classifier fails, worst first, ready for ``rectify``.

    By default text probability is calibrated to image accuracy on the slices that have images
    and a slice fails when its predicted accuracy is ``min_drop`` or more below the rest of its
    class (``drop``, ``predicted_acc`` and ``rest_acc`` columns); ``threshold`` instead flags
    mean true-label probability below it (the paper's fixed rule).

    Example:
        >>> from drml_widgets import Session
        >>> failing = Session.from_shapes_world(n=1200, ensemble=False).find_failing_slices(["color", "shape"])
        >>> list(failing.table.columns[:2]), failing.by
        (['color', 'shape'], ['color', 'shape'])
    """
    cmp = find_slices(view, by)
    if threshold is not None:
        table = cmp.table[cmp.table["text_prob"] < threshold].reset_index(drop=True)
    else:
        test = view.split("test")
        table = flag_failing(cmp, view.prompts, view.predictions(test), view.labels[test], len(view.classes), min_drop)
    failing = SliceComparison(table, cmp.by, cmp.spearman, cmp.pearson, cmp.images)
    failing.caveats = cmp.caveats
    return failing


def find_all_slices(view: SessionView, max_order: int | None = None) -> SliceComparison:
    """Every slice of every subset of attribute types (up to ``max_order`` of them), the other
    types shown as ``"*"``, worst text score first, with image accuracy where the table has the
    slice's types (no correlation: slices of different orders overlap).

    Example:
        >>> from drml_widgets import Session
        >>> int(Session.from_shapes_world(n=1200, ensemble=False).find_all_slices().table["order"].max())
        3
    """
    types = list(view.attributes.types)
    test, images = _test_images(view, types)
    table = all_slices(view.head.predict_proba(view.text_features()), view.prompts, types,
                       view.predictions(test), view.labels[test], images, max_order=max_order)
    # Slices of different orders overlap, so no correlation is drawn across them.
    result = SliceComparison(table, types, float("nan"), float("nan"), images)
    result.caveats = tuple(poorly_read(view, types, "slices"))
    return result


def find_text_failure(view: SessionView, types: Sequence[str] | None = None) -> TextFailure:
    """DrML's text probe as one answer, no image of the slice used: the slice over ``types``
    (default: every attribute type) whose prompts the head fails on most against the rest of
    their class, named by the values that failure needs. The prompts are first moved across the
    gap onto the training images' side, where the head learnt (with ``close_gap`` the head reads
    closed prompts already). ``image_acc`` and ``rows`` check the answer on the test images of
    the named slice, where the table has its attributes, and the ``alternatives`` (the next
    distinct slices) get their test images the same way. A named type CLIP reads poorly, or a
    named value it misreads, is named in ``caveats`` and a warning.

    Example:
        >>> from drml_widgets import Session
        >>> found = Session.from_shapes_world(n=1200, ensemble=False).find_text_failure(["color", "shape"])
        >>> found.name, found.image_acc < 0.5 < found.n_images
        ({'color': 'orange', 'shape': 'square'}, True)
    """
    types = check_slice_types(view.attributes.types if types is None else types, view.attributes,
                              view.attributes.types, "The text failure")
    if view.close_gap:
        text = view.text_features()
    else:
        text = GapCloser.fit(view.image_emb[view.split("train")], view.text_emb).text_onto_images(view.text_emb)
    class_type = view.class_type if view.class_type in types else None
    found = top_text_failure(view.head.predict_proba(text), view.prompts, types, list(view.classes), class_type)
    if all(t in view.table.columns for t in found.name):
        test = view.split("test")
        inside = rows_in_slice(view.table[test], found.name)
        if inside.any():
            right = view.predictions(test) == view.labels[test]
            found.image_acc, found.n_images = float(right[inside].mean()), int(inside.sum())
            found.rows = np.flatnonzero(test)[inside]
        for other in found.alternatives:
            if all(t in view.table.columns for t in other["name"]):
                other["rows"] = np.flatnonzero(test)[rows_in_slice(view.table[test], other["name"])]
    found.caveats = tuple(poorly_read(view, list(found.name), "named failure",
                                     named={t: [v] for t, v in found.name.items()}))
    return found


def slice_scores(view: SessionView, by: list[str], slices=()):
    """The head's text and image scores of the slices over ``by``, and the true-class log-odds of
    ``slices`` on their text and images (:func:`slice_margins`; None without slices): what
    rectification compares before and after.

    Example:
        >>> from drml_widgets import Session
        >>> text, image, margins = slice_scores(Session.from_shapes_world(n=1200, ensemble=False).view, ["color"])
        >>> len(text), margins is None
        (6, True)
    """
    test = view.split("test")
    text = text_slice_scores(text_proba := view.head.predict_proba(view.text_features()), view.prompts, by)
    image = image_slice_scores(view.predictions(test), view.labels[test], view.table[test], by)
    if not slices:
        return text, image, None
    image_proba = view.head.predict_proba(view.image_features()[test])
    return text, image, slice_margins(text_proba, view.prompts, image_proba, view.labels[test], view.table[test], slices)


def _rectify_from_a_session(view: SessionView, **options):
    raise SessionError("Rectification changes the session's head, so it runs from the session. "
                       "Fix: call session.rectify(slices).")


# Listed beside the registered methods (session.methods()), run by session.rectify: it changes the head.
RECTIFY = Method("rectify", PAPER, "Can training on text fix the failing slices without their images?",
                 _rectify_from_a_session, needs=("trainable_head",), view="RectifyPanel", scorecard=False)


register(Method("text_slices", PAPER, "How does the classifier do on each slice, read from text alone?",
                find_slices, needs=("head",), view="SliceTable"))
register(Method("failing_slices", PAPER, "Which slices does it fail, ready to rectify?", find_failing_slices,
                needs=("head",), view="SliceTable"))
register(Method("all_slices", PAPER, "Which slices of any attribute subset does text say are worst?",
                find_all_slices, needs=("head",)))
register(Method("text_failure", PAPER, "What single failure does text point to, with no image of it?",
                find_text_failure, needs=("head",)))
