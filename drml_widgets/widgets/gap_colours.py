"""What colours a gap plot's points: the colour-by options of a session, and every point's
category number (images first, then prompts) with the categories' names in a meaningful order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..diagnose.slices import rows_in_slice

MAX_CATEGORIES = 24  # colours that stay distinguishable; the rest are grouped as "other"
OTHER = "other"
MISSING = "n/a"


def color_options(session) -> list[str]:
    """What the points can be coloured by: modality, label, prediction and correctness (with a
    head), a highlighted slice, then every attribute type and table column.

    Example:
        >>> from drml_widgets.session import Session
        >>> color_options(Session.from_shapes_world(n=1200, ensemble=False))[:5]
        ['modality', 'label', 'prediction', 'correct', 'slice']
    """
    columns = [c for c in session.table.columns if c not in ("label", "split")]
    return ["modality", "label"] + (["prediction", "correct"] if session.head is not None else []) + \
        ["slice"] + list(dict.fromkeys([*session.attributes.types, *columns]))


def colour_codes(session, by: str, highlight: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Every point's category number (uint8; images, then prompts) when coloured ``by`` one of
    :func:`color_options` (``highlight``: the slices that ``by="slice"`` marks), and the name of
    each number: beyond ``MAX_CATEGORIES`` values the rarest are grouped as "other".

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> codes, names = colour_codes(s, "shape", [])
        >>> len(codes) == len(s.table) + len(s.prompts), names
        (True, ['triangle', 'square'])
    """
    images, texts = _values(session, by, highlight)
    numbers, names = pd.factorize(np.concatenate([images, texts]))
    names = np.asarray(names, dtype=object)
    if len(names) > MAX_CATEGORIES:
        counts = np.bincount(numbers, minlength=len(names))
        keep = set(names[np.argsort(-counts, kind="stable")[:MAX_CATEGORIES - 1]])
        names = np.array([v if v in keep else OTHER for v in names], dtype=object)
    order = _category_order(session, by, names)
    lookup = {name: i for i, name in enumerate(order)}
    return np.array([lookup[v] for v in names], dtype=np.uint8)[numbers], [str(c) for c in order]


def _values(s, by: str, highlight: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The colour-by value of every image and every prompt, as strings."""
    n_img, n_txt = len(s.table), len(s.prompts)
    if by == "modality":
        return np.full(n_img, "image", object), np.full(n_txt, "text", object)
    classes = np.array(s.classes, dtype=object)
    text_labels = classes[s.prompts["label"].to_numpy()] if "label" in s.prompts else np.full(n_txt, MISSING, object)
    if by == "label":
        return classes[s.labels], text_labels
    if by in ("prediction", "correct"):
        images, texts = s.image_features(), s.text_features()
        pi, pt = s.head.predict(images), s.head.predict(texts)
        if by == "prediction":
            return classes[pi], classes[pt]
        right = np.array(["wrong", "right"], dtype=object)
        return right[(pi == s.labels).astype(int)], right[(pt == s.prompts["label"].to_numpy()).astype(int)]
    if by == "slice":
        inside = np.array(["other", "highlighted slice"], dtype=object)
        img = np.zeros(n_img, bool)
        txt = np.zeros(n_txt, bool)
        for values in highlight:
            img |= rows_in_slice(s.table, values)
            txt |= rows_in_slice(s.prompts, values)
        return inside[img.astype(int)], inside[txt.astype(int)]

    def column(frame: pd.DataFrame) -> np.ndarray:
        if by not in frame.columns:
            return np.full(len(frame), MISSING, object)
        numbers, distinct = pd.factorize(frame[by])  # strings made for the distinct values only
        return np.array([str(v) for v in distinct] + [MISSING], dtype=object)[numbers]  # -1 (missing) is the last

    return column(s.table), column(s.prompts)

def _category_order(s, by: str, values: np.ndarray) -> list:
    """Categories in a meaningful order: class order, attribute value order, else sorted."""
    present = set(values)
    known = {"modality": ["image", "text"], "label": s.classes, "prediction": s.classes,
             "correct": ["right", "wrong"], "slice": ["highlighted slice", "other"]}.get(
        by, s.attributes.values.get(by, []))
    first = [v for v in known if v in present]
    return first + sorted(present - set(first), key=lambda v: (v in (OTHER, MISSING), str(v)))

