"""CLIP's towers on ONNX Runtime (``pip install "drml-widgets[fast]"``): exported once, checked on every load.

Each tower (``image``, ``text``; ``image-int8`` for ONNX Runtime's dynamic int8 quantisation of the
image tower's MatMuls, per output channel) is one ``.onnx`` file in an ``onnx/`` folder beside the model's
embedding cache, named after its SHA-256, with a manifest (``image-int8.json``) that records the
model identity it was exported from and that hash. Both are written to temporary files and renamed into place, so a
reader sees a whole file or none; a file whose manifest is missing, names another model or
another format, or whose bytes no longer hash to the manifest's, is exported again, never run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingExtraError
from .cache import STALE_TMP_SECONDS, write_atomically
from .models import file_sha256

FIX = 'pip install "drml-widgets[fast]"'
# Bump when the export changes (inputs, opset, quantisation): older files are then rebuilt.
EXPORT_FORMAT = 1
INPUT, OUTPUT = "input", "output"
TOWERS = {"image": "encode_image", "text": "encode_text"}


def require_onnx(backend: str = "onnx") -> None:
    """Raise :class:`MissingExtraError` naming the ``pip install`` when the ``fast`` extra is missing.

    The packages are looked up, not imported (that takes seconds, and a warm cache needs none).

    Example:
        >>> require_onnx("onnx") is None  # the extra is installed here
        True
    """
    # onnxruntime runs the towers, onnxscript is what torch's exporter translates through, and
    # the int8 quantiser reads and writes graphs with onnx
    missing = [name for name in ("onnxruntime", "onnxscript", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"backend={backend!r} needs {' and '.join(missing)}, not installed here. "
                          f"Fix: {FIX}, or use backend='torch'.")


def _plain(identity: dict) -> dict:
    """The identity as JSON gives it back, so a stored one compares equal to a fresh one."""
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def verified_export(folder: Path, name: str, identity: dict) -> Path | None:
    """The export ``name`` (``"image"``, ``"image-int8"``) in ``folder`` if it is whole and of this model.

    ``None`` when there is none, or it cannot be trusted (a warning then says why and that it is
    exported again).

    Example:
        >>> verified_export(Path(tempfile.mkdtemp()), "image", {"model": "demo"}) is None
        True
    """
    manifest = folder / f"{name}.json"
    try:
        record = json.loads(manifest.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return _distrust(manifest, f"its manifest cannot be read ({exc})")
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        return _distrust(manifest, "it was written by another version of drml-widgets")
    if record.get("identity") != _plain(identity):
        return _distrust(manifest, "it was exported from another model")
    path = folder / str(record.get("file", ""))
    if path.parent != folder or not path.is_file():
        return _distrust(manifest, f"its file {path.name!r} is missing")
    if file_sha256(path) != record.get("sha256"):
        return _distrust(manifest, f"{path.name} does not match its SHA-256 (damaged or truncated)")
    return path


def _distrust(manifest: Path, why: str) -> None:
    warnings.warn(f"The ONNX export {manifest.stem!r} in {str(manifest.parent)!r} is not used: {why}. "
                  "It is exported again.", stacklevel=4)
    return None


def _export_tower(model, tower: str, example, path: str) -> None:
    """torch's exporter (torch.export + onnxscript), with the batch dimension left free."""
    class Tower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = model

        def forward(self, x):
            return getattr(self.clip, TOWERS[tower])(x)

    with warnings.catch_warnings():
        # the exporter's notes on its own internals, not on this model
        warnings.simplefilter("ignore", (UserWarning, DeprecationWarning, FutureWarning))
        torch.onnx.export(Tower().eval(), (example,), path, input_names=[INPUT], output_names=[OUTPUT],
                          dynamo=True, external_data=False, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))


class _NoPreprocessHint(logging.Filter):
    """ONNX Runtime's quantiser logs advice to the root logger on every call; it is not the user's business."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _quantize(source: str, path: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    hint = _NoPreprocessHint()
    logging.getLogger().addFilter(hint)
    try:
        # one scale per output column: as fast as one per matrix here, and it halves the error that
        # reordered the shapes demo's slice table and took ViT-B-32's text tower under 0.999
        quantize_dynamic(source, path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True)
    finally:
        logging.getLogger().removeFilter(hint)


def _tmp(folder: Path) -> str:
    cutoff = time.time() - STALE_TMP_SECONDS
    for old in folder.glob(".export.*.tmp"):  # a killed export's leftovers (hundreds of MB for a ViT)
        with contextlib.suppress(FileNotFoundError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    fd, tmp = tempfile.mkstemp(prefix=".export.", suffix=".tmp", dir=folder)
    os.close(fd)
    return tmp


def export(model, tower: str, example, folder: str | os.PathLike, identity: dict, int8: bool = False) -> Path:
    """The ONNX file of one tower of ``model``: the verified export in ``folder``, else a new one.

    ``example`` is a batch of model inputs (two or more rows) that fixes every dimension but the
    batch. With ``int8``, an fp32 export already there is quantised instead of exporting again.

    Example:
        >>> from drml_widgets.embed import ClipEncoder
        >>> enc, folder = ClipEncoder("shapes"), Path(tempfile.mkdtemp())
        >>> tokens = enc.load()[2](["a red square.", "a blue circle."])
        >>> path = export(enc.model, "text", tokens, folder, enc.spec.identity)
        >>> export(enc.model, "text", tokens, folder, enc.spec.identity) == path  # reused
        True
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{tower}-int8" if int8 else tower
    found = verified_export(folder, name, identity)
    if found is not None:
        return found
    manifest = folder / f"{name}.json"
    previous = _previous_file(manifest)
    made = []
    try:
        source = verified_export(folder, tower, identity) if int8 else None
        if source is None:
            made.append(_tmp(folder))
            _export_tower(model, tower, example, made[-1])
            source = made[-1]
        if int8:
            made.append(_tmp(folder))
            _quantize(str(source), made[-1])
        sha = file_sha256(made[-1])
        path = folder / f"{name}.{sha[:16]}.onnx"
        os.replace(made.pop(), path)
        record = {"format": EXPORT_FORMAT, "identity": _plain(identity), "file": path.name, "sha256": sha}
        write_atomically(folder, lambda f: f.write(json.dumps(record, indent=2).encode()), lambda tmp: manifest.name)
    finally:
        for tmp in made:
            Path(tmp).unlink(missing_ok=True)
    if previous is not None and previous != path:
        previous.unlink(missing_ok=True)
    return path


def _previous_file(manifest: Path) -> Path | None:
    """The file an old manifest named, to delete once its replacement is in place."""
    try:
        name = json.loads(manifest.read_text()).get("file")
    except (OSError, ValueError, AttributeError):
        return None
    return manifest.parent / name if isinstance(name, str) and "/" not in name and name.endswith(".onnx") else None


class OnnxTowers:
    """The image and text towers on ONNX Runtime's CPU provider, giving unit rows like the encoder.

    Example:
        >>> from drml_widgets.embed import ClipEncoder, default_cache_dir
        >>> enc = ClipEncoder("shapes")
        >>> model, _, tokenizer = enc.load()
        >>> examples = (torch.zeros(2, 3, 64, 64), tokenizer(["a red square.", "a blue circle."]))
        >>> folder = export_folder(default_cache_dir(), enc.spec.identity)  # shared by this module's examples
        >>> towers = OnnxTowers.build(model, examples, folder, enc.spec.identity)
        >>> rows = towers.encode("text", tokenizer(["a red square."]))
        >>> rows.shape, round(float(np.linalg.norm(rows)), 4)
        ((1, 64), 1.0)
    """

    def __init__(self, image: str | os.PathLike, text: str | os.PathLike):
        import onnxruntime as ort

        self.files = {"image": Path(image), "text": Path(text)}
        self.sessions = {kind: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                         for kind, path in self.files.items()}

    @classmethod
    def build(cls, model, examples: tuple, folder: str | os.PathLike, identity: dict,
              int8: bool = False) -> OnnxTowers:
        """Export (or reuse) both towers of ``model`` in ``folder`` and open them.

        ``examples`` is ``(pixels, tokens)``, a batch of two or more for each tower (see :func:`export`).

        Example:
            >>> from drml_widgets.embed import ClipEncoder, default_cache_dir
            >>> enc = ClipEncoder("shapes")
            >>> model, _, tokenizer = enc.load()
            >>> examples = (torch.zeros(2, 3, 64, 64), tokenizer(["a red square.", "a blue circle."]))
            >>> folder = export_folder(default_cache_dir(), enc.spec.identity)
            >>> towers = OnnxTowers.build(model, examples, folder, enc.spec.identity, int8=True)  # quantises the fp32 files
            >>> sorted(path.name.split(".")[0] for path in towers.files.values())
            ['image-int8', 'text']
        """
        pixels, tokens = examples
        # The text tower stays fp32: prompts are few, and int8 text rows moved near-tied slices.
        return cls(export(model, "image", pixels, folder, identity, int8),
                   export(model, "text", tokens, folder, identity))

    def encode(self, kind: str, inputs) -> np.ndarray:
        """Unit float32 rows for a batch of pixels (``kind="image"``) or tokens (``"text"``).

        Example:
            >>> from drml_widgets.embed import ClipEncoder
            >>> enc = ClipEncoder("shapes", backend="onnx")
            >>> rows = enc.encode_texts(["a red square.", "a blue circle."])  # exports, checks, then runs ONNX
            >>> enc.backend, rows.shape
            ('onnx', (2, 64))
        """
        array = inputs.numpy() if hasattr(inputs, "numpy") else np.asarray(inputs)
        out = self.sessions[kind].run(None, {INPUT: array})[0].astype(np.float32, copy=False)
        # as torch's F.normalize: divide by the norm, kept off zero
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def export_folder(root: str | os.PathLike, identity: dict) -> Path:
    """Where a model's exports live: ``onnx/`` in its embedding cache folder.

    Example:
        >>> export_folder("/tmp/cache", {"model": "demo"}).name
        'onnx'
    """
    from .cache import identity_key

    return Path(root).expanduser() / identity_key(identity) / "onnx"

