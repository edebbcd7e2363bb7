"""The user's own classifier, known by its outputs, and a surrogate head that mimics it.

Methods that need only per-image outcomes (image slices, PRIME, LBEE, LLM2Loss) run on the
user's model directly. DrML's text probes need a head on CLIP embeddings; for a black box the
surrogate is that head: trained on CLIP image embeddings to reproduce the model's predictions,
with its agreement measured on images it never saw. Text probes then describe the black box as
far as the agreement allows, and no further.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .._common import true_label_loss
from ..errors import InputError
from .heads import Head, train_head
from .validate import check_embeddings

# Rows of float32 softmax outputs sum to 1 within about 1e-6; a row further off than this is
# not a probability vector (logits, scores, one-hot plus noise), and renormalising it would
# silently invent the model's confidences.
PROBA_TOLERANCE = 1e-3


@dataclass(repr=False)
class UserModel:
    """A classifier's per-image outputs: predicted class indices, and when known its class
    probabilities and per-image losses (cross-entropy of the true label, if not given).

    Example:
        >>> m = user_model(3, ["cat", "dog"], np.array([0, 1, 1]), predictions=["cat", "dog", "cat"])
        >>> m
        UserModel('your model', 3 images, accuracy 0.667, probabilities no, losses no)
    """

    predictions: np.ndarray
    proba: np.ndarray | None
    losses: np.ndarray | None
    accuracy: float
    name: str = "your model"

    def __repr__(self) -> str:
        return (f"UserModel({self.name!r}, {len(self.predictions)} images, accuracy {self.accuracy:.3f}, "
                f"probabilities {'yes' if self.proba is not None else 'no'}, "
                f"losses {'yes' if self.losses is not None else 'no'})")


def user_model(
    n: int,
    classes: Sequence[str],
    labels: np.ndarray,
    *,
    predictions=None,
    proba=None,
    losses=None,
    model: Callable | None = None,
    images: Sequence | None = None,
    batch_size: int = 64,
    name: str = "your model",
) -> UserModel:
    """Check and gather a classifier's outputs for ``n`` images with true ``labels``.

    Give ``predictions`` (class names or indices), ``proba`` (``(n, classes)``), ``losses``
    (``(n,)``), or ``model``, a callable run on batches of ``images`` (as the dataset holds them:
    paths or arrays) that returns, for a batch of ``m``, ``(m,)`` predicted classes (indices or
    names) or ``(m, classes)`` probabilities; any other shape is refused. Probabilities must be finite,
    non-negative and sum to 1 per row within :data:`PROBA_TOLERANCE` (see :func:`checked_proba`).

    Example:
        >>> user_model(2, ["a", "b"], np.array([0, 1]), proba=[[0.9, 0.1], [0.4, 0.6]]).losses.round(3).tolist()
        [0.105, 0.511]
    """
    given = [x is not None for x in (predictions, proba, model)]
    if sum(given) != 1:
        raise InputError("Give exactly one of predictions=, proba= or model= for your classifier "
                         f"(got {sum(given)}). Fix: pass the one you have; losses= may accompany any.")
    classes = list(classes)
    if model is not None:
        proba, predictions = _run_model(model, images, n, len(classes), batch_size)
    if proba is not None:
        proba = checked_proba(proba, n, len(classes))
        predictions = proba.argmax(axis=1)
    predictions = _class_indices(predictions, classes, n)
    if losses is not None:
        losses = np.asarray(losses, dtype=np.float64)
        if losses.shape != (n,) or not np.isfinite(losses).all():
            raise InputError(f"losses must be {n} finite numbers, one per image; got shape {losses.shape}.")
    elif proba is not None:
        losses = true_label_loss(proba, labels)
    return UserModel(predictions, proba, losses, float(np.mean(predictions == labels)), name)


def checked_proba(proba, n: int, n_classes: int) -> np.ndarray:
    """``proba`` as an ``(n, n_classes)`` float64 array of probabilities, or :class:`InputError`
    naming what is wrong: the shape, NaN or inf, negative values, or rows that do not sum to 1
    within :data:`PROBA_TOLERANCE` (logits or scores, not probabilities). Rows within it are
    scaled to sum to exactly 1.

    Example:
        >>> checked_proba([[2.0, 0.0]], 1, 2)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: 1 of 1 rows of proba do not sum to 1 (e.g. row 0 sums to 2); they look like scores or logits. Fix: pass probabilities, e.g. scipy.special.softmax(logits, axis=1).
    """
    try:
        proba = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"proba must be an ({n}, {n_classes}) array of numbers ({exc}). "
                         "Fix: one row per image, one column per class.") from exc
    if proba.shape != (n, n_classes):
        raise InputError(f"proba must be an ({n}, {n_classes}) array of class probabilities; got shape "
                         f"{proba.shape}. Fix: one row per image, one column per class, in the classes' order.")
    if not np.isfinite(proba).all():
        raise InputError(f"proba holds NaN or inf in {int((~np.isfinite(proba)).any(axis=1).sum())} rows. "
                         "Fix: pass finite probabilities (check the model's outputs for those images).")
    if (proba < 0).any():
        raise InputError(f"proba holds negative values in {int((proba < 0).any(axis=1).sum())} rows; probabilities "
                         "are at least 0. Fix: pass probabilities, e.g. scipy.special.softmax(logits, axis=1).")
    sums = proba.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > PROBA_TOLERANCE)
    if len(off):
        raise InputError(f"{len(off)} of {n} rows of proba do not sum to 1 (e.g. row {off[0]} sums to "
                         f"{sums[off[0]]:.4g}); they look like scores or logits. Fix: pass probabilities, "
                         "e.g. scipy.special.softmax(logits, axis=1).")
    return proba / sums[:, None]


def _class_indices(predictions, classes: list[str], n: int) -> np.ndarray:
    pred = np.asarray(predictions)
    if pred.shape != (n,):
        raise InputError(f"predictions must hold one class per image: {n} expected, got shape {pred.shape}. "
                         "Fix: predict every image of the dataset, in its order.")
    if np.issubdtype(pred.dtype, np.integer):
        bad = sorted({int(v) for v in pred if not 0 <= v < len(classes)})
        if bad:
            raise InputError(f"Predicted class indices {bad[:10]} are not among the {len(classes)} classes {classes}.")
        return pred.astype(np.int64)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in pred} - set(index))
    if unknown:
        raise InputError(f"Predictions name classes {unknown[:10]} that the labels do not have ({classes}). "
                         "Fix: map your model's class names onto the dataset's.")
    return np.array([index[str(v)] for v in pred], dtype=np.int64)


def _run_model(model: Callable, images, n: int, n_classes: int, batch_size: int):
    if images is None or len(images) != n:
        raise InputError("model= needs the images to run on. Fix: build the session from a dataset, or pass "
                         "predictions= instead.")
    outputs = [_batch_output(model, list(images[i:i + batch_size]), n_classes) for i in range(0, n, batch_size)]
    kinds = {o.ndim for o in outputs}
    if len(kinds) > 1:
        raise InputError("The model returned class indices for some batches and probabilities for others. "
                         "Fix: return the same kind of output for every batch.")
    out = np.concatenate(outputs)
    return (out, None) if out.ndim == 2 else (None, out)


def _batch_output(model: Callable, batch: list, n_classes: int) -> np.ndarray:
    """One batch's output, checked: ``(m,)`` predictions or ``(m, n_classes)`` probabilities."""
    m, answer = len(batch), model(batch)
    try:
        out = np.asarray(answer)
        shape = str(out.shape)
    except (TypeError, ValueError):  # rows of different lengths, or no array at all
        out, shape = None, "rows of different lengths"
    if out is not None and (out.shape == (m,) or out.shape == (m, n_classes)):
        return out
    raise InputError(f"The model returned {shape} for a batch of {m} images ({type(answer).__name__}); expected "
                     f"({m},) predicted classes or ({m}, {n_classes}) probabilities. Fix: make it return one "
                     "prediction (class index or name) or one row of class probabilities per image of the batch.")


@dataclass(repr=False)
class Surrogate:
    """A head trained to reproduce a classifier, and how often it does on images it never saw."""

    head: Head
    agreement: pd.DataFrame

    @property
    def held_out_agreement(self) -> float:
        """Agreement with the model on the held-out images."""
        return float(self.agreement.set_index("part").loc["held out", "agreement"])

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.part} {r.agreement:.3f}" for r in self.agreement.itertuples())
        return f"Surrogate({self.head.kind} head; agreement with the model: {parts})"


def train_surrogate(image_emb, predictions: np.ndarray, classes: Sequence[str], *, kind: str = "linear",
                    epochs: int = 25, holdout: float = 0.2, seed: int = 0,
                    cache_dir: str | Path | None = None) -> Surrogate:
    """Train a head on CLIP image embeddings to predict what the model predicts, and measure
    how often it agrees with the model on a seeded ``holdout`` share of images it never saw.

    It learns from every image the model predicted, not only the model's own training split:
    labels play no part, and a surrogate fit only where the model was trained would not know
    how the model behaves anywhere else (a tenth of the rest selects the epoch). With
    ``cache_dir`` the trained head is kept there and the same call again trains nothing
    (see :func:`~drml_widgets.diagnose.heads.train_head`).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
        >>> train_surrogate(x, (x[:, 0] > 0).astype(int), ["neg", "pos"])  # doctest: +ELLIPSIS
        Surrogate(linear head; agreement with the model: fit 0..., select 0..., held out 0...)
    """
    x = check_embeddings(image_emb, "image embeddings")
    if not 0 < holdout < 1:
        raise InputError(f"holdout is the share of images kept to measure agreement, in (0, 1); got {holdout!r}.")
    order = np.random.default_rng(seed).permutation(len(x))
    n_held, n_select = max(1, int(len(x) * holdout)), max(1, int(len(x) * (1 - holdout) / 10))
    held, select, fit = order[:n_held], order[n_held:n_held + n_select], order[n_held + n_select:]
    if not len(fit):
        raise InputError(f"{len(x)} images are too few to train a surrogate head. Fix: give the model's "
                         "predictions on more images.")
    head = train_head(x[fit], predictions[fit], x[select], predictions[select], classes=list(classes), kind=kind,
                      epochs=epochs, seed=seed, cache_dir=cache_dir)
    mimic = head.predict(x)
    rows = [{"part": name, "agreement": float(np.mean(mimic[rows] == predictions[rows])), "n_images": len(rows)}
            for name, rows in (("fit", fit), ("select", select), ("held out", held))]
    return Surrogate(head, pd.DataFrame(rows))
