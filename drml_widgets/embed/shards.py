"""Parquet shards of embeddings, written by :func:`~drml_widgets.embed.distributed.embed_dataset`.

A shard holds the rows of ``shard_rows`` consecutive inputs: ``position`` (in the input),
``path``, ``key`` (the content key the embedding cache uses), ``embedding`` (float32, empty for
an unreadable file); a path that is not valid UTF-8 is stored escaped (``\\xe9``) and ``error`` (empty when read). It is written atomically (temporary file,
then rename) with page checksums and the model's identity in its metadata, and named after the
model and its files' paths. It is reused only when it is whole, written for this model, holds
finite float32 rows of one width, and every row's content key is that of its file as it is now:
a file changed since (whatever its size and modification time) is encoded again, and a shard
that fails any other check is moved to ``quarantine/`` with a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.folders import escaped_name
from ..errors import EmbeddingError
from .cache import EmbeddingCache, quarantine, write_atomically

IDENTITY_META = b"drml_identity"

SHARD_PREFIX, SHARD_SUFFIX = "part-", ".parquet"
COLUMNS = ["position", "path", "key", "embedding", "error"]
# Rows per put into the embedding cache: few cache shards, so it seldom compacts.
CACHE_PUT_ROWS = 1 << 16


@dataclass(repr=False)
class EmbedResult:
    """What :func:`embed_dataset` did, and its embeddings in input order (:meth:`embeddings`).

    ``n_from_cache`` counts images served by shards already written or by the embedding cache;
    ``n_encoded`` those the model ran on; ``skipped`` lists unreadable files (``on_error="skip"``).

    Example:
        >>> EmbedResult(Path("out"), [], n_images=3, n_from_cache=1, n_encoded=2, shards_written=1,
        ...             shards_reused=0, seconds=0.5)
        EmbedResult(3 images: 1 from cache, 2 encoded, 0 skipped; 1 shards written, 0 reused; 0.5 s; output_dir='out')
    """

    output_dir: Path
    shard_files: list[Path]
    n_images: int
    n_from_cache: int
    n_encoded: int
    shards_written: int
    shards_reused: int
    seconds: float
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["position", "source", "error"]))

    def table(self) -> pd.DataFrame:
        """Every shard's rows in input order: ``position, path, key, embedding, error``.

        Example:
            >>> EmbedResult(Path("out"), [], 0, 0, 0, 0, 0, 0.0).table().columns.tolist()
            ['position', 'path', 'key', 'embedding', 'error']
        """
        import pyarrow.parquet as pq

        if not self.shard_files:
            return pd.DataFrame(columns=COLUMNS)
        return pd.concat([pq.read_table(f, page_checksum_verification=True).to_pandas() for f in self.shard_files],
                         ignore_index=True)

    def embeddings(self) -> np.ndarray:
        """The ``(n, d)`` float32 embeddings in input order, unreadable images left out.

        Example:
            >>> EmbedResult(Path("out"), [], 0, 0, 0, 0, 0, 0.0).embeddings().shape
            (0, 0)
        """
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        blocks = []
        for file in self.shard_files:
            table = pq.read_table(file, columns=["embedding", "error"], page_checksum_verification=True)
            read = table.filter(pc.equal(table["error"], ""))["embedding"].combine_chunks()
            if len(read):
                blocks.append(_checked_rows(read, file, blocks[0].shape[1] if blocks else None))
        return np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)

    def __repr__(self) -> str:
        return (f"EmbedResult({self.n_images} images: {self.n_from_cache} from cache, {self.n_encoded} encoded, "
                f"{len(self.skipped)} skipped; {self.shards_written} shards written, {self.shards_reused} reused; "
                f"{self.seconds:.1f} s; output_dir={str(self.output_dir)!r})")


def _checked_rows(rows, file: Path, dim: int | None) -> np.ndarray:
    """A shard's embedding column as a float32 matrix, refused (EmbeddingError naming the shard)
    when a file changed since the run holds rows that are not float32, not one width, or not finite."""
    import pyarrow as pa

    widths = np.unique(np.diff(np.asarray(rows.offsets)))
    values = np.asarray(rows.flatten())
    width = int(widths[0]) if len(widths) == 1 else -1
    if (not pa.types.is_float32(rows.type.value_type) or width < 1 or (dim is not None and width != dim)
            or not np.isfinite(values).all()):
        raise EmbeddingError(f"Shard {file.name} in {file.parent} no longer holds what the run wrote (rows of "
                             f"{rows.type.value_type}, widths {widths[:5].tolist()}, finite: {bool(np.isfinite(values).all())}). "
                             "Fix: run embed_dataset again into the same output_dir: it sets damaged shards aside and "
                             "recomputes them.")
    return values.reshape(len(rows), width)


def shard_name(index: int, identity: str, paths: Sequence[str]) -> str:
    """A shard's file name: its index, and a digest of the model and its files' paths.

    Example:
        >>> shard_name(3, "model", ["/data/a.png"])[:12]
        'part-000003-'
    """
    digest = hashlib.blake2b(repr((identity, [escaped_name(p) for p in paths])).encode(), digest_size=10).hexdigest()
    return f"{SHARD_PREFIX}{index:06d}-{digest}{SHARD_SUFFIX}"


def _set_aside(path: Path, problem: str) -> None:  # returns None: the shard is not reused
    message, _ = quarantine(path, OSError(f"{path.name} {problem}"))
    warnings.warn(f"A damaged shard will be recomputed: {message}.", stacklevel=4)


def read_shard(path: Path, identity: str, paths: Sequence[str], keys: Sequence[bytes],
               dim: int | None = None) -> pd.DataFrame | None:
    """A finished shard's rows (:data:`COLUMNS`, embeddings as float32 arrays) when it may be
    reused for ``paths`` whose files now have content ``keys`` (``b""`` for an unreadable one);
    else ``None``. A shard of other paths or files is stale (``None``, left to be overwritten); one
    that is damaged, of another model, or holds rows not finite, not float32 or not ``dim`` wide
    is moved to ``quarantine/`` with a warning.

    Example:
        >>> import tempfile
        >>> rows = pd.DataFrame({"position": [0], "path": ["a.png"], "key": [bytes(16)],
        ...                      "embedding": [np.ones(2)], "error": [""]})
        >>> shard = write_shard(Path(tempfile.mkdtemp()), "part-000000-x.parquet", rows, "model")
        >>> read_shard(shard, "model", ["a.png"], [bytes(16)])["embedding"][0].tolist()
        [1.0, 1.0]
        >>> read_shard(shard, "model", ["a.png"], [bytes(15) + b"!"]) is None  # the file changed
        True
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as exc:
        return _set_aside(path, f"cannot be read as a shard ({exc})")
    if (table.schema.metadata or {}).get(IDENTITY_META) != identity.encode():
        return _set_aside(path, "was written for another model")
    types = {"position": pa.int64(), "path": pa.string(), "key": pa.binary(), "embedding": pa.large_list(pa.float32()),
             "error": pa.string()}
    if table.column_names != COLUMNS or any(table.schema.field(c).type != t for c, t in types.items()):
        return _set_aside(path, f"has columns {table.schema} instead of {types}")
    if table["path"].to_pylist() != [escaped_name(p) for p in paths] or table["key"].to_pylist() != list(keys):
        return None
    rows = table.to_pandas()
    read = rows["error"] == ""
    widths = {len(e) for e in rows.loc[read, "embedding"]}
    if len(widths) > 1 or (dim is not None and widths - {dim}):
        return _set_aside(path, f"holds rows of widths {sorted(widths)}, not the model's {dim}")
    if read.any() and not np.isfinite(np.stack(rows.loc[read, "embedding"].tolist())).all():
        return _set_aside(path, "holds NaN or inf values")
    return rows


def write_shard(directory: Path, name: str, rows: pd.DataFrame, identity: str) -> Path:
    """Write rows (:data:`COLUMNS`; ``embedding`` ``None`` for an unreadable file) as the shard ``name``
    of the model ``identity``, atomically, sorted by position.

    Example:
        >>> import tempfile
        >>> rows = pd.DataFrame({"position": [1, 0], "path": ["b.png", "a.png"], "key": [bytes(16)] * 2,
        ...                      "embedding": [None, np.ones(2)], "error": ["unreadable", ""]})
        >>> shard = write_shard(Path(tempfile.mkdtemp()), "part-000000-x.parquet", rows, "model")
        >>> read_shard(shard, "model", ["a.png", "b.png"], [bytes(16)] * 2)["error"].tolist()
        ['', 'unreadable']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = rows.sort_values("position")
    vectors = [np.asarray(e if e is not None else (), np.float32) for e in rows["embedding"]]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    table = pa.table({
        "position": pa.array(rows["position"].to_numpy(np.int64)),
        "path": pa.array([escaped_name(p) for p in rows["path"]], pa.string()),
        "key": pa.array([bytes(k) for k in rows["key"]], pa.binary()),
        "embedding": pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(vectors), pa.float32())),
        "error": pa.array(rows["error"].tolist(), pa.string()),
    }).replace_schema_metadata({IDENTITY_META: identity.encode()})
    return write_atomically(directory, lambda f: pq.write_table(table, f, write_page_checksum=True),
                            lambda tmp: name)


class CacheFiller:
    """Rows for the embedding cache that it lacks, put in a few large cache shards.

    Example:
        >>> import tempfile
        >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
        >>> filler = CacheFiller(cache)
        >>> filler.add([bytes(16)], [np.ones(2, np.float32)])
        >>> filler.flush()
        >>> len(cache)
        1
    """

    def __init__(self, cache: EmbeddingCache):
        self.cache = cache
        self.keys: list[bytes] = []
        self.rows: list[np.ndarray] = []

    def add(self, keys: Sequence[bytes], rows: Sequence[np.ndarray]) -> None:
        """Queue the rows whose keys the cache lacks; put them once there are enough."""
        for i in self.cache.missing(list(keys)):
            self.keys.append(keys[i])
            self.rows.append(np.asarray(rows[i], np.float32))
        if len(self.keys) >= CACHE_PUT_ROWS:
            self.flush()

    def flush(self) -> None:
        """Put the queued rows (the cache refuses rows of the wrong width or not finite)."""
        if self.keys:
            self.cache.put(self.keys, np.stack(self.rows))
            self.keys, self.rows = [], []
