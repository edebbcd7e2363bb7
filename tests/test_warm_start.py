"""A warm start does no avoidable work: the shapes world keyed by its parameters (no image
rendered), a model's identity from its config and weights' digest (no model built), a cached
folder keyed by its files' content (no image decoded), a head trained before kept on disk (torch
never imported); and what it serves equals a cold start's."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import drml_widgets.embed.encoder as encoder_module
import drml_widgets.embed.identity as identity
import drml_widgets.embed.images as images_module
from drml_widgets import ClipEncoder, Session, load_shapes_world
from drml_widgets.data import shapes_render
from drml_widgets.data.shapes_render import ShapeImages, render_table, sample_attributes
from drml_widgets.diagnose import head_cache
from drml_widgets.diagnose.heads import heads_folder, train_head
from drml_widgets.diagnose.zero_shot import logit_scale
from drml_widgets.embed.cache import content_key
from drml_widgets.embed.checkpoints import SHAPES_MODEL_DIR
from drml_widgets.embed.identity import keyed_images
from drml_widgets.embed.models import resolve_model

N = 600
REPO = Path(__file__).resolve().parents[1]


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
    _forbid(monkeypatch, shapes_render, "draw_rows", "rendered an image")
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
    _forbid(monkeypatch, shapes_render, "draw_rows", "rendered an image")
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


# -- a kept head: the warm start never imports torch ---------------------------------------------

START = r"""
import json, sys
import numpy as np
from drml_widgets import Dashboard, Session
session = Session.from_shapes_world(n=int(sys.argv[1]), ensemble=False)
Dashboard(session)
np.save(sys.argv[2], session.head.predict_proba(session.image_features()))
print(json.dumps({"torch": "torch" in sys.modules, "built": session.head.built}))
"""


def _start(cache, out) -> dict:
    env = {**os.environ, "DRML_WIDGETS_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", START, str(N), str(out)], env=env, cwd=REPO, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_warm_start_and_its_dashboard_never_import_torch(tmp_path):
    cold = _start(tmp_path / "cache", tmp_path / "cold.npy")
    warm = _start(tmp_path / "cache", tmp_path / "warm.npy")
    assert cold == {"torch": True, "built": True}  # the first start trains the head, with torch
    assert warm == {"torch": False, "built": False}
    trained, kept = np.load(tmp_path / "cold.npy"), np.load(tmp_path / "warm.npy")
    np.testing.assert_allclose(kept, trained, rtol=0, atol=1e-6)
    assert np.array_equal(kept.argmax(axis=1), trained.argmax(axis=1))


def test_a_kept_head_rectifies_as_the_trained_one_and_undoes_exactly(cache_dir):
    import torch

    cold = Session.from_shapes_world(n=N, ensemble=False)
    warm = Session.from_shapes_world(n=N, ensemble=False)
    assert cold.head.built and not warm.head.built
    kept = warm.head.state()
    target = [{"color": "green", "shape": "triangle"}]
    cold.rectify(target, epochs=3)
    warm.rectify(target, epochs=3)
    assert warm.head.built  # rectification asked for the module: built from the kept weights
    rectified = warm.head.state()
    assert rectified.keys() == kept.keys()
    assert all(torch.equal(rectified[k], cold.head.state()[k]) for k in rectified)
    warm.undo()
    assert all(np.array_equal(warm.head.state()[k].numpy(), kept[k]) for k in kept)


def _train(folder, x, y, **change):
    settings = {"classes": ["a", "b"], "kind": "linear", "epochs": 2, "seed": 0, "lr": 1e-3, "batch_size": 32, **change}
    return train_head(x[:80], y[:80], x[80:], y[80:], cache_dir=folder, **settings)


def _data():
    x = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_a_kept_head_predicts_as_the_trained_one(tmp_path, kind):
    x, y = _data()
    trained, kept = (_train(tmp_path, x, y, kind=kind, hidden=16) for _ in range(2))
    assert trained.built and not kept.built
    np.testing.assert_allclose(kept.logits(x), trained.logits(x), rtol=0, atol=1e-5)
    assert np.array_equal(kept.predict(x), trained.predict(x))
    assert kept.best_epoch == trained.best_epoch
    pd.testing.assert_frame_equal(kept.history, trained.history)


def _flip_label(x, y):
    y = y.copy()
    y[5] = 1 - y[5]
    return x, y


def _nudge_row(x, y):
    x = x.copy()
    x[90, 3] = np.nextafter(x[90, 3], np.float32(np.inf))  # one validation value, by one ulp
    return x, y


@pytest.mark.parametrize("data, change", [
    (None, {"seed": 1}), (_flip_label, {}), (_nudge_row, {}), (None, {"lr": 2e-3}), (None, {"epochs": 3}),
    (None, {"batch_size": 16}), (None, {"kind": "mlp"}), (None, {"classes": ["b", "a"]}),
], ids=["seed", "a label", "one value", "lr", "epochs", "batch size", "kind", "class names"])
def test_any_changed_input_misses_the_kept_head(tmp_path, data, change):
    x, y = _data()
    _train(tmp_path, x, y)
    x, y = data(x, y) if data else (x, y)
    assert _train(tmp_path, x, y, **change).built  # trained again, not served
    assert len(list(tmp_path.glob(f"*{head_cache.SUFFIX}"))) == 2


def test_rows_moved_between_train_and_val_miss_the_kept_head(tmp_path):
    x, y = _data()
    first = train_head(x[:80], y[:80], x[80:], y[80:], epochs=2, cache_dir=tmp_path)
    moved = train_head(x[:81], y[:81], x[81:], y[81:], epochs=2, cache_dir=tmp_path)
    assert first.built and moved.built


def test_a_training_code_version_bump_misses_the_kept_head(tmp_path, monkeypatch):
    x, y = _data()
    _train(tmp_path, x, y)
    monkeypatch.setattr(head_cache, "HEAD_CACHE_VERSION", head_cache.HEAD_CACHE_VERSION + 1)
    assert _train(tmp_path, x, y).built


def test_a_damaged_kept_head_is_quarantined_and_trained_again(tmp_path):
    x, y = _data()
    trained = _train(tmp_path, x, y)
    path = next(tmp_path.glob(f"*{head_cache.SUFFIX}"))
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="could not be read.*quarantine"):
        again = _train(tmp_path, x, y)
    assert again.built
    assert np.array_equal(again.predict(x), trained.predict(x))
    assert (tmp_path / "quarantine" / path.name).exists() and path.exists()  # rewritten whole


def test_a_custom_batch_loss_is_never_kept(tmp_path):
    import torch.nn.functional as F

    x, y = _data()
    _train(tmp_path, x, y, batch_loss=lambda logits, target, idx: F.cross_entropy(logits, target))
    assert not list(tmp_path.glob(f"*{head_cache.SUFFIX}"))


def test_only_an_encoder_with_a_cache_keeps_heads(cache_dir):
    class TextsOnly:  # a stand-in encoder, as tests and benchmarks use
        def encode_texts(self, texts):
            return np.ones((len(texts), 4), np.float32)

    assert heads_folder(TextsOnly()) is None
    assert heads_folder(ClipEncoder("shapes", cache_dir=None)) is None
    assert heads_folder(ClipEncoder("shapes")) == cache_dir / head_cache.HEADS


def test_the_models_logit_scale_is_kept_so_tagging_builds_no_model(cache_dir, monkeypatch):
    first = logit_scale(ClipEncoder("shapes"))  # asks the model, and keeps its answer
    _forbid(monkeypatch, encoder_module, "load_open_clip", "built the model")
    again = ClipEncoder("shapes")
    assert logit_scale(again) == first != 100.0
    assert not again.is_loaded


def test_kept_heads_past_the_limit_go_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setattr(head_cache, "KEEP_HEADS", 3)
    history = pd.DataFrame({"epoch": [0]})
    for i, key in enumerate("abc"):
        head_cache.store_trained(tmp_path, key, {"bias": np.full(2, i, np.float32)}, history, 0)
        os.utime(tmp_path / f"{key}{head_cache.SUFFIX}", (1_000 + i, 1_000 + i))  # a, then b, then c
    assert head_cache.load_trained(tmp_path, "a")["weights"]["bias"].tolist() == [0.0, 0.0]  # a is used again
    head_cache.store_trained(tmp_path, "d", {"bias": np.ones(2, np.float32)}, history, 0)
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob(f"*{head_cache.SUFFIX}")) == ["a", "c", "d"]


def test_a_surrogate_head_is_kept_and_served_as_the_trained_one(tmp_path):
    from drml_widgets.diagnose.surrogate import train_surrogate

    x, _ = _data()
    predictions = (x[:, 1] > 0).astype(int)  # what "the user's model" said
    trained, kept = (train_surrogate(x, predictions, ["a", "b"], epochs=2, cache_dir=tmp_path) for _ in range(2))
    assert trained.head.built and not kept.head.built
    assert np.array_equal(kept.head.predict(x), trained.head.predict(x))
    pd.testing.assert_frame_equal(kept.agreement, trained.agreement)
