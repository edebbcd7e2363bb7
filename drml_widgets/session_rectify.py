"""The fit behind :meth:`Session.rectify <drml_widgets.session.Session.rectify>`: the training and
selection sets from the session's prompts and splits, and the guard of the untargeted slices
(:mod:`~drml_widgets.diagnose.rectify_guard`) read on its validation images and its other images."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .diagnose.heads import Head
from .diagnose.rectify import RectifyResult, before_after, fit_rectified, held_out_templates, rectify_sets
from .diagnose.rectify_advice import margin_change
from .diagnose.rectify_guard import MAX_DROP, GuardData, guarded_fit, implied_labels
from .diagnose.slices import slices_mask
from .errors import SessionError
from .methods import drml


def fit_session_rectify(session, head: Head, slices: list[dict], by: list[str], *, mode: str, epochs: int, lr: float,
                        batch_size: int, holdout: float, progress: Callable[[int, int], None] | None = None,
                        guard: bool = True, max_drop: float = MAX_DROP) -> tuple[Head, pd.DataFrame, int, pd.DataFrame]:
    """A rectified copy of ``head`` on ``slices`` (over the types ``by``) of ``session``, with its
    history, best epoch and cost to every untargeted slice (see
    :func:`~drml_widgets.diagnose.rectify_guard.guarded_fit`); ``head`` is not modified.

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> new, history, best, cost = fit_session_rectify(s, s.head, [{"color": "green", "shape": "triangle"}],
        ...                                                ["color", "shape"], mode="replay", epochs=2, lr=1e-3,
        ...                                                batch_size=32, holdout=0.2)
        >>> sorted(set(cost["source"]))
        ['other images', 'validation images']
    """
    view = session.view
    text_x, text_y = session.text_features(), session.prompts["label"].to_numpy()
    held = held_out_templates(session.prompts["template"], holdout, session.seed)
    x = session.image_features()
    train, val = (_split(view, name) for name in ("train", "val"))
    images = (x[train], session.labels[train]) if train is not None else None
    images_val = (x[val], session.labels[val]) if val is not None else None
    if mode == "replay" and (images is None or images_val is None):
        view.split("train"), view.split("val")  # names the missing split
    sets = rectify_sets(mode, text_x, text_y, slices_mask(session.prompts, slices), held, images, images_val)
    table = view.table
    other = ~(train if train is not None else False) & ~(val if val is not None else False)
    read = np.random.default_rng(session.seed).random(int(other.sum())) < 0.5  # the half the cost reads
    data = GuardData(images_val + (table[val],) if val is not None else None,
                     images + (table[train],) if train is not None else None,
                     (x[other], implied_labels(table[other], session.prompts, by), table[other]), read)

    def fit(extra):
        slice_text = sets.slice_text if extra is None else tuple(map(np.concatenate, zip(sets.slice_text, extra)))
        return fit_rectified(head, slice_text, sets.slice_text_val, mode=mode, replay=sets.replay,
                             keep_val=sets.keep_val, epochs=epochs, lr=lr, batch_size=batch_size, seed=session.seed,
                             progress=progress)

    return guarded_fit(head, fit, data, by, slices, guard=guard, max_drop=max_drop)


def apply_rectify(session, head: Head, slices: list[dict], by: list[str], before: tuple, fitted: tuple, *,
                  mode: str, epochs: int, dry_run: bool = False) -> RectifyResult:
    """Put the rectified weights of ``fitted`` (what :func:`fit_session_rectify` returns) into
    ``head`` as a new version and read every slice ``before`` and after; with ``dry_run``, read
    them and put the old weights back, so the result says what a run would do.

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> s.rectify([{"color": "green"}], epochs=1, dry_run=True).applied, s.versions.current
        (False, 0)
    """
    new, history, best, cost = fitted
    kept = head.state()
    head.load_state(new.state())
    after = drml.slice_scores(session.view, by, slices)
    if dry_run:
        head.load_state(kept)
        version = session.versions.current
    else:
        names = "; ".join(", ".join(f"{k}={v}" for k, v in s.items()) for s in slices)
        version = session.versions.commit(f"rectified ({mode}, {epochs} epochs): {names}")
    return RectifyResult(mode, slices, before_after(before[0], after[0], by, "text_prob", slices),
                         before_after(before[1], after[1], by, "image_acc", slices),
                         history, best, version, margin_change(before[2], after[2]), cost, not dry_run)


def _split(view, name: str) -> np.ndarray | None:
    try:
        return view.split(name)
    except SessionError:
        return None
