import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from drml_widgets import ClipEncoder
from drml_widgets.errors import EmptyInputError, ImageLoadError, UnknownModelError, WeightsUnavailableError
from drml_widgets.embed.checkpoints import SHAPES_MODEL_DIR
from drml_widgets.embed.models import resolve_model


def test_texts_are_unit_float32_rows_in_order(encoder):
    out = encoder.encode_texts(["small red square.", "large cyan triangle."])
    assert out.dtype == np.float32 and out.shape == (2, 64)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out[0], out[1])
    assert np.array_equal(encoder.encode_texts("large cyan triangle.")[0], out[1])


def test_paths_pil_and_arrays_give_the_same_embedding(tmp_path, world, encoder):
    img = world.images[0]
    path = tmp_path / "shape.png"
    Image.fromarray(img).save(path)
    via_array = encoder.encode_images(img)
    via_pil = encoder.encode_images([Image.fromarray(img)])
    via_path = encoder.encode_images([str(path)])
    assert np.allclose(via_array, via_pil) and np.allclose(via_array, via_path, atol=1e-6)


def test_mixed_sizes_and_modes_are_converted_like_by_hand(world, encoder):
    rgb = world.images[1]
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.concatenate([rgb, np.full((64, 64, 1), 255, np.uint8)], axis=2)
    big = Image.fromarray(rgb).resize((128, 128))
    out = encoder.encode_images([rgb, grey, rgba, big])
    by_hand = encoder.encode_images([rgb, np.stack([grey] * 3, axis=2), rgb,
                                     np.asarray(big.convert("RGB"))])
    assert out.shape == (4, 64)
    assert np.allclose(out, by_hand)
    assert np.allclose(out[0], out[2])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((64, 64, 3), np.float32), "dtype float32"),
        (np.zeros((64, 64, 2), np.uint8), "not an image"),
        (12, "expected a file path"),
    ],
)
def test_inputs_that_are_not_images_are_named(encoder, bad, message):
    with pytest.raises(ImageLoadError, match=message):
        encoder.encode_images([np.zeros((64, 64, 3), np.uint8), bad])


def test_unreadable_file_is_named_and_can_be_skipped(tmp_path, world, encoder):
    good = tmp_path / "good.png"
    Image.fromarray(world.images[2]).save(good)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    missing = tmp_path / "gone.png"
    with pytest.raises(ImageLoadError, match="notes.txt.*on_error='skip'"):
        encoder.encode_images([good, text])
    with pytest.raises(ImageLoadError, match="gone.png"):
        encoder.encode_images([good, missing])
    with pytest.warns(UserWarning, match="Skipped 2 of 3"):
        out = encoder.encode_images([text, good, missing], on_error="skip")
    skipped = encoder.last_skipped
    assert skipped["position"].tolist() == [0, 2]
    assert "notes.txt" in skipped["source"].iloc[0] and "gone.png" in skipped["source"].iloc[1]
    assert out.shape == (1, 64)
    assert np.allclose(out[0], encoder.encode_images(world.images[2])[0], atol=1e-6)
    assert encoder.last_skipped.empty


def test_check_images_reports_without_loading_a_model(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    report = ClipEncoder("shapes", cache_dir=None).check_images(
        [np.zeros((5, 7, 3), np.uint8), str(tmp_path / "bad.jpg")]
    )
    assert report["readable"].tolist() == [True, False]
    assert report.loc[0, "width"] == 7 and report.loc[0, "height"] == 5
    assert "bad.jpg" in report.loc[1, "source"]


def test_empty_inputs_are_refused(encoder):
    with pytest.raises(EmptyInputError, match="at least one string"):
        encoder.encode_texts([])
    with pytest.raises(EmptyInputError, match="at least one path"):
        encoder.encode_images([])


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="Did you mean 'ViT-B-32'"):
        ClipEncoder("ViT-B-31", pretrained="openai")
    with pytest.raises(UnknownModelError, match="Did you mean 'openai'"):
        ClipEncoder("ViT-B-32", pretrained="opnai")
    with pytest.raises(UnknownModelError, match="needs weights"):
        ClipEncoder("ViT-B-32")
    with pytest.raises(UnknownModelError, match="needs its architecture"):
        ClipEncoder("weights.safetensors")
    with pytest.raises(UnknownModelError, match="No model folder at '/models/my-clip'"):
        ClipEncoder("/models/my-clip")
    assert ClipEncoder("ViT-B/32", pretrained="openai", cache_dir=None).spec.label == "ViT-B-32/openai"


def test_offline_weights_say_how_to_pass_a_local_file():
    enc = ClipEncoder("ViT-B-32", pretrained="openai", cache_dir=None)
    with pytest.raises(WeightsUnavailableError, match="pretrained='/path/to/"):
        enc.encode_texts(["a photo of a dog."])
    assert not enc.is_loaded


def test_a_copied_model_folder_is_the_same_model(tmp_path, encoder):
    copy = tmp_path / "my-clip"
    shutil.copytree(SHAPES_MODEL_DIR, copy)
    other = ClipEncoder(str(copy), cache_dir=None)
    assert other.spec.identity == encoder.spec.identity
    texts = ["medium pink triangle."]
    assert np.allclose(other.encode_texts(texts), encoder.encode_texts(texts), atol=1e-6)


def test_a_checkpoint_file_is_keyed_by_its_hash(tmp_path):
    ckpt = tmp_path / "ft.bin"
    ckpt.write_bytes(b"weights v1")
    first = resolve_model("ViT-B-32", ckpt).identity
    ckpt.write_bytes(b"weights v2, longer")
    second = resolve_model("ViT-B-32", ckpt).identity
    assert first["architecture"] == "ViT-B-32" and first["weights_sha256"] != second["weights_sha256"]


def test_repr_is_readable(encoder):
    assert "ClipEncoder('shapes'" in repr(encoder)


def test_no_progress_bar_for_small_jobs(encoder, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode_texts(["tiny job."])
    assert "encoding" not in capsys.readouterr().err


def test_in_memory_images_of_the_models_size_are_prepared_a_batch_at_once_with_the_same_numbers(monkeypatch):
    from drml_widgets import load_shapes_world
    from drml_widgets.embed import encoder as encoder_module
    from drml_widgets.embed.identity import keyed_images

    world = load_shapes_world(n=150, noise=10.0)
    enc = ClipEncoder("shapes", cache_dir=None, batch_size=64)
    one_by_one = enc.encode_images([Image.fromarray(image) for image in world.images])  # PIL, a worker per image

    def refuse(*args):
        raise AssertionError("an in-memory image of the model's size went through the per-image path")

    monkeypatch.setattr(encoder_module, "load_rgb", refuse)
    assert np.array_equal(enc.encode_images(keyed_images(world.pixels, world.pixels.ids())), one_by_one)
    assert np.array_equal(enc.encode_images(world.images), one_by_one)


def test_a_batch_is_scaled_at_once_only_where_the_preprocessing_just_scales():
    from torchvision import transforms as T

    from drml_widgets.embed.images import batch_pixels, plain_tensor

    preprocess = ClipEncoder("shapes", cache_dir=None).load()[1]
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    by_image = np.stack([preprocess(Image.fromarray(image)).numpy() for image in images])
    assert np.array_equal(plain_tensor(images, preprocess).numpy(), by_image)
    assert plain_tensor(images[:, :60, :60], preprocess) is None  # resized: left to PIL
    flipped = T.Compose([T.RandomHorizontalFlip(1.0), *preprocess.transforms])
    assert plain_tensor(images, flipped) is None
    assert np.array_equal(batch_pixels(list(images), flipped).numpy(), by_image[..., ::-1])
