"""Choosing the torch device: the best one available, or the one asked for if it is there."""

from __future__ import annotations

import math

from ..errors import DeviceError, InputError

_UNSET = "leave device unset (the best available is chosen)"


def _backend(kind: str):
    import torch

    return torch.backends.mps if kind == "mps" else getattr(torch, kind, None)


def resolve_device(device: str | None = None) -> str:
    """The device to run on: ``device`` if torch can use it here, else the best available.

    Unset picks CUDA when available, else Apple MPS, else the CPU. A device that is not
    available here (``"cuda"`` without a GPU, ``"mps"`` off a Mac, a misspelt name) raises
    :class:`DeviceError` before any model is loaded.

    Example:
        >>> resolve_device("cpu")
        'cpu'
        >>> resolve_device("gpu")
        Traceback (most recent call last):
        ...
        drml_widgets.errors.DeviceError: Unknown device 'gpu'. ...
    """
    import torch

    if device is None:
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(
            f"Unknown device {device!r}. Fix: use 'cpu', 'cuda' (or 'cuda:1', ...) or 'mps', or {_UNSET}."
        ) from exc
    if parsed.type == "cpu":
        return str(device)
    backend = _backend(parsed.type)
    if backend is None or not hasattr(backend, "is_available"):
        raise DeviceError(f"Device {device!r} is not supported here. Fix: use device='cpu', or {_UNSET}.")
    if not backend.is_available():
        name = {"cuda": "CUDA", "mps": "Apple MPS"}.get(parsed.type, parsed.type)
        why = " (no NVIDIA GPU or driver, or a CPU-only torch build)" if parsed.type == "cuda" else ""
        raise DeviceError(
            f"device={device!r}, but no {name} device is visible to torch{why}. "
            f"Fix: use device='cpu', or {_UNSET}."
        )
    count = getattr(backend, "device_count", None)
    if parsed.index is not None and count is not None and parsed.index >= count():
        raise DeviceError(
            f"device={device!r}, but torch sees only {count()} {parsed.type} device(s), numbered from 0. "
            f"Fix: use an index below {count()}, or {_UNSET}."
        )
    return str(device)


# Images per batch at 224 px when a tower's size is unknown: 64 on the CPU, and a GPU needs
# more to fill its units.
BATCH_AT_224 = {"cpu": 64, "gpu": 256}
BATCH_LIMITS = (8, 1024)
# A CPU batch whose residual stream holds about this many floats (2 MB; its MLP activations four
# times that) stays in the cores' caches. Measured on 2 cores, 2 MB L2 each, bits unchanged:
# ViT-B-32 images peak at 16 (1.24x the 64 used before), ViT-B-16 at 4, the shapes CLIP's
# 65-token images at 32-64 (1.8x its 512 before) and its texts at 64-128.
CPU_BATCH_FLOATS = 1 << 19


def default_batch_size(device: str, image_size: int | None = None, stream: int | None = None) -> int:
    """The batch size used when none is given, from the device and the tower's size.

    On the CPU, with ``stream`` known (the floats in one item's residual stream, tokens x
    width: :func:`~drml_widgets.embed.models.stream_sizes`), the power of two nearest to
    :data:`CPU_BATCH_FLOATS` / ``stream``, so a batch stays in the cores' caches. Otherwise from
    the input side: 64 on the CPU and 256 on CUDA or MPS for 224-px inputs, scaled by
    ``(224 / image_size) ** 2`` (a ViT's work per image grows with its area) and rounded down to
    a power of two. Always within 8..1024; an unknown size counts as 224.

    Example:
        >>> default_batch_size("cpu", 224), default_batch_size("cuda:0", 224), default_batch_size("cpu", 64)
        (64, 256, 512)
        >>> default_batch_size("cpu", 224, stream=50 * 768)  # ViT-B-32's images
        16
    """
    low, high = BATCH_LIMITS
    on_cpu = device.split(":")[0] == "cpu"
    if on_cpu and stream:
        return max(low, min(high, 1 << max(0, round(math.log2(CPU_BATCH_FLOATS / stream)))))
    base = BATCH_AT_224["cpu" if on_cpu else "gpu"]
    scaled = base * (224 / (image_size or 224)) ** 2
    return max(low, min(high, 1 << max(0, int(scaled).bit_length() - 1)))


class DeviceChoice:
    """An encoder's device and batch size: checked now when given, else chosen when first asked for.

    Choosing an unset device imports torch (about a second), which a start served entirely from
    the embedding cache never needs; a device asked for is checked at once, before any work.

    Example:
        >>> choice = DeviceChoice(None, None, 64)
        >>> choice._device is None, choice.batch_size == default_batch_size(choice.device, 64)
        (True, True)
    """

    def __init__(self, device: str | None, batch_size: int | None, image_size: int | None,
                 image_stream: int | None = None, text_stream: int | None = None):
        self._device = None if device is None else resolve_device(device)
        self._batch_size = None if batch_size is None else int(batch_size)
        self._asked = self._batch_size is not None
        self._image_size, self._streams = image_size, (image_stream, text_stream)
        if self._batch_size is not None and self._batch_size < 1:
            raise InputError(f"batch_size must be at least 1; got {batch_size}. "
                             "Fix: pass batch_size=64, say, or leave it unset to have it chosen.")

    @property
    def device(self) -> str:
        """The device asked for, else the best available (see :func:`resolve_device`).

        Example:
            >>> DeviceChoice("cpu", None, 224).device
            'cpu'
        """
        if self._device is None:
            self._device = resolve_device(None)
        return self._device

    @property
    def batch_size(self) -> int:
        """Images per batch: as asked for, else :func:`default_batch_size` for the device and tower.

        Example:
            >>> DeviceChoice("cpu", None, 224).batch_size, DeviceChoice(None, 3, 224).batch_size
            (64, 3)
            >>> DeviceChoice("cpu", None, 224, image_stream=50 * 768).batch_size
            16
        """
        if self._batch_size is None:
            self._batch_size = default_batch_size(self.device, self._image_size, self._streams[0])
        return self._batch_size

    @property
    def text_batch_size(self) -> int:
        """Texts per batch: the batch size asked for, else the default for the device and text tower.

        Example:
            >>> DeviceChoice("cpu", None, 224, text_stream=77 * 512).text_batch_size
            16
            >>> DeviceChoice("cpu", 3, 224, text_stream=77 * 512).text_batch_size
            3
        """
        if self._asked:
            return self.batch_size
        return default_batch_size(self.device, self._image_size, self._streams[1])
