"""The ONNX Runtime backends on the shapes CLIP: exported once and reused, close to torch fp32,
self-checked (falling back to fp32 when they disagree), kept apart in the cache, rebuilt when damaged,
and named with their fix when the ``fast`` extra is missing. The extra is in ``dev``: nothing skips."""

import json
import os
import shutil
import sys
import warnings

import numpy as np
import pytest
import torch

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.embed import onnx_backend
from drml_widgets.embed.backends import MIN_COSINE, check_backend
from drml_widgets.embed.cache import identity_key
from drml_widgets.embed.models import file_sha256, resolve_model
from drml_widgets.errors import InputError, MissingExtraError

TEXTS = ["a small red square.", "a large blue circle.", "a green triangle.", "a photo of a shape."]


@pytest.fixture(scope="module")
def images():
    return load_shapes_world(n=100, seed=3).images[:96]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A cache root whose shapes CLIP towers are exported once (fp32 and int8) for this module."""
    root = tmp_path_factory.mktemp("exported")
    for backend in ("onnx", "onnx-int8"):
        enc = ClipEncoder("shapes", cache_dir=root, backend=backend)
        enc.encode_texts(TEXTS)
        assert enc.backend == backend, enc.backend_check
    return root


def exports_of(root):
    return root / identity_key(resolve_model("shapes").identity) / "onnx"


@pytest.fixture
def root(exported, tmp_path):
    """A fresh embedding cache that already holds the module's exports (exporting costs seconds)."""
    shutil.copytree(exports_of(exported), exports_of(tmp_path))
    return tmp_path


def fp32(things, kind="images"):
    enc = ClipEncoder("shapes", cache_dir=None)
    return enc.encode_images(things) if kind == "images" else enc.encode_texts(things)


def test_default_backend_is_the_plain_torch_path(images):
    model, preprocess, _ = ClipEncoder("shapes").load()
    from PIL import Image

    pixels = torch.stack([preprocess(Image.fromarray(im)) for im in images[:8]])
    with torch.inference_mode():
        expected = torch.nn.functional.normalize(model.encode_image(pixels).float(), dim=-1).numpy()
    enc = ClipEncoder("shapes", cache_dir=None)
    assert enc.backend == "torch" and enc.backend_check is None
    np.testing.assert_array_equal(enc.encode_images(images[:8]), expected)


def test_export_is_written_once_and_reused(exported, monkeypatch):
    folder = exports_of(exported)
    names = sorted(p.name for p in folder.iterdir())
    assert sorted(n.split(".")[0] for n in names) == ["image", "image", "image-int8", "image-int8", "text", "text"]
    for manifest in folder.glob("*.json"):
        record = json.loads(manifest.read_text())
        assert file_sha256(folder / record["file"]) == record["sha256"]
    assert not list(folder.glob(".*.tmp"))

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    enc = ClipEncoder("shapes", cache_dir=exported, backend="onnx")
    enc.encode_texts(["a yellow star."])
    assert enc.backend == "onnx" and enc.backend_check.passed
    assert sorted(p.name for p in folder.iterdir()) == names


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_embeddings_match_torch_fp32(root, images, backend):
    enc = ClipEncoder("shapes", cache_dir=root, backend=backend)
    got_images, got_texts = enc.encode_images(images), enc.encode_texts(TEXTS)
    assert enc.backend == backend
    check = enc.backend_check
    assert check.passed and check.min_cosine >= MIN_COSINE and check.agreement == 1.0
    assert check.images == min(len(images), enc.batch_size) == 64  # the self-check reads the first batch
    image_cosines = (got_images * fp32(images)).sum(1)
    text_cosines = (got_texts * fp32(TEXTS, "texts")).sum(1)
    assert image_cosines.min() >= MIN_COSINE
    # Texts are fp32 under both: int8 text rows reordered near-tied slices of the demo's table.
    assert text_cosines.min() > 0.99999
    if backend == "onnx":
        assert image_cosines.min() > 0.99999
    else:  # int8 really ran on the image tower: not fp32's numbers
        assert image_cosines.min() < 0.99999


def test_self_check_falls_back_to_fp32_with_the_figures(root, images, monkeypatch):
    real = onnx_backend.OnnxTowers.encode

    def corrupted(self, kind, inputs):
        rows = real(self, kind, inputs)
        rows = rows + np.random.default_rng(0).normal(0, 0.05, rows.shape).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    monkeypatch.setattr(onnx_backend.OnnxTowers, "encode", corrupted)
    enc = ClipEncoder("shapes", cache_dir=root, backend="onnx")
    fast_cache = enc.cache
    with pytest.warns(UserWarning, match=r"backend='onnx' is not used.*min cosine to fp32 0\.\d+ \(needs 0\.999\).*top text"):
        got = enc.encode_images(images)
    assert enc.backend == "torch"
    check = enc.backend_check
    assert not check.passed and check.used == "torch" and check.min_cosine < MIN_COSINE
    np.testing.assert_array_equal(got, fp32(images))
    # the fp32 rows went to fp32's cache, none to the fast backend's
    assert len(fast_cache) == 0 and enc.cache.dir != fast_cache.dir and len(enc.cache) == len(images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode_texts(TEXTS)  # checked once per encoder: no second warning


def test_failed_export_falls_back_to_fp32(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(torch.onnx, "export", broken)
    enc = ClipEncoder("shapes", cache_dir=tmp_path, backend="onnx")
    with pytest.warns(UserWarning, match="could not be exported.*unsupported operator"):
        got = enc.encode_texts(TEXTS)
    assert enc.backend == "torch"
    np.testing.assert_array_equal(got, fp32(TEXTS, "texts"))
    assert not list(exports_of(tmp_path).glob("*"))  # nothing half-written left


def test_cache_keeps_backends_apart(root, images):
    rows = {}
    for backend in ("onnx-int8", "torch", "onnx"):
        enc = ClipEncoder("shapes", cache_dir=root, backend=backend)
        rows[backend] = enc.encode_images(images[:16])
        rows[backend, "dir"] = enc.cache.dir
    assert len({rows[b, "dir"] for b in ("onnx-int8", "torch", "onnx")}) == 3
    # a warm torch encoder serves fp32 rows, never the int8 rows cached first under the same model
    again = ClipEncoder("shapes", cache_dir=root).encode_images(images[:16])
    np.testing.assert_array_equal(again, rows["torch"])
    np.testing.assert_array_equal(again, fp32(images[:16]))
    assert not np.array_equal(rows["onnx-int8"], rows["torch"])
    warm = ClipEncoder("shapes", cache_dir=root, backend="onnx-int8")
    np.testing.assert_array_equal(warm.encode_images(images[:16]), rows["onnx-int8"])
    assert not warm.is_loaded and warm.backend_check is None  # all cached: nothing to run or check


def test_corrupt_export_is_rebuilt(root):
    folder = exports_of(root)
    record = json.loads((folder / "image.json").read_text())
    damaged = folder / record["file"]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    stale, live = folder / ".export.killed.tmp", folder / ".export.running.tmp"  # left by a killed export / another one
    for tmp in (stale, live):
        tmp.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    enc = ClipEncoder("shapes", cache_dir=root, backend="onnx")
    with pytest.warns(UserWarning, match="does not match its SHA-256.*exported again"):
        enc.encode_texts(TEXTS)
    assert enc.backend == "onnx"
    rebuilt = json.loads((folder / "image.json").read_text())
    assert file_sha256(folder / rebuilt["file"]) == rebuilt["sha256"]
    assert not damaged.exists() or file_sha256(damaged) == rebuilt["sha256"]
    assert not stale.exists() and live.exists()


def test_export_of_another_model_or_format_is_not_trusted(root):
    folder = exports_of(root)
    identity = resolve_model("shapes").identity
    assert onnx_backend.verified_export(folder, "text", identity) is not None
    with pytest.warns(UserWarning, match="exported from another model"):
        assert onnx_backend.verified_export(folder, "text", {**identity, "weights_sha256": "0" * 64}) is None
    manifest = folder / "text.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 0}))
    with pytest.warns(UserWarning, match="another version"):
        assert onnx_backend.verified_export(folder, "text", identity) is None
    manifest.write_text("{not json")
    with pytest.warns(UserWarning, match="manifest cannot be read"):
        assert onnx_backend.verified_export(folder, "text", identity) is None


def test_missing_extra_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(MissingExtraError, match=r'Fix: pip install "drml-widgets\[fast\]"'):
        ClipEncoder("shapes", backend="onnx-int8")
    assert ClipEncoder("shapes").backend == "torch"  # the default needs nothing more


def test_backend_argument_is_checked():
    with pytest.raises(InputError, match="Unknown backend 'tensorrt'"):
        ClipEncoder("shapes", backend="tensorrt")
    with pytest.raises(InputError, match="runs on the CPU"):
        check_backend("onnx", "cuda:0")
