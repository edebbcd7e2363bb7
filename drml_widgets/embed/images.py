"""Image inputs: file paths, PIL images and uint8 arrays, turned into RGB PIL images and content keys.

Mixed sizes and modes are fine: every image is converted to RGB and the model's preprocessing
resizes it. Inputs that cannot be images (a float array, two channels, an unreadable file) are
named in the error, with the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ..data.folders import upright
from ..errors import EmptyInputError, ImageLoadError
from .cache import content_key
from .identity import KeyedImage

# Both encoders skip with on_error="skip"; each says where the skipped files are listed.
_SKIP_HINT = ("pass on_error='skip' to skip unreadable images (listed in encoder.last_skipped, "
              "or in result.skipped for embed_dataset)")

ImageInput = Any  # str | os.PathLike | PIL.Image.Image | np.ndarray


def as_image_list(images: ImageInput | Sequence[ImageInput]) -> list[ImageInput]:
    """Normalise the accepted containers to a list: a 4-D (or 3-D grey) array becomes its rows.

    Example:
        >>> len(as_image_list(np.zeros((5, 8, 8, 3), np.uint8)))
        5
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 4 or (images.ndim == 3 and images.shape[-1] not in (1, 3, 4)):
            return list(images)
        return [images]
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, pd.Series):
        return images.tolist()
    return list(images)


def describe(item: ImageInput) -> str:
    """A short human name for an input, used in errors and reports.

    Example:
        >>> describe(np.zeros((2, 3), np.uint8))
        '<array uint8 (2, 3)>'
    """
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    if isinstance(item, Image.Image):
        return f"<PIL {item.mode} {item.size[0]}x{item.size[1]}>"
    if isinstance(item, np.ndarray):
        return f"<array {item.dtype} {item.shape}>"
    return f"<{type(item).__name__}>"


def _array_to_rgb(array: np.ndarray, position: int) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageLoadError(
            f"Image {position} is an array of dtype {array.dtype}; images must be uint8 (0-255). "
            "Fix: convert it, e.g. (x * 255).round().clip(0, 255).astype(np.uint8) for floats in [0, 1]."
        )
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    if array.ndim == 3 and array.shape[-1] == 4:
        return array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 3:
        return array
    raise ImageLoadError(
        f"Image {position} has shape {array.shape}, which is not an image. "
        "Fix: pass HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA) uint8 arrays, or an NxHxWx3 batch."
    )


def image_key(item: ImageInput, position: int) -> bytes:
    """The cache key of one input: file bytes for paths, RGB pixels for images and arrays, what
    made it for a :class:`~drml_widgets.embed.identity.KeyedImage` (whose pixels are not drawn).

    Example:
        >>> len(image_key(np.zeros((2, 2, 3), np.uint8), 0))
        16
    """
    if isinstance(item, KeyedImage):
        return item.key
    if isinstance(item, (str, os.PathLike)):
        try:
            return content_key("file", Path(item).read_bytes())
        except OSError as exc:
            raise unreadable_file(item, position, exc) from exc
    rgb = to_rgb_array(item, position)
    return content_key("pixels", f"{rgb.shape}".encode() + rgb.tobytes())


def unreadable_file(path: str | os.PathLike, position: int, exc: OSError) -> ImageLoadError:
    """The error for a file that cannot be read at all (missing, a folder, no permission).

    Example:
        >>> str(unreadable_file("gone.png", 3, FileNotFoundError(2, "No such file or directory")))[:50]
        "Cannot read image 3 at 'gone.png': No such file or"
    """
    return ImageLoadError(
        f"Cannot read image {position} at {str(path)!r}: {exc.strerror or exc}. "
        f"Fix: check the path, or {_SKIP_HINT}."
    )


def as_rgb(img: Image.Image) -> Image.Image:
    """An RGB copy of a PIL image, turned upright by its EXIF orientation (as viewers show it),
    with 16-bit, 32-bit and float greys scaled to 8 bits first.

    ``convert("RGB")`` alone clips such images: every value above 255 becomes white.

    Example:
        >>> deep = Image.fromarray(np.full((2, 2), 65535, np.uint16))
        >>> deep.mode, np.asarray(as_rgb(deep))[0, 0].tolist()
        ('I;16', [255, 255, 255])
    """
    img = upright(img)
    if img.mode.startswith("I;16"):
        # The bit depth is known, so 0..65535 maps onto 0..255 exactly (65535 / 255 = 257).
        grey = np.asarray(img, np.float64) / 257
    elif img.mode in ("I", "F"):
        # 32-bit ints and floats carry no nominal range (a TIFF may hold 0..1, 0..4095 or
        # anything), so the image's own min..max is stretched to 0..255; a flat image is black.
        x = np.asarray(img, np.float64)
        lo, hi = x.min(), x.max()
        grey = (x - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(x)
    else:
        return img.convert("RGB")
    return Image.fromarray(np.round(grey).astype(np.uint8)).convert("RGB")


def to_rgb_array(item: ImageInput, position: int) -> np.ndarray:
    """An in-memory image (PIL, array, or a :class:`~drml_widgets.embed.identity.KeyedImage`,
    drawn now) as an HxWx3 uint8 array.

    Example:
        >>> to_rgb_array(np.zeros((4, 5), np.uint8), 0).shape
        (4, 5, 3)
    """
    if isinstance(item, KeyedImage):
        item = item.pixels()
    if isinstance(item, Image.Image):
        return np.asarray(as_rgb(item))
    if isinstance(item, np.ndarray):
        return np.ascontiguousarray(_array_to_rgb(item, position))
    raise ImageLoadError(
        f"Image {position} is a {type(item).__name__}; expected a file path, a PIL image or a uint8 array."
    )


def open_file(path: str | os.PathLike, position: int) -> Image.Image:
    """Decode an image file completely, or raise :class:`ImageLoadError` naming it and the fix.

    Example:
        >>> open_file("missing.png", 0)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.ImageLoadError: Cannot read image 0 at 'missing.png': ...
    """
    try:
        with Image.open(path) as img:
            img.load()
            return img
    # Pillow refuses images over twice MAX_IMAGE_PIXELS and warns above it; a warning filter
    # set to "error" turns that warning into an exception too.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(
            f"Image {position} at {str(path)!r} has too many pixels to decode safely: {exc} "
            f"(PIL.Image.MAX_IMAGE_PIXELS is {Image.MAX_IMAGE_PIXELS}). Fix: if you trust the file, "
            "raise the limit before encoding, e.g. PIL.Image.MAX_IMAGE_PIXELS = 500_000_000 "
            f"(None turns the check off), shrink the image, or {_SKIP_HINT}."
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageLoadError(
            f"Cannot read image {position} at {str(path)!r}: {exc}. "
            f"Fix: remove or replace the file, or {_SKIP_HINT}."
        ) from exc


def load_rgb(item: ImageInput, position: int) -> Image.Image:
    """Open any accepted input as an RGB PIL image, or raise :class:`ImageLoadError` naming it.

    Example:
        >>> load_rgb(np.zeros((4, 5, 3), np.uint8), 0).size
        (5, 4)
    """
    if isinstance(item, (str, os.PathLike)):
        return as_rgb(open_file(item, position))
    return Image.fromarray(to_rgb_array(item, position))


def stackable(items: Sequence[ImageInput], side: int | None) -> bool:
    """Whether every item is an in-memory ``side`` x ``side`` RGB uint8 image (an array, or a
    :class:`~drml_widgets.embed.identity.KeyedImage` of an array-like source of such images), told
    without drawing any: such a batch is drawn at once by :func:`batch_pixels`.

    Example:
        >>> stackable([np.zeros((64, 64, 3), np.uint8)], 64), stackable(["a.png"], 64)
        (True, False)
    """
    def fits(shape, dtype) -> bool:
        return tuple(shape) == (side, side, 3) and dtype == np.uint8

    return side is not None and all(
        fits(item.shape, item.dtype) if isinstance(item, np.ndarray)
        else isinstance(item, KeyedImage) and fits(getattr(item.source, "shape", (0,))[1:], getattr(item.source, "dtype", None))
        for item in items)


def batch_pixels(items: Sequence[ImageInput], preprocess):
    """The model input of images that are :func:`stackable`, as one tensor: keyed images of one
    source are drawn in one call (a shapes world renders a batch of rows together), then scaled by
    :func:`plain_tensor` at once where it can, else image by image through ``preprocess``.

    Example:
        >>> from torchvision import transforms as T
        >>> batch_pixels([np.zeros((2, 2, 3), np.uint8)] * 3, T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])).shape
        torch.Size([3, 3, 2, 2])
    """
    import torch

    keyed = all(isinstance(item, KeyedImage) for item in items) and len({id(item.source) for item in items}) == 1
    images = (np.asarray(items[0].source[[item.index for item in items]]) if keyed and items
              else np.stack([to_rgb_array(item, i) for i, item in enumerate(items)]))
    pixels = plain_tensor(images, preprocess)
    return pixels if pixels is not None else torch.stack([preprocess(Image.fromarray(image)) for image in images])


def plain_tensor(images: np.ndarray, preprocess):
    """The model input of a ``(n, H, W, 3)`` uint8 batch, made for the whole batch at once, when at
    this size ``preprocess`` (a torchvision ``Compose``) only scales to [0, 1] and normalises: its
    resize and crop already hold and its conversion is to RGB. The very numbers image by image
    through PIL would give; ``None`` when the preprocessing would do anything else.

    Example:
        >>> from torchvision import transforms as T
        >>> steps = T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])
        >>> plain_tensor(np.zeros((2, 8, 8, 3), np.uint8), steps).shape
        torch.Size([2, 3, 8, 8])
        >>> plain_tensor(np.zeros((2, 9, 9, 3), np.uint8), steps) is None
        True
    """
    import torch
    from torchvision import transforms as T
    from torchvision.transforms import functional as F

    h, w = images.shape[1:3]
    steps = list(getattr(preprocess, "transforms", ()))
    if len(steps) < 2 or not isinstance(steps[-2], T.ToTensor) or not isinstance(steps[-1], T.Normalize):
        return None
    for step in steps[:-2]:  # each must leave an RGB image of this size as it is
        if isinstance(step, T.Resize):
            size = [step.size] if isinstance(step.size, int) else list(step.size)
            same = step.max_size is None and size in ([min(h, w)], [h, w])
        elif isinstance(step, T.CenterCrop):
            same = list(step.size) == [h, w]
        else:  # open_clip's conversions to RGB: MaybeConvertMode("RGB") or _convert_to_rgb
            same = (type(step).__name__ == "MaybeConvertMode" and getattr(step, "mode", None) == "RGB") or \
                getattr(step, "__name__", None) == "_convert_to_rgb"
        if not same:
            return None
    # as ToTensor then Normalize do to one image (channels first, to float, over 255, minus the mean,
    # over the deviation), in place on the batch's own tensor
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    return F.normalize(pixels.to(torch.get_default_dtype()).div_(255), steps[-1].mean, steps[-1].std, inplace=True)


def check_images(images: ImageInput | Sequence[ImageInput]) -> pd.DataFrame:
    """Try to open every image and report, without any model: one row per input.

    Columns: ``source``, ``readable``, ``width``, ``height``, ``mode``, ``error``.

    Example:
        >>> report = check_images([np.zeros((8, 8, 3), np.uint8), "missing.png"])
        >>> report["readable"].tolist()
        [True, False]
    """
    items = as_image_list(images)
    if not items:
        raise EmptyInputError("check_images got no images; pass at least one path, PIL image or array.")
    rows = []
    for i, item in enumerate(items):
        row = {"source": describe(item), "readable": True, "width": None, "height": None,
               "mode": None, "error": ""}
        try:
            if isinstance(item, (str, os.PathLike)):
                img = open_file(item, i)
                row.update(width=img.size[0], height=img.size[1], mode=img.mode)
            else:
                rgb = to_rgb_array(item, i)
                row.update(width=rgb.shape[1], height=rgb.shape[0],
                           mode=item.mode if isinstance(item, Image.Image) else "array")
        except ImageLoadError as exc:
            row.update(readable=False, error=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)
