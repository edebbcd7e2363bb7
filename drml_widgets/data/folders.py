"""Image files: those below a folder, found by one rule for every loader (``load_images``,
``embed_dataset``), and decoded upright.

- Linked folders are followed, as torchvision's ``ImageFolder`` does, each real folder once: a
  link back up the tree is not walked again.
- Hidden files and folders (names starting with ``.``: ``.thumbs/``, ``._IMG_1.jpg``, ``.git``)
  are skipped, with a warning that counts them: they are a tool's leftovers, not the user's data.
- Files are found by suffix (:data:`IMAGE_SUFFIXES`, any case), in sorted order.

Every decoder in the package turns an image by its EXIF orientation (:func:`upright`), so a
phone photo is seen, encoded and shown the way its owner sees it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, ImageOps

ORIENTATION = 0x0112  # the EXIF tag
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def image_files(folder: str | os.PathLike, *, stacklevel: int = 2) -> list[Path]:
    """Every image file below ``folder``, sorted; hidden entries skipped with a warning
    (``stacklevel`` as for ``warnings.warn`` called here: 2 names the caller).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("b/2.png", "a/1.JPG", "a/notes.txt"):
        ...     (root / name).parent.mkdir(exist_ok=True)
        ...     _ = (root / name).write_bytes(b"")
        >>> [p.relative_to(root).as_posix() for p in image_files(root)]
        ['a/1.JPG', 'b/2.png']
    """
    root = Path(folder)
    found: list[Path] = []
    hidden: list[str] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:  # a link to a folder already walked (or to one above it)
            dirs[:] = []
            continue
        seen.add(real)
        hidden += [os.path.join(top, d) for d in dirs if d.startswith(".")]
        hidden += [os.path.join(top, f) for f in files if f.startswith(".")]
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(top) / f for f in files
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES]
    if hidden:
        example = os.path.relpath(sorted(hidden)[0], root)
        warnings.warn(f"Skipped {len(hidden)} hidden files or folders below {str(root)!r} (names starting with "
                      f"'.', e.g. {example!r}). Fix: rename them without the dot to load them.",
                      stacklevel=stacklevel)
    return sorted(found)


def escaped_name(path: str | os.PathLike) -> str:
    """A path fit to print and to store as text: bytes that are not UTF-8 shown as ``\\xe9``.

    Example:
        >>> escaped_name("photos/caf\\udce9.png")
        'photos/caf\\\\xe9.png'
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_text_name(path: str | os.PathLike) -> bool:
    """Whether a path's name is valid UTF-8 (a table, or Parquet, can hold it as text).

    Example:
        >>> is_text_name("cat.png"), is_text_name("caf\\udce9.png")
        (True, False)
    """
    return escaped_name(path) == os.fsdecode(path)


def upright(img: Image.Image) -> Image.Image:
    """An image as viewers show it: turned by its EXIF orientation tag (a phone's photo is stored
    sideways or upside down, and tagged), or the image itself when it has no such tag.

    Example:
        >>> img = Image.new("RGB", (4, 2))
        >>> img.getexif()[ORIENTATION] = 6  # stored turned: shown rotated by 90 degrees
        >>> upright(img).size
        (2, 4)
    """
    if img.getexif().get(ORIENTATION, 1) in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """Encoded image bytes (PNG, JPEG, ...) as an upright, fully decoded PIL image; raises
    ``OSError`` or ``ValueError`` when they are not an image.

    Example:
        >>> import io
        >>> out = io.BytesIO()
        >>> Image.new("RGB", (3, 2)).save(out, format="PNG")
        >>> decode_image(out.getvalue()).size
        (3, 2)
    """
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return upright(img)
