"""An on-disk embedding cache, one folder per model identity, written atomically.

Entries live in shards: ``<id>.emb.npy`` (float32 rows) and ``<id>.keys.npy`` (16-byte content
digests). Both are written to temporary names and moved into place with ``os.replace``, the keys
file last, so a reader only ever sees complete shards; a process killed mid-write leaves at most
an orphaned temporary file, which is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np

from ..errors import CacheNotWritableError

KEY_BYTES = 16
# Merging keeps look-ups fast once many small encode calls have each written a shard.
COMPACT_AFTER = 32


def default_cache_dir() -> Path:
    """Where embeddings are cached unless told otherwise: ``$DRML_WIDGETS_CACHE`` or ``~/.cache``.

    Example:
        >>> default_cache_dir().name
        'embeddings'
    """
    env = os.environ.get("DRML_WIDGETS_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "drml-widgets" / "embeddings"


def content_key(namespace: str, payload: bytes) -> bytes:
    """A 16-byte digest of one input's content, separated by kind (``text``, ``file``, ``pixels``).

    Example:
        >>> len(content_key("text", b"a red square"))
        16
    """
    h = hashlib.blake2b(digest_size=KEY_BYTES)
    h.update(namespace.encode() + b"\0")
    h.update(payload)
    return h.digest()


def identity_key(identity: dict) -> str:
    """A short stable folder name for a model identity (name, weights, preprocessing)."""
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=10).hexdigest()


def _atomic_save(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EmbeddingCache:
    """Embeddings of one model, keyed by input content.

    Example:
        >>> cache = EmbeddingCache("/tmp/emb-cache", {"model": "demo"})
        >>> cache.put([b"0123456789abcdef"], np.ones((1, 4), np.float32))
        >>> found, missing = cache.get([b"0123456789abcdef"])
        >>> missing
        []
    """

    def __init__(self, root: str | Path, identity: dict):
        self.identity = identity
        self.dir = Path(root).expanduser() / identity_key(identity)
        self._check_writable()
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}

    def _check_writable(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.dir, prefix=".probe.", delete=True)
            probe.close()
        except OSError as exc:
            raise CacheNotWritableError(
                f"The embedding cache directory {str(self.dir)!r} cannot be written ({exc.strerror or exc}). "
                "Fix: pass a writable folder as cache_dir=..., set DRML_WIDGETS_CACHE, "
                "or pass cache_dir=None to run without a cache."
            ) from exc
        identity_file = self.dir / "identity.json"
        if not identity_file.exists():
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".identity.")
            with os.fdopen(fd, "w") as f:
                json.dump(self.identity, f, indent=2, sort_keys=True, default=str)
            os.replace(tmp, identity_file)

    def _shard_ids(self) -> list[str]:
        return sorted(p.name[: -len(".keys.npy")] for p in self.dir.glob("*.keys.npy"))

    def _refresh(self) -> None:
        for shard in self._shard_ids():
            if shard in self._shards:
                continue
            try:
                keys = np.load(self.dir / f"{shard}.keys.npy", allow_pickle=False)
                emb = np.load(self.dir / f"{shard}.emb.npy", mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:  # removed by a concurrent compaction; its rows live on elsewhere
                continue
            self._shards[shard] = emb
            for row, key in enumerate(keys):
                self._index[key.tobytes()] = (shard, row)

    def get(self, keys: list[bytes]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Look keys up: returns ``({position: row}, [positions not cached])``."""
        self._refresh()
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is None:
                missing.append(i)
            else:
                found[i] = hit
        by_shard: dict[str, list[int]] = {}
        for i, (shard, _) in found.items():
            by_shard.setdefault(shard, []).append(i)
        rows: dict[int, np.ndarray] = {}
        for shard, positions in by_shard.items():
            block = np.asarray(self._shards[shard][[found[i][1] for i in positions]], dtype=np.float32)
            rows.update(zip(positions, block))
        return rows, missing

    def put(self, keys: list[bytes], embeddings: np.ndarray) -> None:
        """Store rows for keys as one new shard (atomically)."""
        if len(keys) == 0:
            return
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys but {embeddings.shape[0]} embeddings.")
        key_array = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)
        shard = uuid.uuid4().hex
        _atomic_save(self.dir / f"{shard}.emb.npy", embeddings)
        _atomic_save(self.dir / f"{shard}.keys.npy", key_array)
        if len(self._shard_ids()) > COMPACT_AFTER:
            self.compact()

    def compact(self) -> int:
        """Merge every shard into one; returns the number of entries kept."""
        self._refresh()
        old = list(self._shards)
        if len(old) <= 1:
            return len(self._index)
        keys = list(self._index)
        rows, _ = self.get(keys)
        merged = np.stack([rows[i] for i in range(len(keys))])
        shard = uuid.uuid4().hex
        _atomic_save(self.dir / f"{shard}.emb.npy", merged)
        _atomic_save(self.dir / f"{shard}.keys.npy",
                     np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES))
        for sid in old:  # keys first, so no reader trusts a shard whose rows are going away
            (self.dir / f"{sid}.keys.npy").unlink(missing_ok=True)
            (self.dir / f"{sid}.emb.npy").unlink(missing_ok=True)
        self._index.clear()
        self._shards.clear()
        return len(keys)

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def __repr__(self) -> str:
        return f"EmbeddingCache(dir={str(self.dir)!r}, entries={len(self)})"
