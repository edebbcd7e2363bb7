"""Embedding a large image collection on Ray Data (``pip install "drml-widgets[ray]"``).

Ray tasks read and decode the files; a pool of encoder actors (one GPU each where the cluster
has GPUs, CPU otherwise) runs the model with ``map_batches``. The driver groups the results into
Parquet shards of ``(path, key, embedding, error)`` rows, one per ``shard_rows`` inputs, each
written atomically, and puts every new embedding into the content-addressed cache that
:class:`~drml_widgets.embed.ClipEncoder` reads. A shard is named after the model and its files'
paths, so a restarted run finds the shards it already wrote; it reuses one only after checking it
(:func:`~drml_widgets.embed.shards.read_shard`: the model it was written for, finite float32
rows of one width, and each row's content key against its file as it is now, read again here).
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..data.folders import IMAGE_SUFFIXES, escaped_name, image_files
from ..data.sources import PATH_COLUMNS
from ..data.tables import find_column, read_table
from ..errors import CacheNotWritableError, EmptyInputError, ImageLoadError, InputError, MissingExtraError
from .cache import STALE_TMP_SECONDS, EmbeddingCache, default_cache_dir, identity_key
from .devices import default_batch_size
from .encoder import DECODE_WORKERS, ClipEncoder
from .images import image_key, load_rgb, unreadable_file
from .models import ModelSpec, config_embed_dim
from .shards import COLUMNS, CacheFiller, EmbedResult, read_shard, shard_name, write_shard

SHARD_ROWS = 10_000
# Without GPUs, the encoder actors get this share of the cluster's CPUs, and as many decode tasks
# as there are actors share the rest (each task a process of its own, importing the package).
ENCODE_CPU_SHARE = 0.75


def source_paths(source, path_column: str | None = None) -> list[str]:
    """The image paths of a source, as absolute paths in order.

    ``source`` is a list of paths, a folder (every image below it, sorted, by the rule of
    :func:`~drml_widgets.data.folders.image_files`: linked folders followed, hidden entries
    skipped with a warning), a CSV or Parquet table with a path column (``path``, ``file``, ...
    or ``path_column``; relative paths are taken from the table's folder), a DataFrame with
    one, or an ``ImageDataset`` of files.

    Example:
        >>> source_paths(["a.png", "b.jpg"])[1] == os.path.abspath("b.jpg")
        True
    """
    root = Path.cwd()
    if getattr(source, "paths", None) is not None:  # an ImageDataset of files
        source = source.paths
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir():
            return [str(p) for p in image_files(path.resolve(), stacklevel=3)]
        if path.suffix.lower() not in (".csv", ".parquet", ".pq") or not path.is_file():
            raise InputError(f"{str(path)!r} is neither a folder nor a CSV or Parquet table of paths. Fix: pass a "
                             "folder of images, a table with a 'path' column, or a list of paths.")
        source, root = read_table(path), path.parent.resolve()
    if isinstance(source, pd.DataFrame):
        source = source[find_column(source, PATH_COLUMNS, path_column, "table", "a column of image paths")]
    if isinstance(source, pd.Series):
        source = source.tolist()
    paths = list(source)
    for i, p in enumerate(paths):
        if not isinstance(p, (str, os.PathLike)):
            raise InputError(f"Item {i} of the source is a {type(p).__name__}, not a path: {p!r:.80}. "
                             "Fix: embed_dataset takes image files; encode in-memory images with ClipEncoder.")
    return [os.path.abspath(root / Path(p).expanduser()) for p in paths]


def _decode(batch: pd.DataFrame) -> pd.DataFrame:
    """Ray task: each file's cache key and decoded RGB pixels, or the error that names it."""
    keys, pixels, heights, widths, errors = [], [], [], [], []
    for position, raw in zip(batch["position"].tolist(), batch["path"].tolist()):
        path = os.fsdecode(raw)  # paths travel as bytes: Arrow strings cannot hold a name that is not UTF-8
        key, rgb, error = b"", np.zeros((0, 0, 3), np.uint8), ""
        try:
            key = image_key(path, position)
            rgb = np.asarray(load_rgb(path, position))
        except ImageLoadError as exc:
            error = str(exc)
        keys.append(key)
        pixels.append(rgb.tobytes())
        heights.append(rgb.shape[0])
        widths.append(rgb.shape[1])
        errors.append(error)
    return batch.assign(key=keys, pixels=pixels, height=heights, width=widths, error=errors)


class _EncoderActor:
    """Ray actor: a :class:`ClipEncoder` that serves cached rows and encodes the others."""

    def __init__(self, model, pretrained, cache_root: str, batch_size: int, threads: int | None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.encoder = ClipEncoder(model, pretrained, cache_dir=None, batch_size=batch_size, progress=False)
        self.encoder.load()
        self.cache = EmbeddingCache(cache_root, self.encoder.spec.identity)
        self.dim = self.encoder.embed_dim

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = [i for i, error in enumerate(batch["error"]) if not error]
        found, missing = self.cache.get([bytes(batch["key"][i]) for i in ok])
        embeddings = np.zeros((len(batch["error"]), self.dim), np.float32)
        from_cache = np.zeros(len(batch["error"]), bool)
        for j, row in found.items():
            embeddings[ok[j]] = row
            from_cache[ok[j]] = True
        todo = [ok[j] for j in missing]
        if todo:
            images = [np.frombuffer(batch["pixels"][i], np.uint8).reshape(batch["height"][i], batch["width"][i], 3)
                      for i in todo]
            embeddings[todo] = self.encoder.encode_images(images)
        return {"shard": batch["shard"], "position": batch["position"], "path": batch["path"], "key": batch["key"],
                "embedding": embeddings, "from_cache": from_cache, "error": batch["error"]}


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(f"embed_dataset runs on Ray Data, which is not installed ({exc}). "
                          'Fix: pip install "drml-widgets[ray]".') from exc
    if not ray.is_initialized():
        ray.init()  # joins the cluster at $RAY_ADDRESS, else starts one on this machine
    return ray


@dataclass
class _Plan:
    """The shards of a run: their files, the rows still to encode and the rows already settled."""

    files: list[Path] = field(default_factory=list)
    todo: list[tuple[int, int, str]] = field(default_factory=list)  # (shard, position, path) for Ray
    rows: dict[int, list[dict]] = field(default_factory=dict)  # unwritten shard -> its rows so far
    expected: dict[int, int] = field(default_factory=dict)  # unwritten shard -> its number of rows
    skipped: list[dict] = field(default_factory=list)  # unreadable files: position, source, error
    reused_rows: int = 0


def current_keys(paths: list[str], begin: int = 0) -> list[bytes]:
    """Each file's content key as it is now (``b""`` for one that cannot be read), read by a few threads.

    Example:
        >>> current_keys(["no-such-file.png"])
        [b'']
    """
    def key(item: tuple[int, str]) -> bytes:
        try:
            return image_key(item[1], item[0])
        except ImageLoadError:
            return b""

    with ThreadPoolExecutor(DECODE_WORKERS) as pool:
        return list(pool.map(key, enumerate(paths, begin)))


def _plan(paths: list[str], out: Path, identity: str, shard_rows: int, on_error: str, dim: int | None,
          filler: CacheFiller) -> _Plan:
    """Cut the inputs into shards; reuse the checked ones written before (their rows go to the
    cache), and queue the rest."""
    plan = _Plan()
    for index, begin in enumerate(range(0, len(paths), shard_rows)):
        chunk = paths[begin: begin + shard_rows]
        file = out / shard_name(index, identity, chunk)
        plan.files.append(file)
        reused = read_shard(file, identity, chunk, current_keys(chunk, begin), dim) if file.exists() else None
        if reused is not None:
            read = reused["error"] == ""
            filler.add(reused.loc[read, "key"].tolist(), reused.loc[read, "embedding"].tolist())
            dim = dim or (len(reused.loc[read, "embedding"].iloc[0]) if read.any() else None)
            plan.skipped += [{"position": r.position, "source": r.path, "error": r.error}
                             for r in reused[~read].itertuples()]
            plan.reused_rows += int(read.sum())
            continue
        failed = []
        for position, path in enumerate(chunk, begin):
            try:
                os.stat(path)
            except OSError as exc:
                error = unreadable_file(path, position, exc)
                if on_error == "raise":
                    raise error from exc
                failed.append({"position": position, "path": escaped_name(path), "key": b"", "embedding": None, "error": str(error)})
                continue
            plan.todo.append((index, position, path))
        plan.rows[index], plan.expected[index] = failed, len(chunk)
    return plan


def _output_dir(out: Path) -> Path:
    """The shard folder, made and probed, or :class:`CacheNotWritableError` with the fix."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        os.close(os.open(out / ".probe.tmp", os.O_CREAT | os.O_WRONLY, 0o600))
        (out / ".probe.tmp").unlink()
    except OSError as exc:
        raise CacheNotWritableError(
            f"The output_dir {str(out)!r} cannot hold shards ({exc.strerror or exc}). Fix: pass output_dir= a "
            "writable folder (not an existing file), or leave it unset for the cache's own folder.") from exc
    return out


def embed_dataset(
    source,
    model: str | os.PathLike = "shapes",
    *,
    pretrained: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    shard_rows: int = SHARD_ROWS,
    num_actors: int | None = None,
    batch_size: int | None = None,
    on_error: str = "raise",
    path_column: str | None = None,
    progress: bool = True,
    on_shard: Callable[[Path], Any] | None = None,
) -> EmbedResult:
    """Embed image files on Ray Data and fill the embedding cache that ``ClipEncoder`` reads.

    ``source`` is a list of paths, a folder, a CSV/Parquet table or a DataFrame with a path
    column (see :func:`source_paths`). Ray tasks decode the files and an actor pool encodes them
    (``num_actors``: one per GPU, or half the CPUs; ``batch_size`` images a call, as
    ``ClipEncoder``'s default). Results land in Parquet shards of ``shard_rows`` inputs in
    ``output_dir`` (default: ``ray-shards/`` in the model's cache folder) and then in the cache
    under ``cache_dir`` (default: :func:`default_cache_dir`), so that afterwards
    ``ClipEncoder(model).encode_images(paths)`` runs no model. Shards already written are
    skipped: a killed run picks up where it stopped. ``on_shard(path)`` is called after each
    shard is written. An unreadable file raises :class:`ImageLoadError` naming it, or with
    ``on_error="skip"`` is listed in ``result.skipped``. Uses the Ray cluster already joined, or
    ``ray.init()`` (``$RAY_ADDRESS``, else a local one).

    Example (settings are checked before any model or Ray starts; a real run needs a cluster):
        >>> embed_dataset("photos/", "shapes", shard_rows=0)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: shard_rows must be a whole number of at least 1; got 0.
        >>> result = embed_dataset("photos/", "ViT-B-32", pretrained="openai")  # doctest: +SKIP
        >>> result.embeddings().shape  # doctest: +SKIP
        (120000, 512)
    """
    start = time.perf_counter()
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
    for name, value in (("shard_rows", shard_rows), ("num_actors", num_actors), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
            raise InputError(f"{name} must be a whole number of at least 1; got {value!r}.")
    encoder = ClipEncoder(model, pretrained, device="cpu", cache_dir=cache_dir or default_cache_dir())
    cache = encoder.cache  # the identity needs the weights' hash: hub weights download here
    paths = source_paths(source, path_column)
    if not paths:
        raise EmptyInputError(f"embed_dataset found no images in {source!r:.120}. Fix: pass image files, a folder "
                              f"holding images ({', '.join(sorted(IMAGE_SUFFIXES))}), or a table of paths.")
    out = _output_dir(Path(output_dir).expanduser() if output_dir is not None else cache.dir / "ray-shards")
    for tmp in out.glob(".*.tmp"):  # left by a killed run; a live writer keeps touching its own
        if tmp.stat().st_mtime < time.time() - STALE_TMP_SECONDS:
            tmp.unlink(missing_ok=True)

    identity, filler = identity_key(cache.identity), CacheFiller(cache)
    plan = _plan(paths, out, identity, shard_rows, on_error, cache.dim or config_embed_dim(encoder.spec), filler)
    written, counts = 0, {"cache": 0, "encoded": 0}

    def finish(index: int) -> None:
        nonlocal written
        rows = pd.DataFrame(plan.rows.pop(index), columns=COLUMNS + ["from_cache"])
        write_shard(out, plan.files[index].name, rows[COLUMNS], identity)
        new = (rows["error"] == "") & ~rows["from_cache"].eq(True)
        filler.add(rows.loc[new, "key"].tolist(), rows.loc[new, "embedding"].tolist())
        plan.skipped.extend({"position": r.position, "source": r.path, "error": r.error}
                            for r in rows[rows["error"] != ""].itertuples())
        written += 1
        if on_shard is not None:
            on_shard(plan.files[index])

    for index in [i for i, rows in plan.rows.items() if len(rows) == plan.expected[i]]:  # nothing for Ray
        finish(index)
    if plan.todo:
        options = dict(model=model, pretrained=pretrained, cache_root=str(cache.dir.parent))
        for row, from_cache in _encode_on_ray(plan.todo, encoder.spec, options, num_actors, batch_size,
                                              progress):
            if row["error"] and on_error == "raise":
                raise ImageLoadError(row["error"])
            # pandas (Arrow strings) cannot hold a name that is not UTF-8: rows keep it escaped, as shards do
            plan.rows[row["shard"]].append({**row, "path": escaped_name(row["path"]), "from_cache": from_cache})
            if not row["error"]:
                counts["cache" if from_cache else "encoded"] += 1
            if len(plan.rows[row["shard"]]) == plan.expected[row["shard"]]:
                finish(row["shard"])
    filler.flush()
    skipped = sorted(plan.skipped, key=lambda r: r["position"])
    if skipped and on_error == "skip":
        warnings.warn(f"Skipped {len(skipped)} of {len(paths)} images that could not be read (see result.skipped).",
                      stacklevel=2)
    return EmbedResult(out, plan.files, len(paths), plan.reused_rows + counts["cache"], counts["encoded"], written,
                       len(plan.files) - written, time.perf_counter() - start,
                       pd.DataFrame(skipped, columns=["position", "source", "error"]))


def _encode_on_ray(todo: list[tuple[int, int, str]], spec: ModelSpec, options: dict,
                   num_actors: int | None, batch_size: int | None, progress: bool):
    """Decode (Ray tasks) and encode (an actor pool) the queued files: yields ``(row, from_cache)``."""
    ray = _ray()
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1))
    batch = batch_size or default_batch_size("cuda" if gpus else "cpu", spec.image_size, spec.image_stream)
    frame = pd.DataFrame([(s, p, os.fsencode(path)) for s, p, path in todo], columns=["shard", "position", "path"])
    blocks = [frame.iloc[i: i + batch] for i in range(0, len(frame), batch)]
    # no more actors than batches: an actor without a batch to encode would only load the model
    actors = min(num_actors or (gpus if gpus else max(1, int(cpus) // 2)), len(blocks))
    actor_cpus = 1.0 if gpus else ENCODE_CPU_SHARE * cpus / actors
    decode_cpus = 1.0 if gpus else (1 - ENCODE_CPU_SHARE) * cpus / actors
    threads = None if gpus else max(1, round(actor_cpus))
    ds = (ray.data.from_pandas(blocks)
          .map_batches(_decode, batch_format="pandas", batch_size=None, num_cpus=decode_cpus)
          .map_batches(_EncoderActor, batch_format="numpy", batch_size=batch,
                       compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=1 if gpus else 0, num_cpus=actor_cpus,
                       fn_constructor_kwargs=dict(options, batch_size=batch, threads=threads)))
    context = ray.data.DataContext.get_current()
    shown, context.enable_progress_bars = context.enable_progress_bars, progress
    try:
        for result in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(result["position"])):
                error = str(result["error"][i])
                yield ({"shard": int(result["shard"][i]), "position": int(result["position"][i]),
                        "path": os.fsdecode(bytes(result["path"][i])), "key": bytes(result["key"][i]),
                        "embedding": None if error else result["embedding"][i], "error": error},
                       bool(result["from_cache"][i]))
    finally:
        context.enable_progress_bars = shown


