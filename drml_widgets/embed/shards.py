"""Parquet shards of embeddings, written by :func:`~drml_widgets.embed.distributed.embed_dataset`.

A shard holds the rows of ``shard_rows`` consecutive inputs: ``position`` (in the input),
``path``, ``key`` (the content key the embedding cache uses), ``embedding`` (float32, empty for
an unreadable file) and ``error`` (empty when read). It is written atomically (temporary file,
then rename) with page checksums, and named after the model and its files' paths, sizes and
modification times: a file that changed gets a new shard, and a damaged shard is moved aside.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .cache import EmbeddingCache, quarantine, write_atomically

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
                blocks.append(np.asarray(read.flatten(), np.float32).reshape(len(read), -1))
        return np.concatenate(blocks) if blocks else np.empty((0, 0), np.float32)

    def __repr__(self) -> str:
        return (f"EmbedResult({self.n_images} images: {self.n_from_cache} from cache, {self.n_encoded} encoded, "
                f"{len(self.skipped)} skipped; {self.shards_written} shards written, {self.shards_reused} reused; "
                f"{self.seconds:.1f} s; output_dir={str(self.output_dir)!r})")


def shard_name(index: int, identity: str, entries: list[tuple[str, int, int]]) -> str:
    """A shard's file name: its index, and a digest of the model and its files' path, size and mtime.

    Example:
        >>> shard_name(3, "model", [("/data/a.png", 1024, 0)])[:12]
        'part-000003-'
    """
    digest = hashlib.blake2b(repr((identity, entries)).encode(), digest_size=10).hexdigest()
    return f"{SHARD_PREFIX}{index:06d}-{digest}{SHARD_SUFFIX}"


def shard_paths(path: Path) -> list[str] | None:
    """The paths a finished shard holds, or ``None`` when it is missing or damaged (then it is
    moved to ``quarantine/`` with a warning, and its rows are to be recomputed).

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "part-000000-x.parquet"
        >>> _ = bad.write_bytes(b"PAR1 half a shard")
        >>> with warnings.catch_warnings(record=True):
        ...     shard_paths(bad), (bad.parent / "quarantine" / bad.name).exists()
        (None, True)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=["path"], page_checksum_verification=True)["path"].to_pylist()
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as exc:
        message, _ = quarantine(path, OSError(f"{path.name} cannot be read as a shard ({exc})"))
        warnings.warn(f"A damaged shard will be recomputed: {message}.", stacklevel=3)
        return None


def write_shard(directory: Path, name: str, rows: pd.DataFrame) -> Path:
    """Write rows (:data:`COLUMNS`; ``embedding`` ``None`` for an unreadable file) as the shard ``name``,
    atomically, sorted by position.

    Example:
        >>> import tempfile
        >>> rows = pd.DataFrame({"position": [1, 0], "path": ["b.png", "a.png"], "key": [bytes(16)] * 2,
        ...                      "embedding": [None, np.ones(2)], "error": ["unreadable", ""]})
        >>> shard_paths(write_shard(Path(tempfile.mkdtemp()), "part-000000-x.parquet", rows))
        ['a.png', 'b.png']
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = rows.sort_values("position")
    vectors = [np.asarray(e if e is not None else (), np.float32) for e in rows["embedding"]]
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in vectors])]).astype(np.int64)
    table = pa.table({
        "position": pa.array(rows["position"].to_numpy(np.int64)),
        "path": pa.array(rows["path"].tolist(), pa.string()),
        "key": pa.array([bytes(k) for k in rows["key"]], pa.binary()),
        "embedding": pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(np.concatenate(vectors))),
        "error": pa.array(rows["error"].tolist(), pa.string()),
    })
    return write_atomically(directory, lambda f: pq.write_table(table, f, write_page_checksum=True),
                            lambda tmp: name)


def fill_cache(cache: EmbeddingCache, shard_files: Sequence[Path]) -> list[dict]:
    """Put every shard's embeddings that the cache lacks, in a few large cache shards; returns
    the rows of unreadable images (``position``, ``source``, ``error``).

    Example:
        >>> import tempfile
        >>> rows = pd.DataFrame({"position": [0], "path": ["a.png"], "key": [bytes(16)],
        ...                      "embedding": [np.ones(2)], "error": [""]})
        >>> shard = write_shard(Path(tempfile.mkdtemp()), "part-000000-x.parquet", rows)
        >>> cache = EmbeddingCache(tempfile.mkdtemp(), {"model": "demo"})
        >>> fill_cache(cache, [shard]), len(cache)
        ([], 1)
    """
    import pyarrow.parquet as pq

    keys: list[bytes] = []
    rows: list[np.ndarray] = []
    skipped: list[dict] = []

    def flush() -> None:
        if keys:
            cache.put(keys, np.stack(rows))
            keys.clear()
            rows.clear()

    for file in shard_files:
        if not file.exists():
            continue
        table = pq.read_table(file, columns=["position", "path", "key", "error"]).to_pydict()
        skipped += [{"position": p, "source": path, "error": e}
                    for p, path, e in zip(table["position"], table["path"], table["error"]) if e]
        ok = [i for i, error in enumerate(table["error"]) if not error]
        need = [ok[j] for j in cache.missing([table["key"][i] for i in ok])]
        if not need:
            continue
        embedding = pq.read_table(file, columns=["embedding"], page_checksum_verification=True)["embedding"]
        vectors = embedding.to_numpy()
        keys += [table["key"][i] for i in need]
        rows += [np.asarray(vectors[i], np.float32) for i in need]
        if len(keys) >= CACHE_PUT_ROWS:
            flush()
    flush()
    return skipped
