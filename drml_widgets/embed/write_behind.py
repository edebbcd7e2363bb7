"""Rows on their way into the embedding cache, written a few batches at a time.

A CPU batch is small (16 ViT-B-32 images), and each shard is a synced file: writing one per
batch would cost a sync per batch and soon a compaction of the folder. Rows are kept until
:data:`FLUSH_ROWS` of them or :data:`FLUSH_SECONDS` have gathered, then written as one shard,
and whatever is left when the encode ends (or fails, or is interrupted) is written then.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import CacheNotWritableError
from .cache import EmbeddingCache

# A shard holds at least this many rows, or what this many seconds of encoding made: a crash that
# skips the final write (a killed process) loses no more than that.
FLUSH_ROWS = 2048
FLUSH_SECONDS = 10.0


class WriteBehind:
    """Gathers ``(keys, rows)`` for ``cache`` (``None``: drops them) and writes them as a shard now and then.

    A cache that cannot be written (:class:`CacheNotWritableError`, a full disk) is said once, in a
    warning that points ``stacklevel`` frames above :meth:`add` or :meth:`close`; the rows are still
    the caller's, and the writer drops what it is given from then on (``writer.cache`` is ``None``).

    Example:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
        >>> writer = WriteBehind(cache)
        >>> writer.add([b"0123456789abcdef"], np.zeros((1, 3), np.float32))
        >>> len(cache), writer.close(), len(cache)
        (0, None, 1)
    """

    def __init__(self, cache: EmbeddingCache | None, stacklevel: int = 1):
        self.cache = cache
        self._stacklevel = stacklevel
        self._keys: list[bytes] = []
        self._rows: list[np.ndarray] = []
        self._since = time.monotonic()

    def add(self, keys: list[bytes], rows: np.ndarray) -> None:
        """Keep ``rows`` for ``keys``; write all that is kept once there is enough of it."""
        if self.cache is None or not keys:
            return
        self._keys.extend(keys)
        self._rows.append(np.asarray(rows, np.float32))
        if len(self._keys) >= FLUSH_ROWS or time.monotonic() - self._since >= FLUSH_SECONDS:
            self._flush()

    def close(self) -> None:
        """Write what is kept as one shard (nothing to write: nothing happens)."""
        self._flush()

    def _flush(self) -> None:
        keys, rows, self._keys, self._rows = self._keys, self._rows, [], []
        self._since = time.monotonic()
        if self.cache is None or not keys:
            return
        try:
            self.cache.put(keys, np.concatenate(rows))
        except CacheNotWritableError as exc:
            self.cache = None
            warnings.warn(f"{exc} These embeddings are returned but not cached.", stacklevel=self._stacklevel + 2)
