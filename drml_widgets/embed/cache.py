"""An on-disk embedding cache, one folder per model identity, written atomically and checksummed.

Each shard is one ``.npy`` file of records (a 16-byte content digest and a float32 row), named
after the SHA-256 of its own bytes: ``<checksum>.shard.npy``. It is written to a temporary name
and moved into place with ``os.replace``, so a reader only ever sees complete shards, and it is
verified against its name when first read, so damaged bytes are never served: a shard that fails
(flipped bits, truncation, a shard from an older version without checksum, rows of another width
or not finite) is moved to ``quarantine/`` with a warning and its entries are recomputed. The
width of the rows is recorded (``dim.json``) by the first write, and rows of another width, or
with NaN or inf, are refused whoever puts them. Temporary files that a killed
process left behind are deleted once they are old enough not to belong to a live writer.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from ..errors import CacheCorruptError, CacheNotWritableError, EmbeddingError, InputError

KEY_BYTES = 16
# Merging keeps look-ups fast once many small encode calls have each written a shard.
COMPACT_AFTER = 32
SHARD_SUFFIX = ".shard.npy"
QUARANTINE = "quarantine"
# A live writer touches its temporary file continuously; one untouched this long is an orphan.
STALE_TMP_SECONDS = 10 * 60
# Write errors that mean "no room": the encode goes on without the cache instead of failing.
DISK_FULL = {errno.ENOSPC, errno.EFBIG} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())
# numpy reports a short write (file size limit, a full disk mid-write) with no errno, only this.
SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")
DIM_FILE = "dim.json"


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
    """A short stable folder name for a model identity (name, weights, preprocessing).

    Example:
        >>> identity_key({"model": "demo"}) == identity_key({"model": "demo"})
        True
    """
    blob = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=10).hexdigest()


def file_checksum(path: str | Path) -> str:
    """The checksum a shard is named after: SHA-256 of its bytes, first 32 hex digits.

    SHA-256 rather than blake2b because CPUs with SHA extensions hash it about twice as fast,
    and every shard is hashed once per process before its rows are served.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x"
        >>> _ = path.write_bytes(b"abc")
        >>> file_checksum(path)
        'ba7816bf8f01cfea414140de5dae2223'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def write_atomically(directory: Path, write: Callable[[BinaryIO], None], name: Callable[[str], str]) -> Path:
    """Write a file that readers see whole or not at all: ``write(f)`` fills a synced temporary
    file (``.*.tmp``, ignored by readers), then it is renamed to ``name(temporary path)``.

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_atomically(folder, lambda f: f.write(b"abc"), lambda tmp: "x.bin").read_bytes()
        b'abc'
    """
    fd, tmp = tempfile.mkstemp(prefix=".shard.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        path = Path(directory) / name(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_shard(directory: Path, keys: list[bytes], embeddings: np.ndarray) -> Path:
    records = np.empty(len(keys), [("key", f"V{KEY_BYTES}"), ("emb", "<f4", embeddings.shape[1:])])
    records["key"] = np.frombuffer(b"".join(keys), dtype=f"V{KEY_BYTES}")
    records["emb"] = embeddings
    return write_atomically(directory, lambda f: np.save(f, records, allow_pickle=False),
                            lambda tmp: f"{file_checksum(tmp)}{SHARD_SUFFIX}")


def quarantine(path: Path, reason: Exception) -> tuple[str, bool]:
    """Move a damaged file into ``quarantine/`` beside it: ``(what was done, whether it moved)``.

    Example:
        >>> bad = Path(tempfile.mkdtemp()) / "x.bin"
        >>> _ = bad.write_bytes(b"?")
        >>> quarantine(bad, OSError("x.bin is truncated"))[1], bad.exists()
        (True, False)
    """
    dest = path.parent / QUARANTINE / path.name
    try:
        dest.parent.mkdir(exist_ok=True)
        os.replace(path, dest)
    except FileNotFoundError:  # another process moved it first
        pass
    except OSError as exc:
        return f"{reason}; left in place, it could not be moved aside ({exc.strerror or exc})", False
    return f"{reason}; moved to {dest}", True


def _open_shard(path: Path, dim: int | None) -> np.ndarray:
    """The shard's records (memory-mapped), or :class:`CacheCorruptError` saying what is wrong."""
    if not path.name.endswith(SHARD_SUFFIX):
        raise CacheCorruptError(f"{path.name} has no checksum (written by an older drml-widgets)")
    if file_checksum(path) != path.name[: -len(SHARD_SUFFIX)]:
        raise CacheCorruptError(f"{path.name} does not match its checksum (damaged or truncated)")
    try:
        records = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CacheCorruptError(f"{path.name} is not a shard ({exc})") from exc
    if records.ndim != 1 or records.dtype.names != ("key", "emb") or records.dtype["key"].itemsize != KEY_BYTES:
        raise CacheCorruptError(f"{path.name} is not a shard (records of {records.dtype})")
    width = records.dtype["emb"].shape
    if len(width) != 1 or (dim is not None and width[0] != dim):
        raise CacheCorruptError(f"{path.name} holds rows of shape {width}, not the cache's ({dim},)")
    if not np.isfinite(records["emb"]).all():
        raise CacheCorruptError(f"{path.name} holds NaN or inf values")
    return records


def _read_dim(path: Path) -> int | None:
    try:
        dim = json.loads(path.read_text())["dim"]
    except (OSError, ValueError, KeyError, TypeError):  # not written yet, or unreadable: learnt from the shards
        return None
    return dim if isinstance(dim, int) and dim > 0 else None


class EmbeddingCache:
    """Embeddings of one model, keyed by input content.

    Example:
        >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
        >>> cache.put([b"0123456789abcdef"], np.ones((1, 4), np.float32))
        >>> found, missing = cache.get([b"0123456789abcdef", b"fedcba9876543210"])
        >>> found[0].tolist(), missing
        ([1.0, 1.0, 1.0, 1.0], [1])
    """

    def __init__(self, root: str | Path, identity: dict):
        self.identity = identity
        self.dir = Path(root).expanduser() / identity_key(identity)
        self._prepare()
        self.dim = _read_dim(self.dir / DIM_FILE)
        self._index: dict[bytes, tuple[str, int]] = {}
        self._shards: dict[str, np.ndarray] = {}
        self._unmovable: set[str] = set()

    def _prepare(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.dir, prefix=".probe.", suffix=".tmp", delete=True)
            probe.close()
            identity_file = self.dir / "identity.json"
            if not identity_file.exists():
                fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".identity.", suffix=".tmp")
                with os.fdopen(fd, "w") as f:
                    json.dump(self.identity, f, indent=2, sort_keys=True, default=str)
                os.replace(tmp, identity_file)
        except OSError as exc:
            raise CacheNotWritableError(
                f"The embedding cache directory {str(self.dir)!r} cannot be written ({exc.strerror or exc}). "
                "Fix: pass a writable folder as cache_dir=..., set DRML_WIDGETS_CACHE, "
                "or pass cache_dir=None to run without a cache."
            ) from exc
        cutoff = time.time() - STALE_TMP_SECONDS
        for tmp in self.dir.glob(".*.tmp"):
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
            except FileNotFoundError:  # another process cleaned it up first
                pass

    def _write(self, keys: list[bytes], embeddings: np.ndarray) -> Path:
        try:
            return _write_shard(self.dir, keys, embeddings)
        except OSError as exc:
            if exc.errno not in DISK_FULL and not (exc.errno is None and SHORT_WRITE.search(str(exc))):
                raise
            raise CacheNotWritableError(
                f"Cannot write to the embedding cache {str(self.dir)!r}: {exc.strerror or exc} "
                "(the disk is full or over quota). Fix: free some space, point cache_dir= or "
                "DRML_WIDGETS_CACHE at a folder on another disk, or pass cache_dir=None."
            ) from exc

    def _quarantine(self, path: Path, reason: OSError) -> str:
        message, moved = quarantine(path, reason)
        if not moved:
            self._unmovable.add(path.name)
        return message

    def _refresh(self) -> None:
        problems = []
        for path in sorted(self.dir.glob("*.npy")):
            if path.name in self._shards or path.name in self._unmovable:
                continue
            try:
                records = _open_shard(path, self.dim)
            except FileNotFoundError:  # removed by a concurrent compaction; its rows live on elsewhere
                continue
            except OSError as exc:  # CacheCorruptError, or a shard that cannot even be opened
                problems.append(self._quarantine(path, exc))
                continue
            self._shards[path.name] = records
            if self.dim is None:  # a cache written before widths were recorded: its first shard sets it
                self.dim = int(records.dtype["emb"].shape[0])
            for row, key in enumerate(records["key"].tolist()):
                self._index[key] = (path.name, row)
        if problems:
            warnings.warn(
                f"The embedding cache {str(self.dir)!r} had {len(problems)} unusable shard(s), whose "
                f"entries will be recomputed: {'; '.join(problems)}.",
                stacklevel=2,
            )

    def get(self, keys: list[bytes]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Look keys up: returns ``({position: row}, [positions not cached])``.

        Example:
            >>> EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"}).get([b"0123456789abcdef"])
            ({}, [0])
        """
        self._refresh()
        found: dict[int, tuple[str, int]] = {}
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
            block = np.asarray(self._shards[shard]["emb"][[found[i][1] for i in positions]], dtype=np.float32)
            rows.update(zip(positions, block))
        return rows, missing

    def missing(self, keys: list[bytes]) -> list[int]:
        """Positions of the keys not cached, without reading any embedding.

        Example:
            >>> EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"}).missing([b"0123456789abcdef"])
            [0]
        """
        self._refresh()
        return [i for i, key in enumerate(keys) if key not in self._index]

    def put(self, keys: list[bytes], embeddings: np.ndarray) -> None:
        """Store rows for keys as one new shard (atomically).

        A full disk (or a short write) raises :class:`CacheNotWritableError`; nothing
        half-written is left. Rows of another width than the cache's, or with NaN or inf, raise
        :class:`EmbeddingError`: the cache serves them to every later run, so it takes none.

        Example:
            >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
            >>> cache.put([b"0123456789abcdef"], np.zeros((1, 3), np.float32))
            >>> len(cache)
            1
        """
        if len(keys) == 0:
            return
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.shape[0] != len(keys):
            raise InputError(f"{len(keys)} keys but {embeddings.shape[0]} embeddings; pass one row per key.")
        self._check_rows(embeddings)
        self._write(keys, embeddings)
        if self.dim is None:
            self._record_dim(embeddings.shape[1])
        if len(list(self.dir.glob(f"*{SHARD_SUFFIX}"))) > COMPACT_AFTER:
            self.compact()

    def _check_rows(self, embeddings: np.ndarray) -> None:
        if self.dim is None:
            self._refresh()  # a cache written before widths were recorded learns its width here
        if embeddings.ndim != 2 or (self.dim is not None and embeddings.shape[1] != self.dim):
            width = embeddings.shape[1:] if embeddings.ndim != 2 else embeddings.shape[1]
            raise EmbeddingError(
                f"Rows of {width} values per row do not fit the embedding cache {str(self.dir)!r}, which has "
                f"{self.dim} per row (its model's embedding width). Fix: put only embeddings of the model this "
                "cache belongs to, or use another cache_dir=.")
        bad = int((~np.isfinite(embeddings)).any(axis=1).sum())
        if bad:
            raise EmbeddingError(
                f"{bad} of {len(embeddings)} rows hold NaN or inf values; the cache keeps finite embeddings only. "
                "Fix: check the model (NaN weights, a broken input) and put only finite rows.")

    def _record_dim(self, dim: int) -> None:
        self.dim = int(dim)
        try:
            write_atomically(self.dir, lambda f: f.write(json.dumps({"dim": self.dim}).encode()),
                             lambda tmp: DIM_FILE)
        except OSError:  # the rows are stored; the width is learnt again from them next time
            pass

    def compact(self) -> int:
        """Merge every shard into one; returns the number of entries kept.

        Example:
            >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
            >>> for key in (b"0123456789abcdef", b"fedcba9876543210"):
            ...     cache.put([key], np.zeros((1, 3), np.float32))
            >>> cache.compact()
            2
        """
        self._refresh()
        old = list(self._shards)
        if len(old) <= 1:
            return len(self._index)
        keys = list(self._index)
        rows, _ = self.get(keys)
        merged = self._write(keys, np.stack([rows[i] for i in range(len(keys))]))
        for name in old:  # a shard whose rows were all kept can have the merged shard's very name
            if name != merged.name:
                (self.dir / name).unlink(missing_ok=True)
        self._index.clear()
        self._shards.clear()
        return len(keys)

    def __len__(self) -> int:
        self._refresh()
        return len(self._index)

    def __repr__(self) -> str:
        return f"EmbeddingCache(dir={str(self.dir)!r}, entries={len(self)})"
