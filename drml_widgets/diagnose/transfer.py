"""Cross-modal transfer (DrML, paper 000, table 2): train on one modality, evaluate on the other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._common import row_chunks
from ..errors import InputError
from .gap import GapCloser
from .heads import train_head
from .validate import check_embeddings, check_labels


def _f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[float, float]:
    """Micro and macro F1 of single-label predictions."""
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(pred == y)), float(np.mean(f1s))


def _predict(head, features, idx: np.ndarray) -> np.ndarray:
    """The head's predictions on rows ``idx``, their features built by chunks."""
    return np.concatenate([head.predict(features(idx[part])) for part in row_chunks(len(idx))] or [np.empty(0, int)])


@dataclass(repr=False)
class TransferReport:
    """Accuracy and F1 of heads trained on one modality and tested on both, plus the
    image-text consistency: how often the two modalities of a pair get the same prediction."""

    table: pd.DataFrame

    def __repr__(self) -> str:
        return "TransferReport\n" + self.table.to_string(index=False, float_format=lambda v: f"{v:.3f}")

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}")


def cross_modal_transfer(
    image_emb,
    text_emb,
    labels,
    train_mask=None,
    *,
    kind: str = "linear",
    close_gap: tuple[bool, ...] = (False, True),
    epochs: int = 25,
    seed: int = 0,
) -> TransferReport:
    """Train heads on images and on texts (row i of each is a pair with label ``labels[i]``) and
    evaluate each on both modalities of the held-out pairs, with and without closing the gap.

    ``train_mask`` marks the training pairs (default: a seeded 80% of them); a tenth of those is
    kept for validation-loss selection.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 200)
        >>> x = rng.normal(size=(200, 8)) + y[:, None]; x /= np.linalg.norm(x, axis=1, keepdims=True)
        >>> t = x + 0.3; t /= np.linalg.norm(t, axis=1, keepdims=True)
        >>> cross_modal_transfer(x, t, y, epochs=3).table.columns.tolist()[:4]
        ['train_on', 'close_gap', 'eval_on', 'accuracy']
    """
    x = check_embeddings(image_emb, "image embeddings")
    t = check_embeddings(text_emb, "text embeddings", dim=x.shape[1])
    y = check_labels(labels, len(x))
    if len(t) != len(x):
        raise InputError(f"Need one text per image: {len(x)} images, {len(t)} texts.")
    n_classes = int(y.max()) + 1
    rng = np.random.default_rng(seed)
    if train_mask is None:
        train_mask = rng.random(len(x)) < 0.8
    train_mask = np.asarray(train_mask, dtype=bool)
    train_idx = np.flatnonzero(train_mask)
    val_idx = rng.permutation(train_idx)[: max(1, len(train_idx) // 10)]
    fit_idx = np.setdiff1d(train_idx, val_idx)
    test_idx = np.flatnonzero(~train_mask)
    rows = []
    sources = {"image": x, "text": t}
    for closed in close_gap:
        closer = GapCloser.fit(x, t, train_idx, train_idx) if closed else None

        def features(modality: str, idx: np.ndarray) -> np.ndarray:
            # Only the rows a step needs, closed by chunks: no closed copy of every row is held.
            return closer.transform(sources[modality], modality, idx) if closer else sources[modality][idx]

        for train_on in ("image", "text"):
            head = train_head(features(train_on, fit_idx), y[fit_idx], features(train_on, val_idx), y[val_idx],
                              kind=kind, epochs=epochs, seed=seed)
            preds = {m: _predict(head, lambda idx, m=m: features(m, idx), test_idx) for m in ("image", "text")}
            consistency = float(np.mean(preds["image"] == preds["text"]))
            for eval_on, pred in preds.items():
                acc, macro = _f1(y[test_idx], pred, n_classes)
                rows.append({"train_on": train_on, "close_gap": closed, "eval_on": eval_on,
                             "accuracy": acc, "macro_f1": macro, "consistency": consistency})
    return TransferReport(pd.DataFrame(rows))
