"""Input checks shared by the diagnosis kernels: they fail early, name the problem and the fix."""

from __future__ import annotations

import math

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


def check_whole(value, name: str, lo: int = 1, hi: int | None = None, fix: str = "",
                error: type[Exception] = InputError) -> int:
    """``value`` as an int in ``[lo, hi]`` (no top with ``hi=None``), or ``error`` naming it and ``fix``.

    Bools, floats (even 3.0) and text are refused: a count typed as ``1.5`` or ``"3"`` is a mistake.

    Example:
        >>> check_whole(np.int64(3), "k", 1, 10)
        3
        >>> check_whole(2.0, "k", 1, 10, "pass e.g. k=3")
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: k must be a whole number from 1 to 10; got 2.0. Fix: pass e.g. k=3.
    """
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < lo or (hi is not None and value > hi):
        span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise error(f"{name} must be a whole number {span}; got {value!r}. Fix: {fix}.")
    return int(value)


def check_number(value, name: str, lo: float, hi: float, fix: str = "", error: type[Exception] = InputError,
                 open_lo: bool = False, open_hi: bool = False) -> float:
    """``value`` as a finite float in ``[lo, hi]`` (ends left out with ``open_lo``/``open_hi``),
    or ``error`` naming it and ``fix``.

    Example:
        >>> check_number(np.float32(0.5), "a", 0, 1)
        0.5
        >>> check_number(float("nan"), "a", 0, 1, "pass e.g. a=0.3")
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: a must be a number in [0, 1]; got nan. Fix: pass e.g. a=0.3.
    """
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    # NaN fails every comparison, so it fails the range too.
    inside = number and (lo < value if open_lo else lo <= value) and (value < hi if open_hi else value <= hi)
    if not inside or not math.isfinite(value):
        span = f"{'(' if open_lo else '['}{lo}, {hi}{')' if open_hi else ']'}"
        raise error(f"{name} must be a number in {span}; got {value!r}. Fix: {fix}.")
    return float(value)


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
    epochs = check_whole(epochs, "epochs", 1, max_epochs, "a few dozen epochs is plenty for a head")
    batch_size = check_whole(batch_size, "batch_size", 1, None, "use e.g. 32")
    return epochs, check_number(lr, "lr", 0, 1, "use e.g. 1e-3", open_lo=True), batch_size
