"""Input checks shared by the diagnosis kernels: they fail early, name the problem and the fix."""

from __future__ import annotations

import numpy as np

from ..errors import EmbeddingError


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
    bad = ~np.isfinite(x).all(axis=1)
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
