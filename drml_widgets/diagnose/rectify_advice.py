"""Why a rectification that fixed a slice's text may leave its images wrong, measured on the run.

Rectification trains the head on text embeddings, and the images of the same slices follow only
as far as the change carries over from text to images. Two things decide that, and both are
measured here on the targeted slices, in the head's true-class log-odds (``log p / (1 - p)``):
where the images start compared with their text (text probabilities near 0.5 can hide images
far on the wrong side), and how much of the text's gain reaches the images (the modality gap,
and in ``replay`` mode the original training images pulling the head back). With a run that
stopped while its held-out loss was still falling, that gives the student the levers to try.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .slices import rows_in_slice

_EPS = 1e-6


def true_log_odds(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Log-odds of the true class per row: above 0 where the head is right (two or more classes).

    Example:
        >>> true_log_odds(np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([1, 0])).round(3).tolist()
        [1.386, 0.0]
    """
    p = np.clip(np.asarray(proba)[np.arange(len(labels)), np.asarray(labels)], _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def slice_margins(text_proba: np.ndarray, prompts: pd.DataFrame, image_proba: np.ndarray, image_labels: np.ndarray,
                  image_table: pd.DataFrame, slices: Sequence[dict]) -> pd.DataFrame:
    """Mean true-class log-odds of each slice's prompts (``text_margin``) and of its images
    (``image_margin``, NaN where the slice has no images), one row per slice.

    Example:
        >>> prompts = pd.DataFrame({"color": ["red", "red"], "label": [0, 0]})
        >>> images = pd.DataFrame({"color": ["red", "blue"]})
        >>> m = slice_margins(np.array([[0.6, 0.4], [0.7, 0.3]]), prompts, np.array([[0.2, 0.8], [0.9, 0.1]]),
        ...                   np.array([0, 0]), images, [{"color": "red"}])
        >>> m.round(2).to_dict("records")
        [{'color': 'red', 'text_margin': 0.63, 'image_margin': -1.39}]
    """
    text = true_log_odds(text_proba, prompts["label"].to_numpy())
    image = true_log_odds(image_proba, np.asarray(image_labels))
    rows = []
    for values in slices:
        in_text, in_images = rows_in_slice(prompts, values), rows_in_slice(image_table, values)
        rows.append({**{k: str(v) for k, v in values.items()},
                     "text_margin": float(text[in_text].mean()) if in_text.any() else np.nan,
                     "image_margin": float(image[in_images].mean()) if in_images.any() else np.nan})
    return pd.DataFrame(rows)


def margin_change(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The targeted slices' margins before and after, side by side (``*_before``, ``*_after``);
    both frames come from :func:`slice_margins` over the same slices, in the same order.

    Example:
        >>> b = pd.DataFrame({"color": ["red"], "text_margin": [-0.1], "image_margin": [-0.4]})
        >>> a = pd.DataFrame({"color": ["red"], "text_margin": [0.6], "image_margin": [-0.1]})
        >>> list(margin_change(b, a).columns)
        ['color', 'text_margin_before', 'image_margin_before', 'text_margin_after', 'image_margin_after']
    """
    scores = ["text_margin", "image_margin"]
    out = before.drop(columns=scores)
    for when, frame in (("before", before), ("after", after)):
        for name in scores:
            out[f"{name}_{when}"] = frame[name].to_numpy()
    return out


def rectify_advice(text: pd.DataFrame, image: pd.DataFrame | None, margins: pd.DataFrame | None,
                   history: pd.DataFrame, best_epoch: int, mode: str) -> list[str]:
    """Plain sentences on why the targeted slices' images did not follow their text, with the
    measured figures, and what to try; empty when the images followed (or there are none).

    ``text``, ``image`` are a :class:`~drml_widgets.diagnose.rectify.RectifyResult`'s before/after
    frames, ``margins`` its :func:`margin_change`. Thresholds are the decision boundary itself
    (probability 0.5, log-odds 0), not values fitted to any data set.

    Example:
        >>> text = pd.DataFrame({"c": ["x"], "text_prob_before": [0.45], "text_prob_after": [0.62], "targeted": [True]})
        >>> image = pd.DataFrame({"c": ["x"], "image_acc_before": [0.0], "image_acc_after": [0.2], "targeted": [True]})
        >>> margins = pd.DataFrame({"c": ["x"], "text_margin_before": [-0.2], "image_margin_before": [-0.6],
        ...                         "text_margin_after": [0.5], "image_margin_after": [-0.3]})
        >>> history = pd.DataFrame({"epoch": [0, 1, 2], "val_loss": [0.9, 0.7, 0.6]})
        >>> for line in rectify_advice(text, image, margins, history, 2, "text"): print(" ".join(line.split()[:7]))
        Text probabilities passed 0.5 (mean 0.620), but
        The images started further on the wrong
        Only 43% of the text's gain reached
        The held-out loss was still falling at
        Try: more epochs or a larger learning
    """
    lines: list[str] = []
    t = text[text["targeted"]]
    i = image[image["targeted"] & image["image_acc_after"].notna()] if image is not None else None
    last = int(history["epoch"].max()) if len(history) else 0
    stopped_early = last > 0 and best_epoch == last
    lagging = i is not None and len(i) and (t["text_prob_after"] >= 0.5).all() and (i["image_acc_after"] < 0.5).any()
    levers = []
    if lagging:
        lines.append(f"Text probabilities passed 0.5 (mean {t['text_prob_after'].mean():.3f}), but the images of "
                     f"{int((i['image_acc_after'] < 0.5).sum())} of {len(i)} targeted slices are still mostly wrong "
                     f"(image accuracy {i['image_acc_before'].mean():.3f} \u2192 {i['image_acc_after'].mean():.3f}).")
        lines += _transfer_lines(margins, mode) if margins is not None else []
        levers += ["mode 'balanced' (text of every combination instead of the training images)"] if mode == "replay" else []
    if stopped_early and (lagging or (t["text_prob_after"] < 0.5).any()):
        lines.append(f"The held-out loss was still falling at the last epoch ({best_epoch} of {last}): the run "
                     "stopped before it settled.")
        levers.insert(0, "more epochs or a larger learning rate")
    if levers:
        lines.append(f"Try: {'; or '.join(levers)}. Undo first, change one setting, rectify again, and compare the bars.")
    return lines


def _transfer_lines(margins: pd.DataFrame, mode: str) -> list[str]:
    m = margins.dropna()
    if m.empty:
        return []
    tb, ta = m["text_margin_before"].mean(), m["text_margin_after"].mean()
    ib, ia = m["image_margin_before"].mean(), m["image_margin_after"].mean()
    lines = []
    if ib < tb:
        lines.append(f"The images started further on the wrong side than their text: true-class log-odds {ib:+.2f} "
                     f"on the images against {tb:+.2f} on the text, so text near 0.5 understated how wrong they were.")
    gain_t, gain_i = ta - tb, ia - ib
    if gain_t > 0 and gain_i < gain_t:
        share = max(gain_i, 0.0) / gain_t
        why = ("the head moved where the text embeddings are, and the images sit apart from them (the modality gap)"
               + ("; mode 'replay' also trains on the original images, which hold the head where they are"
                  if mode == "replay" else ""))
        line = (f"Only {share:.0%} of the text's gain reached the images: the text's log-odds rose {gain_t:+.2f}, "
                f"the images' {gain_i:+.2f}; {why}.")
        if share > 0 and ia < 0:
            need = tb - ib / share
            line += (f" At that rate the text needs log-odds near {need:+.2f} (probability {1 / (1 + np.exp(-need)):.2f}) "
                     f"before the images cross; it reached {ta:+.2f} ({1 / (1 + np.exp(-ta)):.2f}).")
        lines.append(line)
    return lines
