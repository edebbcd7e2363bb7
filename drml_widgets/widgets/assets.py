"""The built front end: one ES module per view in ``drml_widgets/static/`` and the package
stylesheet (``styles.css``), built from ``js/``; ``js/src/views.json`` lists the views.

Bundles are committed. Each starts with the SHA-256 of the sources it was built from
(``js/build.mjs`` writes it); :func:`sources_hash` recomputes that hash from a checkout so a
test can tell a stale bundle from a fresh one.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import BundleMissingError

STATIC = Path(__file__).resolve().parent.parent / "static"
JS_DIR = Path(__file__).resolve().parents[2] / "js"
HASHED = ("build.mjs", "package.json", "package-lock.json")  # besides every file under js/src
_BANNER = re.compile(r"^/\* drml-widgets bundle; sources sha256 ([0-9a-f]{64}) \*/")


@lru_cache(maxsize=None)
def bundle(name: str, ext: str = "js") -> str:
    """The text of one built file: a view's ES module, or the stylesheet (``"styles", "css"``).

    Example:
        >>> bundle("part").startswith("/* drml-widgets bundle")
        True
    """
    path = STATIC / f"{name}.{ext}"
    if not path.is_file():
        raise BundleMissingError(
            f"The widget bundle {path} is missing. Fix: build it with `npm ci && npm run build` in js/, "
            "or reinstall drml-widgets."
        )
    return path.read_text(encoding="utf-8")


def bundle_hash(name: str, ext: str = "js") -> str:
    """The sources hash written at the top of a built file.

    Example:
        >>> len(bundle_hash("gap_plot")) == len(bundle_hash("styles", "css")) == 64
        True
    """
    match = _BANNER.match(bundle(name, ext))
    if not match:
        raise BundleMissingError(f"Bundle {name!r} has no sources hash. Fix: rebuild it with `npm run build` in js/.")
    return match.group(1)


def sources_hash(js_dir: Path = JS_DIR) -> str:
    """SHA-256 over (relative path, NUL, bytes, NUL) of every front-end source, in path order;
    the same recipe as ``js/build.mjs``.

    Example:
        >>> len(sources_hash())
        64
    """
    src = js_dir / "src"
    if not src.is_dir():
        raise BundleMissingError(f"No front-end sources at {src}: this needs a checkout of the repository.")
    paths = sorted([p.relative_to(js_dir).as_posix() for p in src.rglob("*") if p.is_file()] + list(HASHED))
    digest = hashlib.sha256()
    for rel in paths:
        digest.update(rel.encode() + b"\0")
        digest.update((js_dir / rel).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def manifest() -> dict:
    """Views, sizes and sources hash of the built bundles (``static/manifest.json``).

    Example:
        >>> sorted(manifest())
        ['bytes', 'sources_sha256', 'views']
        >>> "gap_plot" in manifest()["views"]
        True
    """
    return json.loads((STATIC / "manifest.json").read_text())
