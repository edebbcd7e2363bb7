"""The real-data path: a user's folder or table, CLIP tags or the built-in vocabulary, and the
user's own classifier, each through one Session constructor. The shapes world stands in for the
user's data because it knows the truth."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from drml_widgets import Session, load_shapes_world
from drml_widgets.errors import SessionError
from drml_widgets.data.sources import load_images
from drml_widgets.methods import train_example_black_box
from drml_widgets.prompts import AttributeSet

N = 4000
BY = ["color", "class"]


def names(frame):
    return {f"{c} {s}" for c, s in zip(frame["color"], frame["class"])}


@pytest.fixture(scope="module")
def world():
    return load_shapes_world(n=N, seed=0)


@pytest.fixture(scope="module")
def folder(world, tmp_path_factory):
    folder = world.to_folder(tmp_path_factory.mktemp("user") / "shapes")
    # Two damaged files that the metadata lists like any other: a PNG cut off after its signature,
    # and text saved with an image's name.
    (folder / "triangle" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "square" / "notes.jpg").write_bytes(b"shopping list")
    meta = pd.read_csv(folder / "metadata.csv")
    extra = meta.iloc[:2].assign(path=["triangle/corrupt.png", "square/notes.jpg"])
    pd.concat([meta, extra]).to_csv(folder / "metadata.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def from_folder(folder, encoder):
    with pytest.warns(UserWarning, match="Skipped"):
        return Session.from_folder(folder, encoder, metadata=folder / "metadata.csv")


def test_a_folder_with_metadata_reproduces_the_in_memory_figures(from_folder, folder):
    s = from_folder
    assert s.attributes.types == ["color", "size", "position", "class"] and s.label_rule == "class"
    assert s.attribute_source == "metadata columns ['color', 'size', 'position']"
    assert len(s.dataset.skipped) == 2 and len(s.table) == N
    cmp = s.slices(BY)
    print(cmp, "\n", cmp.table.to_string())
    assert cmp.spearman >= 0.7
    worst_text, worst_image = names(cmp.worst(4, "text_prob")), names(cmp.worst(4, "image_acc"))
    assert len(worst_text & worst_image) >= 3
    assert {"green triangle", "orange square"} <= worst_text


def test_without_metadata_clip_tags_a_given_attribute_set(folder, encoder):
    attrs = AttributeSet({"color": ["red", "pink", "orange", "green", "cyan", "blue"],
                          "size": ["small", "medium", "large"]})
    # No attribute annotations: only the biased split (what makes the head fail) is kept.
    split_only = pd.read_csv(folder / "metadata.csv")[["path", "split"]]
    with pytest.warns(UserWarning, match="Skipped"):
        s = Session.from_folder(folder, encoder, attributes=attrs, metadata=split_only)
    assert s.attribute_source == "given attributes, ['color', 'size'] tagged by CLIP"
    tags = s.attribute_tags
    print(tags, tags.summary())
    cmp = s.slices(BY)
    print(cmp, "\n", cmp.table.to_string())
    worst_text, worst_image = names(cmp.worst(4, "text_prob")), names(cmp.worst(4, "image_acc"))
    assert len(worst_text & worst_image) >= 3


def test_a_black_box_known_by_its_predictions(world, encoder):
    box = train_example_black_box(world)
    cnn = box.predict(world.images)
    ds = load_images(world.images, labels=world.labels, classes=world.classes,
                     metadata=world.table[["color", "size", "position", "split"]])
    s = Session.from_dataset(ds, encoder, predictions=cnn, model_name="example CNN")
    print(s, s.methods().to_string(), sep="\n")
    assert s.surrogate.held_out_agreement >= 0.9
    # Slices ranked by the surrogate's text probes against the CNN's own slice accuracy.
    cmp = s.slices(BY)
    print(cmp.table.to_string())
    assert cmp.spearman >= 0.6
    test = (ds.split == "test")
    own = pd.DataFrame({"color": world.table["color"][test], "class": np.array(world.classes)[world.labels[test]],
                        "ok": cnn[test] == world.labels[test]}).groupby(BY)["ok"].mean()
    assert np.allclose(cmp.table.set_index(BY)["image_acc"].reindex(own.index), own)
    # The methods of papers 001-003 run on the CNN's outcomes.
    assert s.failure_modes(s=20) is not None
    assert len(s.hard_clusters(n_clusters=3).selection("FPDiff"))
    with pytest.warns(UserWarning, match="predictions only"):
        llm = s.loss_predictor(members=2, epochs=5)
    assert len(llm.estimate(["a green triangle.", "an orange square."])) == 2
    with pytest.raises(SessionError, match="known by its outputs"):
        s.rectify({"color": "green", "class": "triangle"})
    assert not s.methods().set_index("method").loc["rectify", "applies"]


@pytest.mark.parametrize("bad, message", [
    (dict(predictions=np.zeros(3, int)), "one class per image"),
    (dict(predictions=np.array(["triangle", "circle"] * (N // 2))), r"name classes \['circle'\]"),
    (dict(predictions=np.zeros(N, int), proba=np.ones((N, 2)) / 2), "exactly one of"),
    (dict(losses=np.ones(N)), "losses alone cannot tell"),
    (dict(predictions=np.zeros(N, int), model=lambda images: np.zeros(len(images), int)), "exactly one of"),
])
def test_bad_predictions_are_named(world, encoder, bad, message):
    ds = load_images(world.images[:N], labels=world.labels, classes=world.classes)
    with pytest.raises(Exception, match=message) as caught:
        Session.from_dataset(ds, encoder, **bad)
    assert type(caught.value).__name__ == "InputError"


def test_with_no_attributes_the_vocabulary_proposes_them(world, encoder):
    ds = load_images(world.images, labels=world.labels, classes=world.classes, metadata=world.table[["split"]])
    s = Session.from_dataset(ds, encoder)
    print(s.attribute_source, s.proposals.types.head(), s.proposals.values.head(8), sep="\n")
    assert s.proposals.types["type"].iloc[0] == "color"
    assert {"orange", "green"} & set(s.proposals.values["value"].head(5))
    assert s.attribute_source.startswith("built-in vocabulary, proposed ['color'")
    assert "color" in s.table.columns and s.attributes.types[-1] == "class"
    cmp = s.slices(["color", "class"])
    print(cmp, cmp.table.to_string(), sep="\n")
    assert {"green triangle", "orange square"} <= names(cmp.worst(4, "text_prob"))


def test_vit_b32_from_a_folder_offline_to_the_dashboard(real_size_hub, tmp_path):
    """Real model size through the offline hub cache: 300 files, 512-d, the dashboard built. The
    weights are random, so the figures mean nothing here; the flow and the payloads are checked."""
    from drml_widgets import ClipEncoder
    from drml_widgets.widgets import Dashboard

    world = load_shapes_world(n=300, seed=5)
    folder = world.to_folder(tmp_path / "shapes")
    encoder = ClipEncoder("ViT-B-32", pretrained="openai")
    s = Session.from_folder(folder, encoder, metadata=folder / "metadata.csv")
    assert s.image_emb.shape == (300, 512) and s.text_emb.shape[1] == 512
    assert s.encoder.spec.identity["weights_sha256"] == real_size_hub.sha256
    dash = Dashboard(s)
    gap = dash.gap
    assert gap.points.dtype == np.uint16 and gap.points.shape == (gap.n_images + gap.n_texts, 2)  # quantised for the wire
    assert len(dash.slices.rows) == len(s.slices(dash.slices.by).table)
    assert s.methods()["applies"].all()
    dash.close()
