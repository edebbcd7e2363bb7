"""Small helpers every layer uses, written once: unit rows, typed empty frames, text encoders,
change observers."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

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
