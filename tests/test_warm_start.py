"""A warm start does no avoidable work: the shapes world keyed by its parameters (no image
rendered), a model's identity from its config and weights' digest (no model built), a cached
folder keyed by its files' content (no image decoded); and what it serves equals a cold start's."""

import os
import shutil

import numpy as np
import pytest
from PIL import Image

import drml_widgets.embed.encoder as encoder_module
import drml_widgets.embed.identity as identity
import drml_widgets.embed.images as images_module
from drml_widgets import ClipEncoder, Session, load_shapes_world
from drml_widgets.data import shapes_render
from drml_widgets.data.shapes_render import ShapeImages, render_table, sample_attributes
from drml_widgets.embed.cache import content_key
from drml_widgets.embed.checkpoints import SHAPES_MODEL_DIR
from drml_widgets.embed.identity import keyed_images
from drml_widgets.embed.models import resolve_model

N = 600


def _forbid(monkeypatch, module, name: str, what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a warm start {what}")
    monkeypatch.setattr(module, name, refuse)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DRML_WIDGETS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_warm_shapes_start_renders_nothing_builds_nothing_and_equals_cold(cache_dir, monkeypatch):
    cold = Session.from_shapes_world(n=N, ensemble=False)
    assert cold.encoder.is_loaded
    cold_text = cold.text_emb  # views ask for the prompts' embeddings: the cold start caches them
    before = ClipEncoder("shapes", cache_dir=None).encode_images(load_shapes_world(n=N).images)
    assert np.array_equal(cold.image_emb, before)  # the cold path encodes the very pixels it always did
    _forbid(monkeypatch, shapes_render, "render_shape", "rendered an image")
    _forbid(monkeypatch, encoder_module, "load_open_clip", "built the model")
    warm = Session.from_shapes_world(n=N, ensemble=False)
    assert not warm.encoder.is_loaded
    assert np.array_equal(warm.image_emb, cold.image_emb)
    assert np.array_equal(warm.text_emb, cold_text)
    monkeypatch.undo()
    assert np.array_equal(warm.images[[3, 7]], cold.images[[3, 7]])  # pixels drawn when a view asks


def test_a_warm_dashboard_needs_no_new_embedding(cache_dir, monkeypatch):
    from drml_widgets import Dashboard

    Dashboard(Session.from_shapes_world(n=N, ensemble=False))  # the cold start caches the views' prompts too
    _forbid(monkeypatch, shapes_render, "render_shape", "rendered an image")
    _forbid(monkeypatch, encoder_module, "load_open_clip", "built the model")
    warm = Session.from_shapes_world(n=N, ensemble=False)
    Dashboard(warm)
    assert not warm.encoder.is_loaded


@pytest.mark.parametrize("change", [{"n": N + 1}, {"seed": 1}, {"shape_scale": 0.75}, {"noise": 5.0}])
def test_any_rendering_parameter_changes_every_key(change):
    base = {"n": N, "seed": 0, "shape_scale": 1.0, "noise": 0.0}
    ids = load_shapes_world(n=N).pixels.ids()
    other = load_shapes_world(**{**base, **change}).pixels.ids()
    assert not set(ids) & set(other)


def test_renderer_version_changes_every_key(monkeypatch):
    ids = load_shapes_world(n=N).pixels.ids()
    monkeypatch.setattr(shapes_render, "RENDERER_VERSION", shapes_render.RENDERER_VERSION + 1)
    assert not set(ids) & set(load_shapes_world(n=N).pixels.ids())


def test_bias_keeps_the_keys_because_it_moves_no_pixel():
    biased, mixed = load_shapes_world(n=N), load_shapes_world(n=N, bias=0.9)
    assert biased.pixels.ids() == mixed.pixels.ids()
    assert np.array_equal(biased.images, mixed.images)
    assert not biased.table["split"].equals(mixed.table["split"])


def test_a_changed_parameter_misses_the_cache(cache_dir):
    encoder = ClipEncoder("shapes")
    world = load_shapes_world(n=N)
    encoder.encode_images(keyed_images(world.pixels, world.pixels.ids()))
    again = [content_key("made", m) for m in world.pixels.ids()]
    noisy = [content_key("made", m) for m in load_shapes_world(n=N, noise=5.0).pixels.ids()]
    assert encoder.cache.missing(again) == []
    assert encoder.cache.missing(noisy) == list(range(N))


@pytest.mark.parametrize("noise", [0.0, 12.0])
def test_rows_rendered_on_demand_equal_the_whole_rendering(noise):
    table = sample_attributes(300, seed=4)
    whole = render_table(table, seed=4, noise=noise)
    lazy = ShapeImages(table, seed=4, noise=noise)
    rows = [130, 0, 299, 64, 63, 130]  # out of order, forward and back, repeated
    assert np.array_equal(lazy[rows], whole[rows])
    assert np.array_equal(lazy[17], whole[17])
    mask = table["color"].eq("red").to_numpy()
    assert np.array_equal(np.asarray(lazy.take(mask)), whole[mask])
    assert np.array_equal(np.asarray(lazy), whole)


def test_a_split_renders_its_own_rows():
    world = load_shapes_world(n=N, noise=10.0)
    train = world.split("train")
    assert np.array_equal(train.images, world.images[(world.table["split"] == "train").to_numpy()])


def test_a_model_identity_needs_no_model_and_follows_its_weights(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    shutil.copytree(SHAPES_MODEL_DIR, folder)
    _forbid(monkeypatch, encoder_module, "load_open_clip", "built the model")
    before = resolve_model(str(folder)).identity
    assert before == {**resolve_model("shapes").identity}
    weights = next(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pth"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert resolve_model(str(folder)).identity["weights_sha256"] != before["weights_sha256"]


def test_a_remembered_digest_is_not_served_for_a_rewritten_file(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(identity, "DIGEST_MEMO_BYTES", 0)  # remember every file's digest on disk
    path = tmp_path / "weights.bin"
    path.write_bytes(b"one")
    first = identity.file_sha256(path)
    assert len(list((cache_dir / identity.DIGEST_FOLDER).iterdir())) == 1
    stamp = os.stat(path)
    path.write_bytes(b"two")  # same size, and the old modification time put back
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    identity._sha256.cache_clear()
    assert identity.file_sha256(path) != first


def _write_folder(root, n=120):
    folder = load_shapes_world(n=n).to_folder(root, image_format="png")
    return folder


def test_a_cached_folder_starts_without_decoding_or_a_model(tmp_path, cache_dir, monkeypatch):
    folder = _write_folder(tmp_path / "photos")
    cold = Session.from_folder(folder, ClipEncoder("shapes"), metadata=folder / "metadata.csv")
    _forbid(monkeypatch, images_module, "open_file", "decoded an image")
    _forbid(monkeypatch, encoder_module, "load_open_clip", "built the model")
    warm = Session.from_folder(folder, ClipEncoder("shapes"), metadata=folder / "metadata.csv")
    assert not warm.encoder.is_loaded
    assert np.array_equal(warm.image_emb, cold.image_emb)


def test_a_file_changed_in_place_is_encoded_again(tmp_path, cache_dir):
    folder = _write_folder(tmp_path / "photos")
    path = sorted((folder / "triangle").iterdir())[0]
    encoder = ClipEncoder("shapes")
    before = encoder.encode_images([path])
    stamp = os.stat(path)
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even with the old mtime put back
    fresh = ClipEncoder("shapes")
    after = fresh.encode_images([path])
    assert fresh.is_loaded  # it was encoded, not served
    assert not np.allclose(after, before)
