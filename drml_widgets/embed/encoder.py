"""One encoder over open_clip: real models, local checkpoints and the bundled shapes CLIP."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import EmptyInputError, ImageLoadError, InputError
from .backends import TORCH, Backend, BackendCheck, autocast_for, cache_identity, channels_last, first_batch
from .cache import EmbeddingCache, content_key, default_cache_dir
from .devices import DeviceChoice
from .images import ImageInput, as_image_list, batch_pixels, check_images, describe, image_key, load_rgb, stackable
from .models import ModelSpec, fetch_weights, load_open_clip, resolve_model
from .prefetch import prefetched
from .write_behind import WriteBehind

_DEFAULT = object()
# Below this many inputs to encode, a progress bar is more noise than help.
PROGRESS_MIN_ITEMS = 512
# Threads that decode and preprocess images while the model runs: PIL's decoders and resampling
# release the GIL, so a few threads keep ahead of the model without a process pool's copies.
DECODE_WORKERS = min(4, os.cpu_count() or 1)
# Batches prepared ahead of the one in the model: enough to hide a slow file, few enough to bound memory.
PREFETCH_BATCHES = 2
# An encode estimated (from its first batch) to take longer than this says so, and how to speed it up.
COST_WARNING_SECONDS = 30.0


class ClipEncoder(DeviceChoice):
    """Encode images and texts into CLIP's shared space as L2-normalised float32 arrays.

    ``model`` is ``"shapes"`` (the bundled offline model), an open_clip name with
    ``pretrained=`` a tag (``"openai"``) or a local checkpoint file, or an open_clip model
    folder. Weights load on first use; cached inputs never load or run the model. ``device``
    unset picks CUDA, else Apple MPS, else the CPU; one that is not available here raises
    :class:`DeviceError`. ``batch_size`` unset suits the device and the model's towers
    (:func:`~drml_widgets.embed.devices.default_batch_size`: on the CPU, batches whose activations
    stay in the cores' caches, 16 ViT-B-32 images; on a GPU 256 at 224 px, more for smaller inputs).
    ``backend="onnx"``/``"onnx-int8"`` (CPU, ``pip install "drml-widgets[fast]"``) runs ONNX Runtime
    once it agrees with torch fp32 on the first batch (:mod:`~drml_widgets.embed.backends`). On
    CUDA, torch runs with fp16 autocast.

    Example:
        >>> enc = ClipEncoder("shapes")
        >>> enc.encode_texts(["a small red square.", "a large blue triangle."]).shape
        (2, 64)
        >>> real = ClipEncoder("ViT-B-32", pretrained="openai")  # weights download on first use
        >>> real.is_loaded
        False
    """

    def __init__(
        self,
        model: str | os.PathLike = "shapes",
        pretrained: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = _DEFAULT,  # type: ignore[assignment]
        batch_size: int | None = None,
        progress: bool | None = None,
        backend: str = TORCH,
    ):
        self.spec: ModelSpec = resolve_model(model, pretrained)
        spec = self.spec
        DeviceChoice.__init__(self, device, batch_size, spec.image_size, spec.image_stream, spec.text_stream)
        self._backend = Backend(backend, "cpu" if backend == TORCH else self.device)  # torch runs on any device
        self.progress = progress
        self._cache_root = default_cache_dir() if cache_dir is _DEFAULT else cache_dir
        self._cache: EmbeddingCache | None = None
        if self._cache_root is not None and not self.spec.needs_download:
            self._cache = EmbeddingCache(self._cache_root, cache_identity(self.spec.identity, self.backend))  # a bad folder fails here, early
        self.last_skipped = pd.DataFrame(columns=["position", "source", "error"])
        self._loaded, self._channels_last = None, False

    @property
    def cache(self) -> EmbeddingCache | None:
        """The on-disk embedding cache of this model, or ``None`` with ``cache_dir=None``.

        It is keyed by the weights' SHA-256, so for hub weights not downloaded yet, asking for it
        downloads them: an embedding is only ever served for the very weights that made it.

        Example:
            >>> ClipEncoder("shapes", cache_dir=None).cache is None
            True
        """
        if self._cache is None and self._cache_root is not None:
            self.spec = fetch_weights(self.spec)
            self._cache = EmbeddingCache(self._cache_root, cache_identity(self.spec.identity, self.backend))
        return self._cache

    @property
    def backend(self) -> str:
        """The backend in use: the one asked for, or ``"torch"`` once a fast one failed its self-check.

        Example:
            >>> ClipEncoder("shapes").backend
            'torch'
        """
        return self._backend.name

    @property
    def backend_check(self) -> BackendCheck | None:
        """The fast backend's self-check on the first batch (``None`` before it, and for torch).

        Example:
            >>> ClipEncoder("shapes").backend_check is None
            True
        """
        return self._backend.check

    # -- model ---------------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        """Whether the weights are in memory (they load on the first cache miss).

        Example:
            >>> ClipEncoder("shapes").is_loaded
            False
        """
        return self._loaded is not None

    def load(self):
        """Load ``(model, preprocess, tokenizer)`` now instead of on first use.

        Example:
            >>> model, preprocess, tokenizer = ClipEncoder("shapes").load()
            >>> type(model).__name__
            'CLIP'
        """
        if self._loaded is None:
            self.spec = fetch_weights(self.spec)
            self._loaded = load_open_clip(self.spec, self.device)
            self._channels_last = channels_last(self._loaded[0], self.device)
        return self._loaded

    @property
    def model(self):
        """The underlying open_clip model (loads it).

        Example:
            >>> ClipEncoder("shapes").model.training
            False
        """
        return self.load()[0]

    @property
    def embed_dim(self) -> int:
        """Dimension of the shared embedding space.

        Example:
            >>> ClipEncoder("shapes").embed_dim
            64
        """
        return int(self.encode_texts(["a photo."]).shape[1])

    # -- encoding ------------------------------------------------------------------------
    def _run(
        self,
        keys: list[bytes],
        encode_batch: Callable[[list[int], list[Any]], tuple[list[int], np.ndarray]],
        what: str, prepare: Callable[[Any], Any] | None = None,
        sample: Callable[[list[int]], Any] | None = None, whole: bool = False,
    ) -> tuple[np.ndarray, list[int]]:
        """Fill cache misses batch by batch, in order; ``encode_batch`` returns the positions it managed.

        ``encode_batch(batch, inputs)`` gets the batch's positions and its inputs: with ``prepare``
        (position -> model input; ``whole``: batch -> its input), futures prepared by a thread pool
        up to :data:`PREFETCH_BATCHES` batches ahead of the model; without, the positions again.
        Rows reach the cache a few batches at a time, and at the end even of a call that fails; a
        cache that cannot be written (disk full) is left alone, with a warning (:class:`WriteBehind`).
        A fast backend not checked yet is checked first, on ``sample(missing)`` (up to a batch of them).
        """
        cache = self.cache
        rows, missing = cache.get(keys) if cache is not None else ({}, list(range(len(keys))))
        inputs = sample(missing) if missing and self._backend.pending else None
        if inputs is not None:  # (None when no input can be read: nothing is encoded, nothing to check)
            self._backend.check_first(what[:-1], inputs, self._torch_rows, self.load(), self._cache_root,
                                      self.spec.identity)
            if self._backend.name == TORCH and cache is not None:  # failed: fp32 rows go to fp32's cache
                self._cache = cache = EmbeddingCache(self._cache_root, self.spec.identity)
                rows, missing = cache.get(keys)
        if missing:
            self.load()  # here, before any worker thread could ask for the preprocessing
            n = self.text_batch_size if what == "texts" else self.batch_size
            batches = [missing[i: i + n] for i in range(0, len(missing), n)]
            bar = None
            if self.progress if self.progress is not None else len(missing) >= PROGRESS_MIN_ITEMS:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(missing), desc=f"encoding {what} ({self.spec.label})", unit=what[:-1])
            # A batch already in memory is made in this thread on the CPU: the model's threads fill every
            # core, and a worker beside them cost 10,000 shapes 8.2 s instead of 7.1 (files still gain).
            ahead = prepare is not None and not (whole and self.device.startswith("cpu"))
            pool = ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="drml-decode") if ahead else None
            writer = WriteBehind(cache, stacklevel=3)  # a warning of a full disk points at the user's call
            try:
                stream = prefetched(pool, prepare, batches, whole, PREFETCH_BATCHES) if prepare else ((b, b) for b in batches)
                first = True
                for batch, inputs in stream:  # not enumerate(): its spare tuple would keep a batch alive
                    start = time.perf_counter()
                    done, emb = encode_batch(batch, inputs)
                    if first:
                        per_item = (time.perf_counter() - start) / len(batch)
                        self._warn_cost(per_item, len(missing) - len(batch), len(missing), len(keys), what)
                        first = False
                    writer.add([keys[i] for i in done], emb)
                    rows.update(zip(done, emb))
                    del inputs  # the batch's decoded pixels go before the next batch is decoded
                    if bar is not None:
                        bar.update(len(batch))
            finally:
                if pool is not None:  # on an error, drop the batches decoded ahead
                    pool.shutdown(wait=True, cancel_futures=True)
                writer.close()  # what was encoded is kept, even when the call fails or is interrupted
                if bar is not None:
                    bar.close()
        order = sorted(rows)
        if not order:
            return np.empty((0, self.embed_dim), np.float32), order
        return np.stack([rows[i] for i in order]).astype(np.float32, copy=False), order

    def _warn_cost(self, per_item: float, remaining: int, missing: int, total: int, what: str) -> None:
        """Say what a long encode will cost, from its first batch, and how to pay less."""
        estimate = per_item * remaining
        if estimate <= COST_WARNING_SECONDS:
            return
        faster = ("A CUDA GPU is typically tens of times faster (torch picks it when available, or pass device='cuda'). "
                  if self.device.startswith("cpu") else "")
        kept = (f"Embeddings are cached in {str(self._cache.dir)!r}: only the first run pays this."
                if self._cache is not None else "With cache_dir=None nothing is kept: pass a cache folder to pay this once.")
        warnings.warn(
            f"Encoding {missing:,} {what} not yet cached (of {total:,}) with {self.spec.label} on {self.device}: "
            f"about {_duration(estimate)} more ({per_item * 1000:.0f} ms per {what[:-1]} on the first batch). "
            f"{faster}{kept}",
            stacklevel=4,
        )

    def _finish(self, features) -> np.ndarray:
        import torch.nn.functional as F

        return F.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32)

    def _torch_rows(self, kind: str, inputs) -> np.ndarray:
        """Unit rows of a batch of pixels (``kind="image"``) or tokens (``"text"``) by the torch model."""
        import torch

        layout = torch.channels_last if kind == "image" and self._channels_last else torch.preserve_format
        inputs, model = inputs.to(self.device, memory_format=layout), self.model
        with torch.inference_mode(), autocast_for(self.device):
            return self._finish(model.encode_image(inputs) if kind == "image" else model.encode_text(inputs))

    def encode_texts(self, texts: str | Sequence[str]) -> np.ndarray:
        """Encode texts to an ``(n, d)`` float32 array of unit rows, in input order.

        Example:
            >>> ClipEncoder("shapes").encode_texts("a green square.").shape
            (1, 64)
        """
        if isinstance(texts, str):
            texts = [texts]
        elif isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
            raise InputError(
                f"encode_texts takes a str or a list of str; got a {type(texts).__name__}: {texts!r:.80}. "
                "Fix: pass a string or a list of strings (decode bytes with .decode('utf-8'))."
            )
        texts = list(texts)
        if not texts:
            raise EmptyInputError("encode_texts got no texts; pass at least one string.")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InputError(
                    f"Text {i} is a {type(t).__name__}, not a str: {t!r:.80}. Fix: pass strings only, "
                    "e.g. drop the missing ones, decode bytes with .decode('utf-8'), or use str(x)."
                )
        keys = [content_key("text", t.encode("utf-8")) for t in texts]

        def tokens(batch: list[int]):
            return self.load()[2]([texts[i] for i in batch[: self.text_batch_size]])

        def encode_batch(batch: list[int], _inputs) -> tuple[list[int], np.ndarray]:
            return batch, self._backend.encode("text", tokens(batch), self._torch_rows)

        return self._run(keys, encode_batch, "texts", sample=tokens)[0]

    def encode_images(
        self, images: ImageInput | Sequence[ImageInput], on_error: str = "raise"
    ) -> np.ndarray:
        """Encode images (paths, PIL images, uint8 arrays or an NxHxWxC batch) to unit rows.

        Files are read once to key the cache, then decoded batch by batch by a few threads
        while the model runs on the batch before: memory holds a few batches, not the folder.
        An encode that will take long (over :data:`COST_WARNING_SECONDS`, estimated from its
        first batch) warns first, with the number of uncached images and the expected time.
        With ``on_error="skip"``, unreadable images are left out of the result, a warning says
        how many, and ``encoder.last_skipped`` lists them (position, source, error). If none
        can be read, the result is an empty ``(0, embed_dim)`` array.

        Example:
            >>> imgs = np.zeros((2, 64, 64, 3), np.uint8)
            >>> ClipEncoder("shapes").encode_images(imgs).shape
            (2, 64)
        """
        if on_error not in ("raise", "skip"):
            raise InputError(f"on_error must be 'raise' or 'skip'; got {on_error!r}.")
        items = as_image_list(images)
        if not items:
            raise EmptyInputError("encode_images got no images; pass at least one path, PIL image or array.")
        skipped: list[dict] = []

        def skip(position: int, exc: ImageLoadError) -> None:
            if on_error == "raise":
                raise exc
            skipped.append({"position": position, "source": describe(items[position]), "error": str(exc)})

        readable, keys = [], []
        for i, item in enumerate(items):
            try:
                keys.append(image_key(item, i))
                readable.append(i)
            except ImageLoadError as exc:
                skip(i, exc)

        def prepare(j: int):  # in a worker thread: decode and preprocess one image
            return self.load()[1](load_rgb(items[readable[j]], readable[j]))

        at_once = stackable([items[i] for i in readable], self.spec.image_size)  # in memory, at the model's size
        def prepare_batch(batch: list[int]):  # such a batch drawn and scaled at once, no PIL (in step with the model on the CPU)
            return batch_pixels([items[readable[j]] for j in batch], self.load()[1])

        def encode_batch(batch: list[int], inputs: list[Future]) -> tuple[list[int], np.ndarray]:
            if at_once:
                return batch, self._backend.encode("image", inputs[0].result(), self._torch_rows)
            done, pixels = [], []
            for j, future in zip(batch, inputs):  # files that hash fine can still fail to decode
                try:
                    pixels.append(future.result())
                    done.append(j)
                except ImageLoadError as exc:
                    skip(readable[j], exc)
            if not done:
                return done, np.empty((0, 0), np.float32)
            import torch  # only here: a call served from the cache never imports it

            return done, self._backend.encode("image", torch.stack(pixels), self._torch_rows)

        def sample(positions: list[int]):  # the batch size (and device) only when there is work
            return first_batch(prepare, self.batch_size, ImageLoadError, positions)

        result, _ = self._run(keys, encode_batch, "images", prepare_batch if at_once else prepare, sample, at_once)
        self.last_skipped = pd.DataFrame(
            sorted(skipped, key=lambda r: r["position"]), columns=["position", "source", "error"]
        )
        if skipped:
            empty = f"; none is left, so the result is an empty {result.shape} array" if not len(result) else ""
            warnings.warn(
                f"Skipped {len(skipped)} of {len(items)} images that could not be read "
                f"(see encoder.last_skipped){empty}.",
                stacklevel=2,
            )
        return result

    def check_images(self, images: ImageInput | Sequence[ImageInput]) -> pd.DataFrame:
        """Report which images can be read, without loading the model (see :func:`check_images`).

        Example:
            >>> ClipEncoder("shapes").check_images(["nope.png"])["readable"].tolist()
            [False]
        """
        return check_images(images)

    def __repr__(self) -> str:
        # the cache's root until the hub weights that name its folder are fetched
        cache = str(self._cache.dir if self._cache is not None else self._cache_root) if self._cache_root else None
        return (f"ClipEncoder({self.spec.label!r}, device={self.device!r}, loaded={self.is_loaded}, "
                f"cache={cache!r})")


def _duration(seconds: float) -> str:
    """A rough human duration: '45 s', '12 min', '2.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
