"""Input checks shared by the diagnosis kernels: they fail early, name the problem and the fix."""

from __future__ import annotations

import numpy as np

from .._common import row_chunks
from ..errors import EmbeddingError, InputError

# Heads train in seconds; 1,000 epochs of anything here is already a mistake typed into a form.
MAX_EPOCHS = 1000


def check_embeddings(x, name: str = "embeddings", dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a 2-D float32 array, or raise naming bad shape, NaN or inf.

    Example:
        >>> check_embeddings(np.ones((3, 4))).dtype
        dtype('float32')
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise EmbeddingError(f"{name} must be a 2-D (n, d) array; got shape {x.shape}. Fix: stack the rows.")
    if x.shape[0] == 0:
        raise EmbeddingError(f"{name} is empty (0 rows). Fix: pass at least one embedding.")
    if dim is not None and x.shape[1] != dim:
        raise EmbeddingError(
            f"{name} have dimension {x.shape[1]} but the head expects {dim}. "
            "Fix: encode them with the same encoder the head was trained on."
        )
    x = x.astype(np.float32, copy=False)
    # By chunks: one (n, d) boolean temporary would be 512 MiB at a million 512-d rows.
    bad = np.concatenate([~np.isfinite(x[part]).all(axis=1) for part in row_chunks(len(x))])
    if bad.any():
        rows = np.flatnonzero(bad)
        raise EmbeddingError(
            f"{name} contain NaN or inf in {bad.sum()} row(s), first at rows {rows[:5].tolist()}. "
            "Fix: drop or re-encode those inputs."
        )
    return x


def check_labels(y, n: int, n_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Return ``y`` as int64 of length ``n`` with values in ``[0, n_classes)``.

    Example:
        >>> check_labels([0, 1, 1], 3, 2).tolist()
        [0, 1, 1]
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise EmbeddingError(
            f"{name} have shape {y.shape} but there are {n} embeddings. Fix: pass one label per row."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise EmbeddingError(f"{name} must be integer class indices; got dtype {y.dtype}.")
    if n_classes is not None and ((y < 0) | (y >= n_classes)).any():
        raise EmbeddingError(f"{name} must lie in [0, {n_classes}); got values {sorted(set(y.tolist()))[:10]}.")
    return y.astype(np.int64)


def check_training(epochs, lr, batch_size, max_epochs: int = MAX_EPOCHS) -> tuple[int, float, int]:
    """Training settings as ``(epochs, lr, batch_size)``, or an error naming the bad one.

    Example:
        >>> check_training(25, 1e-3, 32)
        (25, 0.001, 32)
        >>> check_training(10**9, 1e-3, 32)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: epochs must be a whole number from 1 to 1000; got 1000000000. Fix: a few dozen epochs is plenty for a head.
    """
    def whole(value, name: str, top: int | None, fix: str) -> int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
        if not ok or (top is not None and value > top):
            span = f"from 1 to {top}" if top is not None else "of at least 1"
            raise InputError(f"{name} must be a whole number {span}; got {value!r}. Fix: {fix}.")
        return int(value)

    epochs = whole(epochs, "epochs", max_epochs, "a few dozen epochs is plenty for a head")
    batch_size = whole(batch_size, "batch_size", None, "use e.g. 32")
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not 0 < lr <= 1 or lr != lr:
        raise InputError(f"lr must be a number in (0, 1]; got {lr!r}. Fix: use e.g. 1e-3.")
    return epochs, float(lr), batch_size
