"""Identities without the work they stand for, so a warm start renders, decodes and builds nothing.

- An image made by a known procedure (a shapes-world row) is keyed by what made it
  (:class:`KeyedImage`): its pixels are drawn only when its embedding is missing.
- A weights file is known by its SHA-256 (:func:`file_sha256`). Files of
  :data:`DIGEST_MEMO_BYTES` or more (hub and local checkpoints; the bundled 15 MB shapes CLIP
  hashes in tens of milliseconds) have their digest remembered on disk, keyed by path, size,
  modification and change times and inode: a file rewritten in place, even with its old size and
  mtime restored, gets a new change time and is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from .cache import content_key, default_cache_dir, write_atomically

DIGEST_MEMO_BYTES = 64 << 20
DIGEST_FOLDER = "weights-digests"


@dataclass(frozen=True, eq=False)
class KeyedImage:
    """One image of ``source`` (anything indexable into HxWx3 uint8 arrays), whose cache key is
    ``content_key("made", made)``: ``made`` must name everything its pixels depend on.

    Example:
        >>> item = KeyedImage(np.zeros((1, 2, 2, 3), np.uint8), 0, b"black, 2x2")
        >>> item.pixels().shape, len(item.key)
        ((2, 2, 3), 16)
    """

    source: Sequence
    index: int
    made: bytes

    @property
    def key(self) -> bytes:
        """The cache key: a digest of what made the image, not of its pixels."""
        return content_key("made", self.made)

    def pixels(self) -> np.ndarray:
        """The image itself (rendered or read now)."""
        return np.asarray(self.source[self.index])


def keyed_images(source: Sequence, made: Sequence[bytes]) -> list[KeyedImage]:
    """Every image of ``source`` keyed by its ``made`` bytes (one per image), for ``encode_images``.

    Example:
        >>> [k.index for k in keyed_images(np.zeros((2, 2, 2, 3), np.uint8), [b"a", b"b"])]
        [0, 1]
    """
    if len(made) != len(source):
        raise InputError(f"{len(made)} keys for {len(source)} images. Fix: pass one key per image.")
    return [KeyedImage(source, i, m) for i, m in enumerate(made)]


@lru_cache(maxsize=64)
def _sha256(path: str, stamp: tuple[int, ...]) -> str:
    memo = default_cache_dir() / DIGEST_FOLDER / (hashlib.sha256(json.dumps([path, stamp]).encode()).hexdigest()[:32] + ".txt")
    if stamp[0] >= DIGEST_MEMO_BYTES:
        try:
            known = memo.read_text().strip()
            if len(known) == 64:
                return known
        except OSError:  # not remembered yet
            pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if stamp[0] >= DIGEST_MEMO_BYTES:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(memo.parent, lambda f: f.write(digest.encode()), lambda tmp: memo.name)
        except OSError:  # a read-only home: hashed again next time, nothing worse
            pass
    return digest


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, memoised on (path, size, mtime, ctime, inode): in the process, and on
    disk for files of :data:`DIGEST_MEMO_BYTES` or more.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "w.bin"
        >>> _ = path.write_bytes(b"abc")
        >>> file_sha256(path)[:16]
        'ba7816bf8f01cfea'
    """
    st = os.stat(path)
    return _sha256(str(Path(path).resolve()), (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
