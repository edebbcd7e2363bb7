"""ViT-B-32/openai at real size, offline: random weights where a download would have put them
(the ``real_size_hub`` fixture). Together about a minute on 2 CPU cores."""

import threading
import warnings
import weakref

import numpy as np
import open_clip
import pytest
from PIL import Image
from real_size import publish

from drml_widgets import ClipEncoder
from drml_widgets.embed import encoder as encoder_module


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory, world):
    """160 shapes as JPEG files: five batches of 32."""
    root = tmp_path_factory.mktemp("real-size-jpegs")
    paths = [root / f"{i:03d}.jpg" for i in range(160)]
    for path, img in zip(paths, world.images):
        Image.fromarray(img).save(path, quality=90)
    return paths


def test_the_openai_tag_loads_offline_with_quickgelu_at_224_px(real_size_hub, tmp_path, jpegs):
    enc = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=tmp_path, device="cpu")
    assert enc.spec.checkpoint == str(real_size_hub.path)  # found in the hub cache, nothing fetched
    assert enc.spec.identity["weights_sha256"] == real_size_hub.sha256
    assert not enc.is_loaded  # the identity needs the file's hash, not the model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, preprocess, _ = enc.load()
    assert not [w for w in caught if "QuickGELU" in str(w.message)]
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert sum(p.numel() for p in model.parameters()) > 150e6
    crop = [t for t in preprocess.transforms if type(t).__name__ == "CenterCrop"]
    assert [tuple(t.size) for t in crop] == [(224, 224)]
    images = enc.encode_images(jpegs[:4])
    texts = enc.encode_texts(["a photo of a dog.", "a red square."])
    assert images.shape == (4, 512) and texts.shape == (2, 512)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    again = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=tmp_path)
    assert np.array_equal(again.encode_images(jpegs[:4]), images) and not again.is_loaded


def test_new_weights_under_the_same_tag_get_a_new_cache(real_size_hub, tmp_path, jpegs):
    """The tag stays "openai" but its file changes (a new upstream revision): the embeddings of the
    old file must not be served for the new one."""
    old = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=tmp_path)
    before = old.encode_images(jpegs[:2])
    newer = publish(real_size_hub.hub_cache, seed=1)  # the fixture points main back afterwards
    new = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=tmp_path)
    assert new.spec.checkpoint == str(newer.path) and newer.sha256 != real_size_hub.sha256
    assert new.spec.identity["weights_sha256"] == newer.sha256
    assert new.cache.dir != old.cache.dir and not new.is_loaded
    after = new.encode_images(jpegs[:2])
    assert new.is_loaded and not np.allclose(after, before, atol=1e-3)


def test_a_folder_is_encoded_a_few_batches_at_a_time(real_size_hub, jpegs):
    enc = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=None, batch_size=32)
    model, preprocess, tokenizer = enc.load()
    lock, alive, peak = threading.Lock(), [0], [0]

    def gone():
        with lock:
            alive[0] -= 1

    def counting(img):  # every decoded, preprocessed image, until it is freed
        out = preprocess(img)
        with lock:
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
        weakref.finalize(out, gone)
        return out

    enc.load = lambda: (model, counting, tokenizer)
    out = enc.encode_images(jpegs)
    assert out.shape == (160, 512)
    assert peak[0] <= (encoder_module.PREFETCH_BATCHES + 1) * 32 < len(jpegs)
