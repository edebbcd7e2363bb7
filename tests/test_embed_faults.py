"""Faults of the embed layer, each turned into an error or warning that names it and the fix:
damaged cache shards, a full disk, decompression bombs, 16-bit images, bad checkpoints,
missing devices and texts of the wrong type. Everything is built in tmp_path; nothing downloads."""

import copy
import errno
import json
import os
import shutil
import struct
import time
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from drml_widgets import ClipEncoder
from drml_widgets.errors import ImageLoadError
from drml_widgets.embed import cache as cache_module
from drml_widgets.embed.cache import EmbeddingCache, content_key
from drml_widgets.embed.checkpoints import SHAPES_MODEL_DIR, write_model_dir
from drml_widgets.embed.images import check_images, load_rgb
from drml_widgets.errors import CacheNotWritableError, CheckpointError, DeviceError, InputError

TEXTS = ["small red square.", "large blue triangle.", "a green square in the upper left."]
WEIGHTS = "open_clip_model.safetensors"


def no_model(encoder):
    def explode(*_, **__):
        raise AssertionError("the model was loaded")

    encoder.load = explode
    return encoder


# -- cache ------------------------------------------------------------------------------------

def shard_file(cache_dir):
    """The cache file holding the embedding rows."""
    return max(cache_dir.glob("*.npy"), key=lambda p: p.stat().st_size)


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt_header(path):
    data = bytearray(path.read_bytes())
    data[10:40] = b"x" * 30  # inside the .npy header's dict
    path.write_bytes(bytes(data))


def flip_data_bytes(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) - 40, len(data) - 4, 4):  # the last rows: float32 values
        data[i + 3] ^= 0x7F
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, corrupt_header, flip_data_bytes])
def test_a_damaged_shard_is_quarantined_and_its_entries_recomputed(tmp_path, encoder, damage):
    reference = encoder.encode_texts(TEXTS)
    ClipEncoder("shapes", cache_dir=tmp_path).encode_texts(TEXTS)
    cache_dir = ClipEncoder("shapes", cache_dir=tmp_path).cache.dir
    shard = shard_file(cache_dir)
    damage(shard)
    damaged = shard.read_bytes()

    with pytest.warns(UserWarning, match=f"{shard.name}.*moved to .*quarantine"):
        again = ClipEncoder("shapes", cache_dir=tmp_path).encode_texts(TEXTS)
    assert np.allclose(again, reference, atol=1e-6)
    assert (cache_dir / "quarantine" / shard.name).read_bytes() == damaged
    # Shards are named by their checksum, so the recomputed one takes the damaged one's name.
    assert shard_file(cache_dir).read_bytes() != damaged
    # The recomputed entries are cached again, and serve the next process without the model.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(no_model(ClipEncoder("shapes", cache_dir=tmp_path)).encode_texts(TEXTS), again)


def test_a_shard_without_checksum_is_set_aside_not_read(tmp_path, rng):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    keys = [content_key("text", b"a"), content_key("text", b"b")]
    # The layout of earlier versions: keys and rows in two files, no checksum.
    np.save(cache.dir / "0123.keys.npy", np.frombuffer(b"".join(keys), np.uint8).reshape(2, 16))
    np.save(cache.dir / "0123.emb.npy", rng.normal(size=(2, 4)).astype(np.float32))
    with pytest.warns(UserWarning, match="0123.keys.npy has no checksum"):
        rows, missing = EmbeddingCache(tmp_path, {"model": "m"}).get(keys)
    assert rows == {} and missing == [0, 1]
    assert sorted(p.name for p in (cache.dir / "quarantine").iterdir()) == ["0123.emb.npy", "0123.keys.npy"]


def test_orphaned_temporary_files_are_removed_live_ones_kept(tmp_path):
    cache = EmbeddingCache(tmp_path, {"model": "m"})
    orphan, live = cache.dir / ".shard.killed.tmp", cache.dir / ".shard.writing.tmp"
    orphan.write_bytes(b"\x93NUMPY half a shard")
    live.write_bytes(b"\x93NUMPY being written")
    hour_ago = time.time() - 3600
    os.utime(orphan, (hour_ago, hour_ago))
    EmbeddingCache(tmp_path, {"model": "m"})
    assert not orphan.exists() and live.exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_a_full_disk_returns_the_embeddings_uncached(tmp_path, monkeypatch, encoder, code):
    reference = encoder.encode_texts(TEXTS)
    real_save = np.save

    def full(file, *args, **kwargs):
        real_save(file, *args, **kwargs)  # part of it lands, as on a real full disk
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(cache_module.np, "save", full)
    enc = ClipEncoder("shapes", cache_dir=tmp_path, batch_size=1)
    with pytest.warns(UserWarning, match="disk is full.*cache_dir=None.*returned but not cached") as caught:
        out = enc.encode_texts(TEXTS)
    assert len(caught) == 1  # one warning, not one per batch
    assert np.allclose(out, reference, atol=1e-6)
    assert len(enc.cache) == 0 and not list(enc.cache.dir.glob("*.tmp"))
    with pytest.raises(CacheNotWritableError, match=os.strerror(code)):
        enc.cache.put([content_key("text", b"x")], reference[:1])


def test_other_write_errors_are_not_hidden(tmp_path, monkeypatch):
    def broken(*_, **__):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cache_module.np, "save", broken)
    with pytest.raises(OSError, match="Input/output error"):
        EmbeddingCache(tmp_path, {"model": "m"}).put([content_key("text", b"x")], np.ones((1, 4), np.float32))


# -- images -----------------------------------------------------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb(path, side=20_000):
    """A valid black 1-bit PNG of side x side pixels, in about 50 KB."""
    row = bytes(1 + side // 8)  # filter byte + packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 1000) for _ in range(side // 1000)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_an_unreadable_image_not_a_crash(tmp_path, world, encoder):
    bomb = write_bomb(tmp_path / "bomb.png")
    good = tmp_path / "good.png"
    Image.fromarray(world.images[0]).save(good)
    with pytest.raises(ImageLoadError, match="bomb.png.*MAX_IMAGE_PIXELS"):
        encoder.encode_images([good, bomb])
    with pytest.warns(UserWarning, match="Skipped 1 of 2"):
        out = encoder.encode_images([good, bomb], on_error="skip")
    assert out.shape == (1, 64) and encoder.last_skipped["position"].tolist() == [1]
    report = check_images([good, bomb])
    assert report["readable"].tolist() == [True, False]
    assert "PIL.Image.MAX_IMAGE_PIXELS" in report.loc[1, "error"]


def test_the_decompression_bomb_warning_raised_as_an_error_is_caught_too(tmp_path, monkeypatch):
    path = tmp_path / "large.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: a warning, not Pillow's error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageLoadError, match="large.png.*MAX_IMAGE_PIXELS is 1000"):
            load_rgb(path, 0)


def test_16_bit_images_are_scaled_not_clipped(tmp_path, encoder):
    deep = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    assert Image.open(path).mode == "I;16"
    eight = np.round(deep / 257).astype(np.uint8)
    assert np.array_equal(np.asarray(load_rgb(path, 0)), np.stack([eight] * 3, axis=2))
    assert np.allclose(encoder.encode_images([str(path), Image.fromarray(deep)]),
                       encoder.encode_images([eight, eight]), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_32_bit_and_float_images_are_stretched_to_their_own_range(dtype):
    values = np.linspace(1000, 5000, 64 * 64).reshape(64, 64).astype(dtype)
    rgb = np.asarray(load_rgb(Image.fromarray(values), 0))
    assert rgb.min() == 0 and rgb.max() == 255
    assert np.abs(rgb[..., 0].astype(int) - (values - 1000) / 4000 * 255).max() <= 1


def test_when_every_image_is_skipped_the_result_keeps_its_width(tmp_path, encoder):
    (tmp_path / "a.png").write_text("not an image")
    with pytest.warns(UserWarning, match=r"Skipped 2 of 2.*empty \(0, 64\) array"):
        out = encoder.encode_images([tmp_path / "a.png", tmp_path / "gone.png"], on_error="skip")
    assert out.shape == (0, 64) and out.dtype == np.float32


# -- checkpoints ------------------------------------------------------------------------------

def model_copy(tmp_path, name="my-clip"):
    folder = tmp_path / name
    shutil.copytree(SHAPES_MODEL_DIR, folder)
    return folder


def load(folder):
    return ClipEncoder(str(folder), cache_dir=None).load()


@pytest.mark.parametrize("damage", [truncate, corrupt_header])
def test_an_unreadable_checkpoint_is_named_with_the_fix(tmp_path, damage):
    folder = model_copy(tmp_path)
    damage(folder / WEIGHTS)
    with pytest.raises(CheckpointError, match=f"'{folder / WEIGHTS}' cannot be read: it is truncated or corrupt"
                                              ".*Fix: copy or download it again"):
        load(folder)


def test_nan_weights_are_reported_as_a_corrupt_checkpoint(tmp_path):
    folder = model_copy(tmp_path)
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-64:] = b"\xff" * 64  # fp16 NaNs in the last tensor
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"'{folder / WEIGHTS}' is corrupt: 1 tensors hold NaN or inf"):
        load(folder)


@pytest.mark.parametrize("change, expected", [
    ({"width": 96}, r"visual.class_embedding \[96\] where \[128\] is expected"),
    # Another patch grid: open_clip tries to resize the fp16 position embedding and fails with
    # "not implemented for 'Half'" before it ever compares shapes.
    ({"patch_size": 16}, r"visual.conv1.weight \[128, 3, 16, 16\] where \[128, 3, 8, 8\] is expected"),
])
def test_a_checkpoint_of_another_architecture_says_what_does_not_fit(tmp_path, change, expected):
    import open_clip

    config = json.loads((SHAPES_MODEL_DIR / "open_clip_config.json").read_text())
    other = copy.deepcopy(config)
    other["model_cfg"]["vision_cfg"].update(change)
    torch.manual_seed(0)
    made = write_model_dir(open_clip.CLIP(**other["model_cfg"]), tmp_path / "other", other)
    folder = model_copy(tmp_path)
    shutil.copy(made / WEIGHTS, folder / WEIGHTS)
    with pytest.raises(CheckpointError, match=(
        f"'{folder / WEIGHTS}' was not made for the architecture in '{folder / 'open_clip_config.json'}': "
        f"[0-9]+ tensors of another shape \\(.*{expected}.*Fix: put the weights saved with this config")):
        load(folder)
    assert load(made)[0].visual.conv1.weight.shape[2] == other["model_cfg"]["vision_cfg"]["patch_size"]


# -- devices ----------------------------------------------------------------------------------

@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("device, message", [
    ("cuda", "device='cuda', but no CUDA device is visible to torch"),
    ("cuda:1", "device='cuda:1', but no CUDA device is visible"),
    ("mps", "device='mps', but no Apple MPS device is visible"),
    ("gpu", "Unknown device 'gpu'"),
    ("meta", "Device 'meta' is not supported here"),
])
def test_an_unavailable_device_is_refused_before_any_loading(no_accelerator, device, message):
    with pytest.raises(DeviceError, match=f"{message}.*Fix: .*(device='cpu'|'cpu').*leave device unset"):
        ClipEncoder("shapes", device=device, cache_dir=None)


def test_a_cuda_index_past_the_last_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="sees only 1 cuda device"):
        ClipEncoder("shapes", device="cuda:1", cache_dir=None)


def test_unset_device_falls_back_to_the_cpu(no_accelerator):
    assert ClipEncoder("shapes", cache_dir=None).device == "cpu"


# -- texts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("texts, message", [
    (None, "takes a str or a list of str; got a NoneType"),
    (b"a red square.", "got a bytes: b'a red square.'"),
    (3, "got a int: 3"),
    (["a red square.", None], "Text 1 is a NoneType, not a str: None"),
    (["a red square.", "ok", b"x"], "Text 2 is a bytes, not a str: b'x'"),
    ([7], "Text 0 is a int, not a str: 7"),
])
def test_texts_of_the_wrong_type_are_named(encoder, texts, message):
    with pytest.raises(InputError, match=message) as raised:
        no_model(ClipEncoder("shapes", cache_dir=None)).encode_texts(texts)
    raised.match("Fix: pass")
    assert encoder.encode_texts(("a red square.",)).shape == (1, 64)
