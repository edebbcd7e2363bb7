"""JPEG thumbnails of a session's images, addressed by row number only.

The browser names a row; the kernel looks it up in its own images (an array, PIL images or
paths the Python side supplied). Nothing the browser sends is ever used as a path.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..data.folders import upright
from ..errors import ThumbnailError

MAX_PER_REQUEST = 48


def checked_rows(rows, n: int, limit: int = MAX_PER_REQUEST) -> list[int]:
    """Row numbers from a front-end message, validated: integers in ``[0, n)``, at most ``limit``.

    Example:
        >>> checked_rows([3, 1], n=10)
        [3, 1]
        >>> checked_rows(["../etc/passwd"], n=10)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.ThumbnailError: Row '../etc/passwd' is not a row number; ask for images by row (0 to 9).
    """
    if not isinstance(rows, (list, tuple)):
        raise ThumbnailError(f"Expected a list of row numbers, got {type(rows).__name__}.")
    if len(rows) > limit:
        raise ThumbnailError(f"{len(rows)} rows asked for; at most {limit} per request.")
    out = []
    for row in rows:
        if isinstance(row, bool) or not isinstance(row, int):
            raise ThumbnailError(f"Row {row!r} is not a row number; ask for images by row (0 to {n - 1}).")
        if not 0 <= row < n:
            raise ThumbnailError(f"Row {row} is out of range: there are {n} images (0 to {n - 1}).")
        out.append(row)
    return out


def to_pil(image) -> Image.Image:
    """An RGB PIL image from a uint8 array, a PIL image or a path held by the kernel, turned
    upright by its EXIF orientation as the encoder sees it.

    Example:
        >>> to_pil(np.zeros((4, 4, 3), np.uint8)).size
        (4, 4)
    """
    if isinstance(image, Image.Image):
        return upright(image).convert("RGB")
    if isinstance(image, (str, Path)):
        with Image.open(image) as im:
            return upright(im).convert("RGB")
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return Image.fromarray(array).convert("RGB")


def jpeg(image, size: int = 96, quality: int = 85) -> bytes:
    """JPEG bytes of one image, fitted into ``size`` x ``size`` pixels.

    Example:
        >>> jpeg(np.full((64, 64, 3), 200, np.uint8))[:2]
        b'\\xff\\xd8'
    """
    im = to_pil(image)
    im.thumbnail((size, size), Image.Resampling.LANCZOS if max(im.size) > size else Image.Resampling.NEAREST)
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def thumbnails(images: Sequence | None, rows, size: int = 96) -> tuple[list[int], list[bytes]]:
    """Validated rows and their JPEG bytes.

    Example:
        >>> rows, jpegs = thumbnails(np.zeros((3, 8, 8, 3), np.uint8), [2, 0])
        >>> rows, len(jpegs)
        ([2, 0], 2)
    """
    if images is None:
        raise ThumbnailError("This session has no images to show (session.images is None). "
                             "Fix: pass images= (an array, PIL images or file paths) when creating the Session.")
    rows = checked_rows(rows, len(images))
    return rows, [jpeg(images[r], size) for r in rows]


def thumbnail_strip(images, rows, title: str = "", size: int = 64, limit: int = MAX_PER_REQUEST):
    """A row of thumbnails of ``images[rows]`` (the first ``limit``) under a title, as ipywidgets:
    a quick look at the images of a failure mode, a cluster or a slice.

    Example:
        >>> strip = thumbnail_strip(np.zeros((5, 8, 8, 3), np.uint8), [0, 3], "two of five images")
        >>> len(strip.children[1].children), strip.children[0].value
        (2, '<b>two of five images</b> (2 images)')
    """
    import html

    import ipywidgets as w

    rows = [int(r) for r in rows]
    _, jpegs = thumbnails(images, rows[:limit], size)
    more = f", the first {limit} shown" if len(rows) > limit else ""
    head = w.HTML(f"<b>{html.escape(title)}</b> ({len(rows)} images{more})")
    pictures = [w.Image(value=j, format="jpeg", width=size, height=size) for j in jpegs]
    return w.VBox([head, w.HBox(pictures, layout=w.Layout(flex_flow="row wrap"))])
