"""Hostile inputs to load_images and user_model: mixed or float labels, a file in two splits,
list columns, linked and hidden folders, names that are not UTF-8, image bytes from Hugging Face,
many small classes, EXIF-rotated thumbnails and probabilities that are not probabilities."""

import io
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from drml_widgets.data.sources import load_images, stratified_split
from drml_widgets.data.tables import attribute_columns
from drml_widgets.diagnose.surrogate import user_model
from drml_widgets.errors import DatasetError, InputError
from drml_widgets.widgets.thumbnails import to_pil


def png_bytes(value=0, size=8):
    out = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def files(tmp_path):
    """Eight PNGs, four per class folder (square/, triangle/)."""
    paths = []
    for c in ("square", "triangle"):
        (tmp_path / c).mkdir()
        for i in range(4):
            path = tmp_path / c / f"{i}.png"
            path.write_bytes(png_bytes(30 * i))
            paths.append(str(path))
    return paths


def table(files, **columns):
    return pd.DataFrame({"path": files, **columns})


def test_labels_that_mix_numbers_and_names_are_refused(files):
    with pytest.raises(DatasetError, match=r"mix numbers \[0, 1\] with names \['square', 'triangle'\].*Fix:"):
        load_images(table(files, label=[0, 1, "square", "triangle"] * 2))


def test_whole_float_labels_are_indices(files):
    ds = load_images(table(files, label=[0.0, 1.0] * 4))
    assert ds.classes == ["0", "1"] and ds.labels.tolist() == [0, 1] * 4
    named = load_images(table(files, label=[0.0, 1.0] * 4), classes=["square", "triangle"])
    assert named.classes == ["square", "triangle"] and named.labels.tolist() == [0, 1] * 4


def test_fractional_labels_get_the_right_advice(files):
    with pytest.raises(DatasetError, match=r"not whole numbers.*Fix: give class indices"):
        load_images(table(files, label=[0.5, 1.0] * 4), classes=["square", "triangle"])


def test_a_file_in_two_splits_is_refused_and_a_repeated_row_dropped(files):
    rows = table(files + files[:1], label=[0, 1] * 4 + [0], split=["train", "test"] * 4 + ["test"])
    with pytest.raises(DatasetError, match=r"1 files of a DataFrame are listed more than once.*Fix: keep one row"):
        load_images(rows)
    same = table(files + files[:2], label=[0, 1] * 5, split=["train", "test"] * 5)
    with pytest.warns(UserWarning, match="Dropped 2 rows of a DataFrame that repeat a file"):
        ds = load_images(same)
    assert len(ds) == 8 and sorted(ds.paths) == sorted(files)


def test_list_columns_are_kept_but_never_attributes(files):
    ds = load_images(table(files, label=[0, 1] * 4, boxes=[[1, 2], [3]] * 4, weather=["sun", "rain"] * 4))
    assert "boxes" in ds.metadata.columns
    with pytest.warns(UserWarning, match=r"Columns \['boxes'\] hold lists, arrays or bytes"):
        assert attribute_columns(ds.table) == ["weather"]


def test_parquet_list_columns_are_never_attributes(files, tmp_path):
    table(files, label=[0, 1] * 4, tags=[["a", "b"], ["c"]] * 4).to_parquet(tmp_path / "t.parquet")
    ds = load_images(tmp_path / "t.parquet")
    with pytest.warns(UserWarning, match=r"\['tags'\]"):
        assert attribute_columns(ds.table) == []


def test_a_linked_folder_is_followed_and_hidden_ones_skipped_with_a_count(files, tmp_path, tmp_path_factory):
    more = tmp_path_factory.mktemp("more")
    (more / "x.png").write_bytes(png_bytes(200))
    (tmp_path / "square" / "linked").symlink_to(more, target_is_directory=True)
    (tmp_path / "square" / "up").symlink_to(tmp_path, target_is_directory=True)  # a loop
    (tmp_path / "square" / ".thumbs").mkdir()
    (tmp_path / "square" / ".thumbs" / "0.png").write_bytes(png_bytes())
    with pytest.warns(UserWarning, match=r"Skipped 1 hidden files or folders.*square/\.thumbs"):
        ds = load_images(tmp_path)
    assert len(ds) == 9 and any(p.endswith("linked/x.png") for p in ds.paths)


def test_a_name_that_is_not_utf8_is_skipped_with_the_name_escaped(files, tmp_path):
    with open(os.path.join(os.fsencode(tmp_path / "square"), b"caf\xe9.png"), "wb") as f:
        f.write(png_bytes())
    with pytest.warns(UserWarning, match=r"not valid UTF-8, e\.g\. '.*caf\\\\xe9\.png'"):
        ds = load_images(tmp_path)
    assert len(ds) == 8


@pytest.mark.parametrize("kind", ["decode=False", "raw bytes"])
def test_hugging_face_image_bytes_are_decoded(kind):
    datasets = pytest.importorskip("datasets")
    blobs = [png_bytes(20 * i) for i in range(6)] + [b"not an image"]
    labels = [0, 1] * 3 + [0]
    if kind == "raw bytes":
        ds = datasets.Dataset.from_dict({"image": blobs, "label": labels})
    else:
        features = datasets.Features({"image": datasets.Image(decode=False), "label": datasets.Value("int64")})
        ds = datasets.Dataset.from_dict({"image": [{"bytes": b, "path": None} for b in blobs], "label": labels},
                                        features=features)
    with pytest.warns(UserWarning, match="Skipped 1 of 7 images of the 'image' column"):
        loaded = load_images(ds)
    assert len(loaded) == 6 and all(isinstance(im, Image.Image) for im in loaded.images)
    assert np.asarray(loaded.images[1])[0, 0].tolist() == [20, 20, 20]


def test_many_small_classes_still_get_every_split():
    split = stratified_split(np.repeat(np.arange(500), 2), seed=0)
    assert {s: int((split == s).sum()) > 0 for s in ("train", "val", "test")} == dict.fromkeys(
        ("train", "val", "test"), True)
    labels = np.repeat(np.arange(500), 2)
    for c in range(500):  # every class keeps a training image
        assert (split[labels == c] == "train").any()


def test_too_few_images_for_the_splits_is_an_error_with_the_fix():
    with pytest.raises(DatasetError, match=r"cannot fill the splits.*Fix:.*split="):
        stratified_split(np.array([0, 0]), {"train": 0.6, "val": 0.1, "test": 0.3})


def test_thumbnails_show_exif_rotated_photos_upright(tmp_path):
    pixels = np.zeros((16, 8, 3), np.uint8)
    pixels[:4] = 255  # a white top band
    exif = Image.Exif()
    exif[0x0112] = 3
    Image.fromarray(pixels[::-1].copy()).save(tmp_path / "r.jpg", exif=exif, quality=100)
    shown = np.asarray(to_pil(str(tmp_path / "r.jpg")))
    assert shown[:4].mean() > 200 and shown[-4:].mean() < 50


@pytest.mark.parametrize("proba, message", [
    ([[0.9, 0.1], [-0.2, 1.2]], "negative"),
    ([[0.9, 0.1], [np.nan, 0.5]], "NaN or inf"),
    ([[0.9, 0.9], [0.4, 0.6]], "sum to 1"),
    ([[3.0, 1.0], [0.4, 0.6]], "sum to 1"),
])
def test_proba_that_are_not_probabilities_are_refused(proba, message):
    with pytest.raises(InputError, match=message + r".*Fix:"):
        user_model(2, ["a", "b"], np.array([0, 1]), proba=proba)


def test_proba_within_rounding_of_one_are_accepted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = user_model(2, ["a", "b"], np.array([0, 1]), proba=[[0.7, 0.3000004], [0.2, 0.8]])
    assert m.predictions.tolist() == [0, 1]


def test_rows_without_a_path_and_doubled_columns_are_named(files):
    with pytest.raises(DatasetError, match=r"1 rows of a DataFrame have no path.*Fix:"):
        load_images(table(files[:7] + [None], label=[0, 1] * 4))
    doubled = pd.DataFrame([[files[0], 0, 0]], columns=["path", "label", "label"])
    with pytest.raises(DatasetError, match=r"more than one column named \['label'\].*Fix:"):
        load_images(doubled)
