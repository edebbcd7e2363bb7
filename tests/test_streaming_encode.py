"""Streaming image encoding on the shapes CLIP: order, skips, bounded memory, overlap, the batch
size rule and the warning before a long encode. No timing is asserted."""

import threading
import warnings
import weakref

import numpy as np
import pytest
from PIL import Image

from drml_widgets import ClipEncoder
from drml_widgets.errors import ImageLoadError, InputError
from drml_widgets.embed import encoder as encoder_module
from drml_widgets.embed.devices import default_batch_size

BATCH = 8


@pytest.fixture(scope="module")
def folder(tmp_path_factory, world):
    """48 shapes as JPEG and PNG files, six batches of 8."""
    root = tmp_path_factory.mktemp("shapes-files")
    paths = []
    for i, img in enumerate(world.images[:48]):
        paths.append(root / f"{i:03d}.{'jpg' if i % 2 else 'png'}")
        Image.fromarray(img).save(paths[-1])
    return paths


def watching(enc, on_prepare):
    """Make ``enc`` call ``on_prepare(tensor)`` for each image it preprocesses."""
    model, preprocess, tokenizer = enc.load()

    def prepare(img):
        out = preprocess(img)
        on_prepare(out)
        return out

    enc.load = lambda: (model, prepare, tokenizer)
    return enc


def test_results_keep_input_order_across_batches(folder):
    streamed = ClipEncoder("shapes", cache_dir=None, batch_size=BATCH).encode_images(folder)
    one_by_one = ClipEncoder("shapes", cache_dir=None, batch_size=1)
    expected = np.concatenate([one_by_one.encode_images([p]) for p in folder[::7]])
    assert streamed.shape == (48, 64)
    assert np.allclose(streamed[::7], expected, atol=1e-5)


def test_unreadable_files_in_any_batch_are_skipped_in_order(tmp_path, folder):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    missing = tmp_path / "missing.png"
    inputs = list(folder[:30])
    inputs[3], inputs[17], inputs[29] = broken, missing, broken  # batches 0, 2 and 3
    enc = ClipEncoder("shapes", cache_dir=None, batch_size=BATCH)
    with pytest.warns(UserWarning, match="Skipped 3 of 30"):
        out = enc.encode_images(inputs, on_error="skip")
    assert enc.last_skipped["position"].tolist() == [3, 17, 29]
    good = [p for i, p in enumerate(inputs) if i not in (3, 17, 29)]
    assert np.allclose(out, enc.encode_images(good), atol=1e-6)
    with pytest.raises(ImageLoadError, match="image 17 at .*missing.png"):  # found while hashing, before any decode
        enc.encode_images(inputs)
    with pytest.raises(ImageLoadError, match="image 3 at .*broken.jpg"):
        enc.encode_images(inputs[:17])


def test_an_error_stops_the_decoding_threads(tmp_path, folder):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG truncated")
    with pytest.raises(ImageLoadError, match="broken.png"):
        ClipEncoder("shapes", cache_dir=None, batch_size=BATCH).encode_images([*folder[:20], broken, *folder[20:]])
    assert not [t for t in threading.enumerate() if t.name.startswith("drml-decode")]


def test_only_a_few_batches_are_decoded_at_once(folder):
    lock, alive, peak = threading.Lock(), [0], [0]

    def count(tensor):
        def gone():
            with lock:
                alive[0] -= 1

        with lock:
            alive[0] += 1
            peak[0] = max(peak[0], alive[0])
        weakref.finalize(tensor, gone)

    enc = watching(ClipEncoder("shapes", cache_dir=None, batch_size=BATCH), count)
    enc.encode_images(folder)
    # the batch in the model and those prefetched behind it, never the 48 files
    assert BATCH < peak[0] <= (encoder_module.PREFETCH_BATCHES + 1) * BATCH < len(folder)


def test_the_next_batch_is_decoded_while_the_model_runs(folder):
    """The model's first batch waits until an image of the second has been decoded: without
    decoding ahead, that never happens and the wait runs out."""
    second = set(map(str, folder[BATCH: 2 * BATCH]))
    second_decoded = threading.Event()
    decoders = set()
    real_load_rgb = encoder_module.load_rgb

    def load_rgb(item, position):
        decoders.add(threading.current_thread().name)
        if str(item) in second:
            second_decoded.set()
        return real_load_rgb(item, position)

    enc = ClipEncoder("shapes", cache_dir=None, batch_size=BATCH)
    overlapped = []
    real_encode = enc.model.encode_image

    def encode_image(pixels):
        if not overlapped:
            overlapped.append(second_decoded.wait(timeout=300))  # returns at once when decoding runs ahead
        return real_encode(pixels)

    enc.model.encode_image = encode_image
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(encoder_module, "load_rgb", load_rgb)
        enc.encode_images(folder[: 3 * BATCH])
    assert overlapped == [True]
    assert decoders and all(name.startswith("drml-decode") for name in decoders)


def test_batch_size_unset_suits_device_and_tower():
    # On the CPU, a batch's residual stream (tokens x width) is kept near 2**19 floats, per tower.
    shapes = ClipEncoder("shapes", cache_dir=None, device="cpu")
    assert (shapes.spec.image_stream, shapes.spec.text_stream) == (65 * 128, 24 * 128)
    assert (shapes.batch_size, shapes.text_batch_size) == (64, 128)
    vit = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=None, device="cpu")
    assert (vit.batch_size, vit.text_batch_size) == (16, 16)
    # a tower the config does not size (a ResNet) keeps the rule by input side
    assert ClipEncoder("RN50", pretrained="openai", cache_dir=None, device="cpu").batch_size == 64
    assert default_batch_size("cpu", 64) == 512 and default_batch_size("cuda", 224, stream=65 * 128) == 256
    asked = ClipEncoder("shapes", cache_dir=None, batch_size=3)
    assert (asked.batch_size, asked.text_batch_size) == (3, 3)
    with pytest.raises(InputError, match="batch_size must be at least 1.*leave it unset"):
        ClipEncoder("shapes", cache_dir=None, batch_size=0)


def test_texts_go_in_batches_of_the_text_tower():
    enc = ClipEncoder("shapes", cache_dir=None, device="cpu", progress=False)
    model = enc.load()[0]
    sizes, encode_text = [], model.encode_text
    model.encode_text = lambda tokens: sizes.append(len(tokens)) or encode_text(tokens)
    texts = [f"a photo of shape {i}." for i in range(300)]
    rows = enc.encode_texts(texts)
    assert sizes == [128, 128, 44]
    model.encode_text = encode_text
    alone = ClipEncoder("shapes", cache_dir=None, device="cpu", batch_size=7).encode_texts(texts)
    assert np.allclose(rows, alone, atol=1e-6)


def test_a_long_encode_says_what_it_will_cost(tmp_path, folder, monkeypatch):
    enc = ClipEncoder("shapes", cache_dir=tmp_path, batch_size=BATCH)
    enc.encode_images(folder[:8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode_images(folder[8:24])  # a short job: silent
    monkeypatch.setattr(encoder_module, "COST_WARNING_SECONDS", 0.0)  # any estimate is "long" now
    with pytest.warns(UserWarning) as caught:
        enc.encode_images(folder)
    message = str(caught[0].message)
    assert len(caught) == 1
    assert "Encoding 24 images not yet cached (of 48) with shapes on cpu: about" in message
    assert "GPU" in message and str(enc.cache.dir) in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode_images(folder)  # all cached: nothing to estimate
        ClipEncoder("shapes", cache_dir=None, batch_size=64).encode_images(folder[:40])  # one batch: done already


def test_rows_reach_the_cache_a_few_batches_at_a_time_and_survive_a_failure(tmp_path):
    enc = ClipEncoder("shapes", cache_dir=tmp_path, device="cpu", batch_size=BATCH, progress=False)
    model = enc.load()[0]
    calls, encode_text = [], model.encode_text

    def failing_third(tokens):
        calls.append(len(tokens))
        if len(calls) == 3:
            raise RuntimeError("out of memory, say")
        return encode_text(tokens)

    model.encode_text = failing_third
    texts = [f"a shape numbered {i}." for i in range(5 * BATCH)]
    with pytest.raises(RuntimeError, match="out of memory"):
        enc.encode_texts(texts)
    # the two batches done before the failure are kept, as one shard, not one per batch
    assert len(enc.cache) == 2 * BATCH and len(list(enc.cache.dir.glob("*.npy"))) == 1
    model.encode_text = encode_text
    enc.encode_texts(texts)
    assert len(enc.cache) == 5 * BATCH
