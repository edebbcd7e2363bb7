"""Small helpers every layer uses, written once: unit rows, chunked row statistics, typed empty
frames, text encoders, change observers."""

from __future__ import annotations

import functools
import warnings
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InputError


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) scaled to unit length; zero rows stay zero.

    Example:
        >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6, 0.8], [0.0, 0.0]]
    """
    x = np.asarray(x)
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)


# Rows per chunk when a kernel walks a large (n, d) array: temporaries stay at a few dozen MB
# (65,536 x 512 float32 is 128 MiB) however many rows there are.
CHUNK_ROWS = 1 << 15


def row_chunks(n: int, size: int = CHUNK_ROWS) -> Iterator[slice]:
    """Consecutive row slices of at most ``size`` rows covering ``range(n)``.

    Example:
        >>> list(row_chunks(5, 2))
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    return (slice(start, min(start + size, n)) for start in range(0, n, size))


def group_means(x: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean row of ``x`` per group (``groups`` in ``[0, n_groups)``, one per row) and each
    group's size, summed in float64 chunk by chunk (no copy of a group's rows); empty groups get
    NaN rows. One pass, O(n d).

    Example:
        >>> means, sizes = group_means(np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]]), np.array([0, 0, 1]), 3)
        >>> means[:2].tolist(), sizes.tolist()
        ([[2.0, 1.0], [5.0, 5.0]], [2, 1, 0])
    """
    from scipy import sparse

    groups = np.asarray(groups)
    sums = np.zeros((n_groups, x.shape[1]))
    for part in row_chunks(len(x)):
        g = groups[part]
        onehot = sparse.csr_matrix((np.ones(len(g)), (g, np.arange(len(g)))), shape=(n_groups, len(g)))
        sums += onehot @ x[part].astype(np.float64)
    sizes = np.bincount(groups, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / sizes[:, None], sizes


def column_mean(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Mean row of ``x`` (of ``x[rows]``, rows given as indices or a mask) as float32, summed by
    chunks (see :func:`group_means`) without copying the selected rows.

    Example:
        >>> column_mean(np.array([[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], np.float32), np.array([0, 1])).tolist()
        [2.0, 3.0]
    """
    mask = np.zeros(len(x), bool)
    mask[slice(None) if rows is None else rows] = True
    means, _ = group_means(x, np.where(mask, 0, 1), 2)
    return means[0].astype(np.float32)


def centred_scatter(parts: Sequence[np.ndarray], origin: np.ndarray) -> np.ndarray:
    """``sum (r - origin)(r - origin)^T`` over the rows ``r`` of every part, by chunks: O(n d^2)
    time and no copy of the parts (nor of their concatenation). Each chunk is centred and
    multiplied in the parts' own precision (float32 embeddings: twice as fast) and summed in float64.

    Example:
        >>> centred_scatter([np.array([[1.0, 0.0]]), np.array([[-1.0, 0.0]])], np.zeros(2)).tolist()
        [[2.0, 0.0], [0.0, 0.0]]
    """
    out = np.zeros((len(origin), len(origin)))
    for x in parts:
        centre = np.asarray(origin, dtype=np.result_type(x.dtype, np.float32))
        for part in row_chunks(len(x)):
            block = x[part] - centre
            out += block.T @ block
    return out


def project_rows(x: np.ndarray, origin: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``(x - origin) @ axes`` as float32, as ``x @ axes - origin @ axes``: no centred copy of ``x``.

    Example:
        >>> project_rows(np.array([[2.0, 3.0]]), np.array([1.0, 1.0]), np.eye(2)[:, :1]).tolist()
        [[1.0]]
    """
    out = np.empty((len(x), axes.shape[1]), np.float32)
    axes = np.asarray(axes, dtype=np.result_type(x.dtype, np.float32))  # float32 rows stay float32
    shift = np.asarray(origin, dtype=np.float64) @ axes
    for k in range(axes.shape[1]):  # a matrix-vector product per axis: several times faster than one thin matrix product
        out[:, k] = x @ np.ascontiguousarray(axes[:, k]) - shift[k]
    return out


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    """A DataFrame with no rows and the given column dtypes, so empty results keep their schema.

    Example:
        >>> empty_frame({"tags": "object", "n": "int64"}).dtypes.astype(str).tolist()
        ['object', 'int64']
    """
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def text_encoder(encoder, error: type[Exception] = InputError) -> Callable[[Sequence[str]], np.ndarray]:
    """A function texts -> float32 embeddings from a ``ClipEncoder`` or any callable.

    Example:
        >>> encode = text_encoder(lambda texts: np.ones((len(texts), 2)))
        >>> encode(["a", "b"]).dtype, encode(["a", "b"]).shape
        (dtype('float32'), (2, 2))
    """
    encode = getattr(encoder, "encode_texts", encoder)
    if not callable(encode):
        raise error(f"encoder must be a ClipEncoder or a callable turning texts into embeddings; "
                    f"got {type(encoder).__name__}.")
    return lambda texts: np.asarray(encode(list(texts)), dtype=np.float32)


class Observable:
    """Calls ``callback(event)`` for every change it announces; views bind to it.

    Example:
        >>> heard = []
        >>> thing = Observable(); thing.observe(heard.append); thing._notify("head")
        >>> heard, thing.is_observed_by(heard.append)
        (['head'], True)
    """

    def __init__(self):
        self._observers: list[Callable[[str], None]] = []

    def observe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(event)`` on every change."""
        self._observers.append(callback)

    def unobserve(self, callback: Callable[[str], None]) -> None:
        """Stop calling ``callback``; one that is not observing is ignored."""
        if callback in self._observers:
            self._observers.remove(callback)

    def is_observed_by(self, callback: Callable[[str], None]) -> bool:
        """Whether ``callback`` hears the changes."""
        return callback in self._observers

    def _notify(self, event: str) -> None:
        for callback in list(self._observers):
            callback(event)


def random_units(out: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill ``out`` with random unit vectors, by chunks (the same draws as one call).

    Example:
        >>> v = random_units(np.empty((3, 4), np.float32), np.random.default_rng(0))
        >>> np.allclose(np.linalg.norm(v, axis=1), 1)
        True
    """
    for part in row_chunks(len(out)):
        out[part] = unit_rows(rng.normal(size=(part.stop - part.start, out.shape[1])).astype(np.float32))
    return out


def deprecated_alias(func: Callable, old: str) -> Callable:
    """``func`` under its old name for one release: it warns (FutureWarning, which notebooks
    show) and calls ``func``.

    Example:
        >>> import warnings
        >>> def new(x): return x + 1
        >>> old = deprecated_alias(new, "old")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     old(1), caught[0].category.__name__
        (2, 'FutureWarning')
    """
    @functools.wraps(func)
    def alias(*args, **kwargs):
        warnings.warn(f"{old} is renamed {func.__name__}; the old name goes in the next release. "
                      f"Fix: call {func.__name__}(...).", FutureWarning, stacklevel=2)
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated: renamed :func:`{func.__name__}` (the old name goes in the next release)."
    del alias.__wrapped__  # the alias's own doc and name, not the new function's
    return alias


def true_label_loss(proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy of the true label, its probability clipped at 1e-12 (a sure mistake
    costs 27.6, not infinity).

    Example:
        >>> true_label_loss(np.array([[0.9, 0.1], [0.0, 1.0]]), np.array([0, 0])).round(3).tolist()
        [0.105, 27.631]
    """
    labels = np.asarray(labels)
    return -np.log(np.clip(np.asarray(proba)[np.arange(len(labels)), labels], 1e-12, None))
