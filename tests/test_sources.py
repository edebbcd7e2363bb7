"""One way in for a user's images: folders, tables of paths, Hugging Face datasets and arrays."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from drml_widgets import load_shapes_world
from drml_widgets.data.sources import DatasetError, load_images, stratified_split


@pytest.fixture(scope="module")
def small_world():
    return load_shapes_world(n=120, seed=3)


@pytest.fixture
def folder(small_world, tmp_path):
    return small_world.to_folder(tmp_path / "shapes")


def test_a_class_folder_with_metadata_keeps_the_users_split_and_columns(folder, small_world):
    ds = load_images(folder, metadata=folder / "metadata.csv")
    assert len(ds) == len(small_world) and ds.classes == ["square", "triangle"]
    table = ds.table
    assert {"color", "size", "position", "label", "class", "split"} <= set(table.columns)
    assert ds.split_from == "column 'split'"
    # Row order follows the files; every row keeps its own attributes.
    truth = small_world.table.assign(path=[f"{small_world.classes[l]}/{i:06d}" for i, l in enumerate(small_world.labels)])
    mine = table.assign(path=[p.rsplit(".", 1)[0].split("shapes/", 1)[1] for p in ds.paths])
    merged = mine.merge(truth, on="path", suffixes=("", "_truth"))
    assert len(merged) == len(ds) and (merged["color"] == merged["color_truth"]).all()
    assert (merged["class"] == merged["shape"]).all() and (merged["split"] == merged["split_truth"]).all()


def test_unreadable_files_are_skipped_warned_and_listed(folder):
    (folder / "triangle" / "broken.png").write_bytes(b"not a png at all")
    (folder / "square" / "empty.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="Skipped 2 of .* not readable images"):
        ds = load_images(folder)
    assert sorted(ds.skipped["source"].map(lambda s: s.rsplit("/", 1)[1])) == ["broken.png", "empty.jpg"]
    assert not any("broken" in p or "empty" in p for p in ds.paths)


def test_without_a_split_column_the_split_is_seeded_and_stratified(folder):
    ds = load_images(folder, seed=5)
    again = load_images(folder, seed=5)
    assert (ds.split == again.split).all() and ds.split_from.startswith("seeded stratified 60/10/30")
    for c in range(len(ds.classes)):
        shares = pd.Series(ds.split[ds.labels == c]).value_counts(normalize=True)
        assert abs(shares["train"] - 0.6) < 0.05 and abs(shares["test"] - 0.3) < 0.05
    assert (load_images(folder, seed=6).split != ds.split).any()


def test_a_table_of_paths_with_label_names(folder, tmp_path):
    meta = pd.read_csv(folder / "metadata.csv")
    meta["label"] = meta["path"].str.split("/").str[0]
    csv = folder / "table.csv"
    meta.to_csv(csv, index=False)
    ds = load_images(csv)  # relative paths resolve against the table's folder
    assert len(ds) == len(meta) and set(ds.table["class"]) == {"square", "triangle"}
    parquet = tmp_path / "table.parquet"
    meta.to_parquet(parquet)
    assert len(load_images(parquet, root=folder)) == len(meta)
    frame = load_images(meta, root=folder, classes=["triangle", "square"])
    assert frame.classes == ["triangle", "square"]


def test_hugging_face_datasets_with_an_image_column(small_world):
    datasets = pytest.importorskip("datasets", reason="the [hf] extra is part of [dev]; install it to run this")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=small_world.classes),
                                  "color": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"image": [Image.fromarray(a) for a in small_world.images[:40]],
                                     "label": small_world.labels[:40].tolist(),
                                     "color": small_world.table["color"][:40].tolist()}, features=features)
    loaded = load_images(ds)
    assert loaded.classes == small_world.classes and len(loaded) == 40
    assert loaded.table["color"].tolist() == small_world.table["color"][:40].tolist()
    with pytest.raises(DatasetError, match="no image column.*image_column="):
        load_images(ds.remove_columns("image"))


def test_hugging_face_images_on_disk_stay_paths(folder):
    datasets = pytest.importorskip("datasets", reason="the [hf] extra is part of [dev]; install it to run this")
    meta = pd.read_csv(folder / "metadata.csv")
    files = [str(folder / p) for p in meta["path"]]
    ds = datasets.Dataset.from_dict({"image": files, "label": meta["path"].str.split("/").str[0].tolist()},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.Value("string")}))
    loaded = load_images(ds)
    assert loaded.paths == files  # decoded later by the encoder, a batch at a time


def test_arrays_with_labels(small_world):
    ds = load_images(small_world.images[:20], labels=small_world.labels[:20], classes=small_world.classes)
    assert len(ds) == 20 and ds.paths is None and ds.source == "20 arrays"


@pytest.mark.parametrize("make, message", [
    (lambda f: load_images(f / "triangle"), "no class sub-folders with images .* lie directly in it"),
    (lambda f: load_images(pd.DataFrame({"path": [f"gone{i}.png" for i in range(7)], "label": [0, 1] * 3 + [0]})),
     r"7 of 7 image paths do not exist, e\.g\. \[.*gone0\.png.*gone4\.png'\]\. Fix: .*root="),
    (lambda f: load_images(np.zeros((5, 8, 8, 3), np.uint8), labels=["cat"] * 4 + ["dog"]),
     r"fewer than 2 images: \{'dog': 1\}"),
    (lambda f: load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=["cat", "dog"] * 2, classes=["cat"]),
     r"Labels \['dog'\] are not among the classes"),
    (lambda f: load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=[0, 1, 2, 0], classes=["cat", "dog"]),
     r"Labels \[2\] are not indices"),
    (lambda f: load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=[0, 1, 0, 1],
                           metadata=pd.DataFrame({"weather": ["sun", None, "rain", "sun"]})),
     r"missing values: \{'weather': 1\}.*fill_missing='unknown'"),
    (lambda f: load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=[0, 1, 0, 1],
                           metadata=pd.DataFrame({"split": ["train", "test", "holdout", "val"]})),
     r"holds \['holdout'\]"),
    (lambda f: load_images(pd.DataFrame({"file": ["a.png"]})), "needs a column of labels"),
    (lambda f: load_images(f / "notes.txt"), "neither a folder of class sub-folders nor a CSV"),
    (lambda f: load_images(f, metadata=pd.read_csv(f / "metadata.csv").iloc[3:]),
     r"3 images of .* have no row in the metadata, e\.g\. \['"),
])
def test_bad_sources_name_the_problem_and_the_fix(folder, make, message):
    with pytest.raises(DatasetError, match=message):
        make(folder)


def test_missing_metadata_can_be_given_a_value():
    ds = load_images(np.zeros((4, 8, 8, 3), np.uint8), labels=[0, 1, 0, 1],
                     metadata=pd.DataFrame({"weather": ["sun", None, "rain", "sun"]}), fill_missing="unknown")
    assert ds.table["weather"].tolist() == ["sun", "unknown", "rain", "sun"]


def test_every_class_of_two_or_more_gets_train_and_test():
    split = stratified_split(np.array([0, 0, 1, 1, 1, 2] + [3] * 50), seed=0)
    labels = np.array([0, 0, 1, 1, 1, 2] + [3] * 50)
    for c in (0, 1, 3):
        assert {"train", "test"} <= set(split[labels == c])
