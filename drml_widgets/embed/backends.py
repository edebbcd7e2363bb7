"""Which engine runs the towers: torch (the default, fp16 autocast on CUDA) or ONNX Runtime on the CPU.

A fast backend (``"onnx"``, ``"onnx-int8"``, see :mod:`.onnx_backend`) is trusted only after it
agrees with torch fp32 on the user's own data: the first batch it would encode is encoded both
ways, with a fixed probe set for the other tower, and the backend is kept only when every
embedding's cosine to fp32 is at least :data:`MIN_COSINE` and every image ranks the same text
first (up to near ties: see :data:`TIE`). Otherwise the encoder warns with the figures and goes on
in torch fp32.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError

TORCH = "torch"
BACKENDS = (TORCH, "onnx", "onnx-int8")
# Below this cosine to fp32 an embedding is not the same embedding (int8 gives about 0.9998).
MIN_COSINE = 0.999
# Two texts whose fp32 similarities to an image differ by less than this (one logit at CLIP's scale
# of 100) are a near tie: int8 moves a similarity by about as much, so a swap there is noise.
TIE = 0.01
# The texts every self-check ranks images against (and encodes both ways), beside the user's own.
PROBE_TEXTS = (
    "a photo of a dog.", "a photo of a cat.", "a photo of a car.", "a photo of a person.", "a photo of a bird.",
    "a red square.", "a blue circle.", "a green triangle.", "a small yellow star.", "a large purple shape.",
    "a drawing of a house.", "a close-up photo of a flower.", "a blurry photo.", "a dark photo.",
    "a bright, colourful pattern.", "a black and white photo.",
)
PROBE_IMAGES = 8

# Unit rows of one tower (kind "image" or "text") for a batch of pixels (N, 3, H, W) or tokens (N, L)
Encode = Callable[[str, object], np.ndarray]


def check_backend(backend: str, device: str) -> str:
    """``backend`` if it can run on ``device`` here, else an error that says what to pass.

    A fast backend needs the ``fast`` extra (:class:`~drml_widgets.errors.DeviceError` names the
    ``pip install``) and the CPU: on a GPU, torch with fp16 autocast is the fast path.

    Example:
        >>> check_backend("torch", "cpu")
        'torch'
        >>> check_backend("onnx", "cuda")
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: backend='onnx' runs on the CPU, not on 'cuda'. ...
    """
    if backend not in BACKENDS:
        raise InputError(f"Unknown backend {backend!r}. Fix: use one of {', '.join(map(repr, BACKENDS))}.")
    if backend != TORCH:
        if not device.startswith("cpu"):
            raise InputError(f"backend={backend!r} runs on the CPU, not on {device!r}. Fix: pass device='cpu', "
                             "or backend='torch' (fp16 autocast on a GPU).")
        from .onnx_backend import require_onnx

        require_onnx(backend)
    return backend


def cache_identity(identity: dict, backend: str) -> dict:
    """The identity that keys the embedding cache: the model's, plus the backend when not torch.

    torch keeps the model's identity as it was, so its cached embeddings stay valid; each fast
    backend gets a folder of its own, so fp32 and int8 rows never mix.

    Example:
        >>> cache_identity({"architecture": "x"}, "torch")
        {'architecture': 'x'}
        >>> cache_identity({"architecture": "x"}, "onnx-int8")
        {'architecture': 'x', 'backend': 'onnx-int8'}
    """
    return identity if backend == TORCH else {**identity, "backend": backend}


def autocast_for(device: str):
    """fp16 autocast on CUDA (tensor cores, half the memory traffic); nothing anywhere else.

    Example:
        >>> type(autocast_for("cpu")).__name__
        'nullcontext'
    """
    if not device.startswith("cuda"):
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16)


def channels_last(model, device: str) -> bool:
    """Put a convolutional image tower in channels-last layout on CUDA; whether it was.

    cuDNN's fp16 convolutions run fastest channels-last; a ViT has one patch convolution, where
    the layout only adds a copy, so it is left alone, as is every model off CUDA.

    Example:
        >>> from drml_widgets.embed import ClipEncoder
        >>> channels_last(ClipEncoder("shapes").model, "cpu")
        False
    """
    from open_clip.transformer import VisionTransformer

    if not device.startswith("cuda") or isinstance(getattr(model, "visual", None), VisionTransformer):
        return False
    import torch

    model.visual.to(memory_format=torch.channels_last)
    return True


def probe_images(n: int = PROBE_IMAGES) -> list:
    """A fixed set of small, varied RGB images (blocks of colour) for checking a backend's image tower.

    Example:
        >>> [im.size for im in probe_images(2)]
        [(96, 96), (96, 96)]
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, size=(n, 6, 6, 3), dtype=np.uint8)
    return [Image.fromarray(b).resize((96, 96), Image.NEAREST) for b in blocks]


def probe_inputs(preprocess, tokenizer) -> tuple:
    """Model inputs ``(pixels, tokens)`` of the probe images and texts, for one model's preprocessing.

    Example:
        >>> from drml_widgets.embed import ClipEncoder
        >>> pixels, tokens = probe_inputs(*ClipEncoder("shapes").load()[1:])
        >>> tuple(pixels.shape), tuple(tokens.shape)
        ((8, 3, 64, 64), (16, 24))
    """
    import torch

    return torch.stack([preprocess(im) for im in probe_images()]), tokenizer(list(PROBE_TEXTS))


def first_batch(prepare: Callable[[int], object], size: int, unreadable: type[Exception], positions: list[int]):
    """The first ``size`` of ``positions`` that ``prepare`` turns into pixels, stacked (``None`` if none can).

    Example:
        >>> import torch
        >>> first_batch(lambda i: torch.zeros(3, 2, 2), 2, ValueError, [0, 1, 2]).shape
        torch.Size([2, 3, 2, 2])
    """
    import torch

    pixels = []
    for position in positions:
        with contextlib.suppress(unreadable):
            pixels.append(prepare(position))
        if len(pixels) == size:
            break
    return torch.stack(pixels) if pixels else None


@dataclass(frozen=True)
class BackendCheck:
    """What the self-check of a fast backend found on the first batch (see :func:`compare`).

    ``min_cosine`` is the lowest cosine of any embedding to its torch fp32 twin (the user's batch
    and the probes); ``agreement`` the share of images whose top text under the backend is fp32's
    top text or a near tie of it (:data:`TIE`), ``top1`` the share whose top text is exactly the same.
    """

    requested: str
    used: str
    min_cosine: float
    agreement: float
    top1: float
    images: int
    texts: int
    reason: str = ""

    @property
    def passed(self) -> bool:
        """Whether the fast backend is used.

        Example:
            >>> BackendCheck("onnx", "onnx", 1.0, 1.0, 1.0, 8, 16).passed
            True
        """
        return self.used == self.requested

    def __str__(self) -> str:
        figures = (f"min cosine to fp32 {self.min_cosine:.5f} (needs {MIN_COSINE}), the same top text up to "
                   f"near ties for {self.agreement:.0%} of {self.images} images against {self.texts} texts "
                   f"(exactly the same for {self.top1:.0%})")
        return f"{self.reason}: {figures}" if self.reason else figures


def compare(requested: str, images: tuple[np.ndarray, np.ndarray], texts: tuple[np.ndarray, np.ndarray]) -> BackendCheck:
    """Judge a fast backend from ``(fp32, fast)`` unit rows of the same images and texts.

    The ranking compares each image's top text under fp32 (fp32 images against fp32 texts) and
    under the backend: they agree when the backend's choice scores within :data:`TIE` of fp32's
    top under fp32. The cosines are those of every row to its fp32 twin.

    Example:
        >>> rows = np.eye(3, dtype=np.float32)
        >>> compare("onnx", (rows, rows), (rows, rows)).passed
        True
        >>> compare("onnx", (rows, rows), (rows, rows[::-1])).agreement
        0.3333333333333333
    """
    cosine = min(float(np.min(np.sum(ref * fast, axis=1))) for ref, fast in (images, texts))
    scores = images[0] @ texts[0].T
    top_ref, top_fast = np.argmax(scores, axis=1), np.argmax(images[1] @ texts[1].T, axis=1)
    rows = np.arange(len(scores))
    agreement = float(np.mean(scores[rows, top_ref] - scores[rows, top_fast] <= TIE))
    ok = cosine >= MIN_COSINE and agreement == 1.0
    return BackendCheck(requested, requested if ok else TORCH, cosine, agreement, float(np.mean(top_ref == top_fast)),
                        len(images[0]), len(texts[0]))


class Backend:
    """The backend an encoder asked for, the fast towers once built, and their self-check.

    ``name`` is the backend in use: the one asked for, until its self-check fails (then
    ``"torch"``). ``check`` is ``None`` until the first batch has been checked.

    Example:
        >>> Backend("torch", "cpu").name, Backend("torch", "cpu").pending
        ('torch', False)
    """

    def __init__(self, requested: str, device: str):
        self.requested = check_backend(requested, device)
        self.check: BackendCheck | None = None
        self._fast = None

    @property
    def name(self) -> str:
        """The backend in use.

        Example:
            >>> Backend("torch", "cpu").name
            'torch'
        """
        return self.check.used if self.check is not None else self.requested

    @property
    def pending(self) -> bool:
        """Whether a fast backend still waits for its self-check (encode through :meth:`run_check`).

        Example:
            >>> Backend("torch", "cpu").pending
            False
        """
        return self.requested != TORCH and self.check is None

    def encode(self, kind: str, inputs, reference: Encode) -> np.ndarray:
        """Unit rows of a batch (``kind`` ``"image"`` or ``"text"``): by the fast towers once checked,
        else by ``reference`` (torch).

        Example:
            >>> Backend("torch", "cpu").encode("text", None, lambda kind, x: np.ones((1, 2)))
            array([[1., 1.]])
        """
        if self._fast is not None and self.name != TORCH:
            return self._fast.encode(kind, inputs)
        return reference(kind, inputs)

    def run_check(self, kind: str, inputs, reference: Encode, build: Callable[[], object],
                  probes: tuple[object, object]) -> BackendCheck:
        """Build the fast towers (``build()``) and check them against ``reference`` on this batch.

        ``probes`` is ``(pixels, tokens)`` of the probe images and texts. A failed check, or towers
        that cannot be built, warns with the reason and leaves the encoder on torch fp32.

        Example:
            >>> unit = lambda kind, x: np.asarray(x, np.float32) / np.linalg.norm(x, axis=1, keepdims=True)
            >>> class Towers:  # a "fast" backend that is a slightly noisy copy of the reference
            ...     def encode(self, kind, x): return unit(kind, np.asarray(x) + 1e-4)
            >>> b = Backend("torch", "cpu")
            >>> b.requested = "onnx"  # without needing the extra here
            >>> eye = np.eye(4)
            >>> b.run_check("image", eye, unit, Towers, (eye, eye)).passed, b.name
            (True, 'onnx')
        """
        try:
            self._fast = build()
        except Exception as exc:  # exporters fail on unusual towers with assorted error types
            self.check = BackendCheck(self.requested, TORCH, float("nan"), float("nan"), float("nan"), 0, 0,
                                      f"the towers could not be exported ({type(exc).__name__}: {exc})")
        else:
            self.check = self._compare(kind, inputs, reference, probes)
        if not self.check.passed:
            self._fast = None
            warnings.warn(f"backend={self.requested!r} is not used; encoding in torch fp32 instead. The self-check "
                          f"on the first batch: {self.check} (encoder.backend_check has the figures).", stacklevel=5)
        return self.check

    def check_first(self, kind: str, inputs, reference: Encode, loaded: tuple, root, identity: dict) -> BackendCheck:
        """:meth:`run_check` for an encoder: the towers of ``loaded`` (``(model, preprocess, tokenizer)``),
        exported beside the cache in ``root`` (see :meth:`folder`) once per model ``identity``.

        Example:
            >>> import torch
            >>> from drml_widgets.embed import ClipEncoder, default_cache_dir
            >>> enc, b = ClipEncoder("shapes"), Backend("onnx", "cpu")
            >>> model, _, tokenizer = enc.load()
            >>> def fp32(kind, x):
            ...     with torch.inference_mode():
            ...         return torch.nn.functional.normalize(getattr(model, f"encode_{kind}")(x), dim=-1).numpy()
            >>> tokens = tokenizer(["a red square.", "a red circle."])
            >>> b.check_first("text", tokens, fp32, enc.load(), default_cache_dir(), enc.spec.identity).passed
            True
        """
        probes = probe_inputs(*loaded[1:])
        folder = self.folder(root, identity)
        return self.run_check(kind, inputs, reference, lambda: self.build(loaded, probes, folder, identity), probes)

    def folder(self, root, identity: dict):
        """Where the exports go: beside the model's embedding cache, or for ``root=None`` a
        temporary folder that lives as long as this backend.

        Example:
            >>> backend = Backend("torch", "cpu")
            >>> backend.folder(None, {}).is_dir()
            True
        """
        if root is not None:
            from .onnx_backend import export_folder

            return export_folder(root, identity)
        if not hasattr(self, "_scratch"):
            self._scratch = tempfile.TemporaryDirectory(prefix="drml-onnx-")
        return Path(self._scratch.name)

    def build(self, loaded: tuple, probes: tuple, folder, identity: dict) -> object:
        """The fast towers of ``loaded`` (``(model, preprocess, tokenizer)``), exported in ``folder`` once
        per model ``identity``.

        Example:
            >>> from drml_widgets.embed import ClipEncoder, default_cache_dir
            >>> enc, b = ClipEncoder("shapes"), Backend("onnx", "cpu")
            >>> folder = b.folder(default_cache_dir(), enc.spec.identity)  # shared by this module's examples
            >>> towers = b.build(enc.load(), probe_inputs(*enc.load()[1:]), folder, enc.spec.identity)
            >>> sorted(towers.files)
            ['image', 'text']
        """
        from .onnx_backend import OnnxTowers

        return OnnxTowers.build(loaded[0], probes, folder, identity, int8=self.requested == "onnx-int8")

    def _compare(self, kind: str, inputs, reference: Encode, probes: tuple[object, object]) -> BackendCheck:
        probe_pixels, probe_tokens = probes

        def both(k, x):
            return reference(k, x), self._fast.encode(k, x)

        texts = both("text", probe_tokens)
        if kind == "image":
            return compare(self.requested, both("image", inputs), texts)
        # the user's texts are ranked too, beside the probes: they are the prompts in use
        texts = tuple(np.concatenate(pair) for pair in zip(texts, both("text", inputs)))
        return compare(self.requested, both("image", probe_pixels), texts)
