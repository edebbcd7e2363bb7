"""Trained heads kept on disk, so that the same inputs train a head once.

A head's weights follow from its training inputs and settings alone (a seeded generator, one
thread): the key digests the embeddings and labels of the rows it is trained and selected on,
every setting, the torch version and :data:`HEAD_CACHE_VERSION`. A hit gives back the weights as
numpy arrays, so a warm start predicts without importing torch (about 2 s with its optimiser).
Files are written atomically beside the embedding cache (``heads/<key>.head.npz``); one that cannot
be read back whole and finite is quarantined with a warning and the head is trained again. Past
:data:`KEEP_HEADS` files, the least recently used go.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..embed.cache import quarantine, write_atomically
from ..errors import CacheCorruptError

# Bump whenever a change to the training code (heads.fit_module, heads.build_module, the defaults
# it reads) can give other weights for the same inputs: every kept head is then trained again.
HEAD_CACHE_VERSION = 1
HEADS = "heads"
SUFFIX = ".head.npz"
# Heads kept per cache folder (each a few KB to a few MB); past it, the least recently used go.
KEEP_HEADS = 128


def _torch_version() -> str:
    try:  # from its metadata: importing torch is what a hit saves
        return version("torch")
    except PackageNotFoundError:
        return "none"


def head_key(arrays: Sequence[np.ndarray | None], settings: dict) -> str:
    """A digest of everything that decides a trained head's weights.

    ``arrays`` are the training inputs (``None`` for one not given), each hashed with its dtype
    and shape so that no two different sequences give the same bytes; ``settings`` are the
    hyperparameters (JSON-able). The torch version and :data:`HEAD_CACHE_VERSION` are added.

    Example:
        >>> x = np.zeros((2, 3), np.float32)
        >>> head_key([x, None], {"seed": 0}) == head_key([x, None], {"seed": 1})
        False
    """
    h = hashlib.blake2b(digest_size=32)
    meta = {**settings, "torch": _torch_version(), "version": HEAD_CACHE_VERSION}
    h.update(json.dumps(meta, sort_keys=True).encode() + b"\0")
    for a in arrays:
        if a is None:
            h.update(b"none\0")
            continue
        a = np.ascontiguousarray(a)
        h.update(json.dumps([a.dtype.str, a.shape]).encode() + b"\0")
        h.update(a)
    return h.hexdigest()


def store_trained(folder: Path, key: str, weights: dict[str, np.ndarray], history: pd.DataFrame,
                  best_epoch: int) -> None:
    """Keep a trained head's weights, history and best epoch under ``key``; a folder that cannot
    be written only warns (the next start trains again).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> store_trained(folder, "k", {"bias": np.zeros(2, np.float32)}, pd.DataFrame({"epoch": [0]}), 0)
        >>> load_trained(folder, "k")["weights"]["bias"].tolist()
        [0.0, 0.0]
    """
    arrays = {f"w_{name}": np.asarray(w) for name, w in weights.items()}
    arrays.update({f"h_{name}": history[name].to_numpy() for name in history.columns})
    arrays.update(key=np.array(key), best_epoch=np.array(best_epoch), columns=np.array(list(history.columns), str))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder, lambda f: np.savez(f, **arrays), lambda tmp: f"{key}{SUFFIX}")
        _evict(folder)
    except OSError as exc:
        warnings.warn(f"The trained head was not kept in {folder} ({exc}): the next start trains it again. "
                      "Fix: make the cache folder writable, or free disk space.", stacklevel=3)


def load_trained(folder: Path, key: str) -> dict | None:
    """The head kept under ``key``: ``{"weights", "history", "best_epoch"}``, or ``None`` if there is none
    (a damaged file is quarantined with a warning). See :func:`store_trained` for an example.

    Example:
        >>> import tempfile
        >>> load_trained(Path(tempfile.mkdtemp()), "k") is None
        True
    """
    path = Path(folder) / f"{key}{SUFFIX}"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:  # zip members are CRC-checked as they are read
            parts = {name: z[name] for name in z.files}
        if str(parts["key"]) != key:
            raise CacheCorruptError(f"{path.name} holds the head of another key")
        weights = {name[2:]: w for name, w in parts.items() if name.startswith("w_")}
        if not weights or not all(np.isfinite(w).all() for w in weights.values()):
            raise CacheCorruptError(f"{path.name} holds no weights, or NaN or inf ones")
        history = pd.DataFrame({name: parts[f"h_{name}"] for name in parts["columns"]})
        _touch(path)
        return {"weights": weights, "history": history, "best_epoch": int(parts["best_epoch"])}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, CacheCorruptError) as exc:
        what, _ = quarantine(path, exc)
        warnings.warn(f"A kept head could not be read: {what}. It is trained again.", stacklevel=3)
        return None


def _touch(path: Path) -> None:
    """Mark a kept head as just used (its modification time orders eviction)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache serves its heads all the same
        pass


def _evict(folder: Path) -> None:
    """Remove the least recently used heads past :data:`KEEP_HEADS`."""
    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:  # removed by another process meanwhile
            return float("inf")

    for path in sorted(folder.glob(f"*{SUFFIX}"), key=used)[:-KEEP_HEADS]:
        path.unlink(missing_ok=True)
