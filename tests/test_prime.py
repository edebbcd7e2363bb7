"""PRIME on the shapes world: CLIP tagging, the biased head's modes, a planted black box, bad input."""

import numpy as np
import pandas as pd
import pytest

from drml_widgets.data.shapes import ATTRIBUTES, sample_attributes
from drml_widgets.methods.prime import (MODE_COLUMNS, PrimeError, description_quality, find_failure_modes,
                                        generalisation)
from drml_widgets.methods.tagging import (TagError, TagVocabulary, UnknownTagError, apply_thresholds,
                                          calibrate_thresholds, check_tag_table, tag_scores, tagging_accuracy,
                                          tags_from_table)
from drml_widgets.prompts.generate import AttributeSet

TAG_TYPES = ("color", "size", "position")
CLASSES = ["triangle", "square"]


@pytest.fixture(scope="module")
def vocabulary():
    attrs = AttributeSet({k: list(ATTRIBUTES[k]) for k in TAG_TYPES})
    return TagVocabulary.from_attributes(attrs, ["a {size} {color} thing in the {position}."])


@pytest.fixture(scope="module")
def clip_scores(image_emb, encoder, vocabulary):
    return tag_scores(image_emb, vocabulary, encoder)


@pytest.fixture(scope="module")
def halves(world):
    """The test split (every combination) cut in two: search on one half, check on the other."""
    test = np.flatnonzero(world.table["split"].to_numpy() == "test")
    test = np.random.default_rng(0).permutation(test)
    return np.sort(test[: len(test) // 2]), np.sort(test[len(test) // 2:])


def planted_model(table: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A black box that errs on 80% of small triangles in the upper left, and nowhere else."""
    labels = table["shape"].map(CLASSES.index).to_numpy()
    group = np.flatnonzero((table["shape"] == "triangle") & (table["size"] == "small")
                           & (table["position"] == "upper left"))
    wrong = np.random.default_rng(seed).choice(group, int(round(0.8 * len(group))), replace=False)
    pred = labels.copy()
    pred[wrong] = 1 - pred[wrong]
    return pred, labels


def test_clip_tagging_gets_colour_right(world, clip_scores, vocabulary):
    truth = tags_from_table(world.table, TAG_TYPES)
    report = tagging_accuracy(apply_thresholds(clip_scores), truth, vocabulary.groups).set_index("group")
    print("CLIP tagging, share of images with exactly the true tags:", report["accuracy"].round(4).to_dict())
    assert report.loc["color", "accuracy"] >= 0.90


def test_calibrated_thresholds_keep_colour_right(world, clip_scores, vocabulary):
    truth = tags_from_table(world.table, TAG_TYPES)
    thresholds = calibrate_thresholds(clip_scores.iloc[:1000], truth.iloc[:1000])
    tags = apply_thresholds(clip_scores.iloc[1000:], thresholds)
    report = tagging_accuracy(tags, truth.iloc[1000:].reset_index(drop=True), vocabulary.groups).set_index("group")
    print("calibrated on 1,000 images, accuracy on the rest:", report["accuracy"].round(4).to_dict())
    assert report.loc["color", "accuracy"] >= 0.90


def test_biased_head_modes_are_its_shortcut_colours(drml_session, image_emb, clip_scores, halves, encoder):
    found, held = halves
    pred = drml_session.head.predict(image_emb)
    labels = drml_session.labels
    tags = apply_thresholds(clip_scores)
    result = find_failure_modes(tags.iloc[found], pred[found], labels[found], CLASSES)
    print(result)
    modes = set(zip(result.modes["class"], result.modes["tags"]))
    assert ("square", ("orange",)) in modes
    assert ("triangle", ("green",)) in modes

    check = generalisation(result, tags.iloc[held], pred[held], labels[held])
    print(check.to_string())
    holds = dict(zip(zip(check["class"], check["tags"]), check["holds"]))
    assert holds[("square", ("orange",))] and holds[("triangle", ("green",))]

    quality = description_quality(result, image_emb[found], encoder)
    print(quality.to_string())
    green = quality[[m == ("triangle", ("green",)) for m in zip(quality["class"], quality["tags"])]].iloc[0]
    assert green["sentence"] == "a photo of a green triangle."
    assert green["auroc"] >= 0.9


def find_planted_pair(tags: pd.DataFrame, table: pd.DataFrame):
    """PRIME on the planted black box: {small, upper left} is a triangle mode, neither tag alone is."""
    pred, labels = planted_model(table, seed=0)
    result = find_failure_modes(tags, pred, labels, CLASSES)
    print(result)
    triangle = result.modes[result.modes["class"] == "triangle"]
    assert ("small", "upper left") in set(triangle["tags"])
    assert not set(triangle["tags"]) & {("small",), ("upper left",)}
    return result, triangle


def test_planted_black_box_mode_is_minimal_and_generalises(world):
    """Tags are the ground-truth attributes."""
    tags = tags_from_table(world.table, TAG_TYPES)
    result, triangle = find_planted_pair(tags, world.table)
    assert all({"small", "upper left"} <= set(t) for t in triangle["tags"])
    assert (result.modes["class"] == "triangle").all()

    heldout = sample_attributes(10_000, seed=1)
    held_pred, held_labels = planted_model(heldout, seed=1)
    check = generalisation(result, tags_from_table(heldout, TAG_TYPES), held_pred, held_labels)
    print(check.to_string())
    assert check["holds"].all()
    pair = check[[t == ("small", "upper left") for t in check["tags"]]].iloc[0]
    assert pair["heldout_accuracy"] <= pair["heldout_class_accuracy"] - 0.3


def random_world(n=3000, n_tags=12, seed=0):
    rng = np.random.default_rng(seed)
    tags = pd.DataFrame(rng.random((n, n_tags)) < rng.uniform(0.15, 0.6, n_tags),
                        columns=[f"t{i}" for i in range(n_tags)])
    labels = rng.integers(0, 2, n)
    hard = tags["t0"] & tags["t1"] & (labels == 0) | tags["t2"] & tags["t3"] & tags["t4"] & (labels == 1)
    wrong = rng.random(n) < np.where(hard, 0.7, 0.08)
    return tags, np.where(wrong, 1 - labels, labels), labels


def test_fast_search_equals_naive_filter():
    tags, pred, labels = random_world()
    kwargs = dict(l=3, s=25, a=0.2, b={2: 0.05, 3: 0.03})
    fast = find_failure_modes(tags, pred, labels, ["a", "b"], **kwargs)
    naive = find_failure_modes(tags, pred, labels, ["a", "b"], search="naive", **kwargs)
    print(fast)
    assert len(fast.modes) > 0
    pd.testing.assert_frame_equal(fast.modes, naive.modes)
    assert fast.n_evaluated == naive.n_evaluated  # both count the sets whose group reaches s
    greedy = find_failure_modes(tags, pred, labels, ["a", "b"], search="greedy", beam=5, **kwargs)
    assert set(greedy.modes["description"]) <= set(fast.modes["description"])
    assert "a: t0, t1" in set(greedy.modes["description"])


def test_no_failure_mode_gives_an_empty_typed_frame():
    tags, _, labels = random_world()
    result = find_failure_modes(tags, labels, labels, ["a", "b"])
    assert result.modes.empty
    assert result.modes.dtypes.astype(str).to_dict() == MODE_COLUMNS
    held = generalisation(result, tags, labels, labels)
    assert held.empty and "heldout_accuracy" in held.columns
    assert description_quality(result, np.eye(len(tags), 4), lambda texts: np.ones((len(texts), 4))).empty


def test_bad_input_is_named():
    tags, pred, labels = random_world(n=400)
    with pytest.raises(UnknownTagError, match="purple"):
        find_failure_modes(tags, pred, labels, vocabulary=["t0", "purple"])
    with pytest.raises(PrimeError, match="399 values but there are 400"):
        find_failure_modes(tags, pred[:-1], labels)
    with pytest.raises(PrimeError, match=r"Classes \['c'\] have no images"):
        find_failure_modes(tags, pred, labels, ["a", "b", "c"])
    with pytest.raises(PrimeError, match="larger than any group"):
        find_failure_modes(tags, pred, labels, s=10_000, min_count=1)
    with pytest.raises(PrimeError, match="There is no mode 99"):
        find_failure_modes(tags, pred, labels, s=10, a=0.1).members(99)
    with pytest.raises(PrimeError, match="size \\[5\\]"):
        find_failure_modes(tags, pred, labels, l=5)
    with pytest.raises(UnknownTagError, match="purple"):
        apply_thresholds(tags.astype(float), {"purple": 0.3})
    with pytest.raises(TagError, match="no images with"):
        calibrate_thresholds(tags.astype(float)[["t0"]], pd.DataFrame({"t0": np.zeros(400, bool)}))
    with pytest.raises(TagError, match="only True/False"):
        check_tag_table(tags.astype(float) * 0.5)
    with pytest.raises(TagError, match="Fix"):
        TagVocabulary({"red": []})


def test_an_s_larger_than_every_group_is_refused_with_a_value_that_works():
    """With the default min_count (= s) no tag is a candidate; the search used to return 0 modes silently."""
    tags = pd.DataFrame({"dark": [True] * 40 + [False] * 60, "blur": [True, False] * 50})
    labels = np.array(["cat"] * 70 + ["dog"] * 30)
    with pytest.raises(PrimeError) as refused:
        find_failure_modes(tags, labels[::-1], labels, s=80)
    message = str(refused.value)
    print(message)
    assert "s=80 is larger than any group" in message
    assert "tag 'dark' in class 'cat', has 40 images" in message and "{'cat': 70, 'dog': 30}" in message
    assert "Fix: lower s to at most 40, e.g. s=20." in message
    with pytest.raises(PrimeError, match=r"min_count=50 leaves no candidate tag.*at most 40"):
        find_failure_modes(tags, labels[::-1], labels, s=10, min_count=50)
    with pytest.raises(PrimeError, match="No image carries any tag"):
        find_failure_modes(tags & False, labels[::-1], labels, s=10)


def blind_to(x: np.ndarray, table: pd.DataFrame, attribute: str) -> np.ndarray:
    """Embeddings with the directions that separate ``attribute``'s values projected out: what a
    CLIP that cannot see the attribute gives (the CLIP bundled before November 2026 did not see
    position; this one does)."""
    means = np.stack([x[(table[attribute] == v).to_numpy()].mean(axis=0) for v in ATTRIBUTES[attribute]])
    basis, _ = np.linalg.qr((means[1:] - means[0]).T)
    blind = x - (x @ basis) @ basis.T
    return blind / np.linalg.norm(blind, axis=1, keepdims=True)


def test_prime_with_clip_tags_builds_no_mode_on_an_unreliable_tag_type(world, image_emb, encoder, vocabulary,
                                                                       halves):
    # A CLIP blind to position still tags every image with one. Before the check, PRIME reported a
    # false {large, upper left} mode on such tags that even held on held-out images; now the tagger
    # names the type, says why, and leaves it out.
    from drml_widgets.methods.tagging import group_reliability, tag_images

    search = halves[0]
    blind = blind_to(image_emb[search], world.table.iloc[search], "position")
    with pytest.warns(UserWarning, match=r"\['position'\] cannot be trusted"):
        tags = tag_images(blind, vocabulary, encoder)
    reliability = group_reliability(tag_scores(blind, vocabulary, encoder), vocabulary)
    print(reliability)
    assert reliability.unreliable == ["position"]
    assert not set(ATTRIBUTES["position"]) & set(tags.columns)
    pred, labels = planted_model(world.table.iloc[search], seed=0)
    result = find_failure_modes(tags, pred, labels, CLASSES, s=10)
    print(result.modes[["class", "tags", "n_images", "accuracy"]].to_string())
    assert not {t for mode in result.modes["tags"] for t in mode} & set(ATTRIBUTES["position"])


def test_prime_with_clip_tags_finds_the_planted_pair(world, image_emb, encoder, vocabulary):
    """The bundled CLIP sees position: its tags pass the check and PRIME recovers {small, upper left}
    as the table's true tags do, with neither tag alone."""
    from drml_widgets.methods.tagging import tag_images

    tags = tag_images(image_emb, vocabulary, encoder)
    assert set(ATTRIBUTES["position"]) <= set(tags.columns)
    find_planted_pair(tags, world.table)
