import numpy as np
import pandas as pd
import pytest

from drml_widgets.diagnose.influence import attribute_influence
from drml_widgets.errors import InputError
from drml_widgets.diagnose.slices import (SliceComparison, all_slices, calibrate_slices, compare_slices, flag_failing,
                                         image_slice_scores, text_slice_scores)
from drml_widgets.prompts import AttributeSet, PromptSpec


def test_a_slice_without_images_shows_zero_not_a_crash():
    prompts = pd.DataFrame({"color": ["red", "blue", "pink"], "label": [0, 0, 0]})
    text = text_slice_scores(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]), prompts, ["color"])
    images = pd.DataFrame({"color": ["red", "red", "blue", "blue"]})
    image = image_slice_scores(np.array([0, 0, 1, 0]), np.zeros(4, int), images, ["color"])
    table = compare_slices(text, image, ["color"]).table.set_index("color")
    assert table.loc["pink", "n_images"] == 0
    assert table.loc["red", "image_acc"] == 1.0 and table.loc["blue", "image_acc"] == 0.5


def test_all_slices_marginalises_every_subset():
    prompts = pd.DataFrame({"a": ["x", "x", "y", "y"], "b": ["u", "v", "u", "v"], "label": [0, 0, 0, 0]})
    proba = np.array([[0.9, 0.1], [0.7, 0.3], [0.5, 0.5], [0.1, 0.9]])
    table = all_slices(proba, prompts, ["a", "b"])
    assert len(table) == 2 + 2 + 4
    row = table[(table["a"] == "y") & (table["b"] == "*")].iloc[0]
    assert row["text_prob"] == pytest.approx(0.3) and row["order"] == 1
    assert table["text_prob"].is_monotonic_increasing


def test_all_slices_marks_types_the_images_lack():
    prompts = pd.DataFrame({"a": ["x", "y"], "b": ["u", "u"], "label": [0, 0]})
    images = pd.DataFrame({"a": ["x", "y", "y"]})
    table = all_slices(np.array([[0.8, 0.2], [0.3, 0.7]]), prompts, ["a", "b"],
                       np.array([0, 0, 1]), np.zeros(3, int), images)
    b_only = table[(table["a"] == "*")]
    assert (b_only["n_images"] == 0).all()
    assert table.loc[(table["a"] == "y") & (table["b"] == "*"), "n_images"].item() == 2


def test_missing_slice_attribute_is_named():
    with pytest.raises(InputError, match=r"\[.texture.\].*Fix"):
        text_slice_scores(np.ones((1, 2)) / 2, pd.DataFrame({"color": ["red"], "label": [0]}), ["texture"])


# A toy text world: the embedding counts words; the "head" favours class 0 for orange, large.
ATTRS = AttributeSet({"color": ["orange", "green", "red"], "size": ["small", "large"],
                      "shape": ["triangle", "square"]})
SPEC = PromptSpec(["{size} {color} {shape}."])
WORDS = ["orange", "green", "red", "small", "large", "triangle", "square"]
WEIGHTS = np.array([2.0, -1.5, 0.0, -0.3, 0.6, 1.0, -1.0])


def embed(texts):
    return np.array([[t.replace(".", "").split().count(w) for w in WORDS] for t in texts], dtype=float)


def proba(emb):
    p = 1 / (1 + np.exp(-(emb @ WEIGHTS)))
    return np.stack([p, 1 - p], axis=1)


def test_drml_influence_ranks_values_by_their_pull():
    df = attribute_influence(ATTRS, SPEC, embed, proba, target=0)
    colours = df[df["attribute"] == "color"]
    assert colours["value"].tolist() == ["orange", "red", "green"]
    assert colours["influence"].iloc[0] > 0 > colours["influence"].iloc[-1]
    assert (df["std_error"] == 0).all() and (df["method"] == "drml").all()


def test_exact_shapley_is_efficient():
    """Shapley values of one combination add up to v(all) - v(none); averaged per value here,
    so check the sum of per-type means over a single-combination attribute set."""
    attrs = AttributeSet({"color": ["orange"], "size": ["large"], "shape": ["triangle"]})
    df = attribute_influence(attrs, SPEC, embed, proba, target=0, method="shapley")
    full = proba(embed(["large orange triangle."]))[0, 0]
    empty = proba(embed(["a photo."]))[0, 0]
    assert df["influence"].sum() == pytest.approx(full - empty)
    assert (df["method"] == "shapley (exact)").all()


def test_sampled_shapley_agrees_with_exact_within_its_error():
    exact = attribute_influence(ATTRS, SPEC, embed, proba, target=0, method="shapley")
    sampled = attribute_influence(ATTRS, SPEC, embed, proba, target=0, method="shapley",
                                  exact_max_types=2, n_permutations=3000, seed=1)
    joined = exact.merge(sampled, on=["attribute", "value"], suffixes=("_exact", "_sampled"))
    moves = joined["value"] != "red"  # "red" has no weight in the toy head: exactly 0, no spread
    assert (joined.loc[moves, "std_error_sampled"] > 0).all()
    assert (joined.loc[~moves, ["influence_sampled", "std_error_sampled"]] == 0).all().all()
    gap = (joined["influence_exact"] - joined["influence_sampled"]).abs()
    assert (gap <= 4 * joined["std_error_sampled"] + 1e-3).all()
    assert sampled["method"].iloc[0].startswith("shapley (3000 permutations)")


def test_influence_refuses_explosions_and_unknown_methods():
    with pytest.raises(ValueError, match="max_prompts"):
        attribute_influence(ATTRS, SPEC, embed, proba, target=0, max_prompts=5)
    with pytest.raises(ValueError, match="method must be"):
        attribute_influence(ATTRS, SPEC, embed, proba, target=0, method="lime")


def test_failing_slices_calibrate_text_to_accuracy_and_compare_with_the_rest_of_the_class():
    # Text probabilities sit high for every slice (a head that is confident everywhere), yet one
    # slice's images are mostly wrong: a fixed 0.5 flags nothing, the calibrated rule flags it.
    table = pd.DataFrame({"color": ["red", "blue", "green", "cyan"], "text_prob": [0.66, 0.8, 0.9, 0.95],
                          "image_acc": [0.35, 0.9, 1.0, 1.0], "n_images": [20, 20, 20, 20]})
    prompts = pd.DataFrame({"color": ["red", "blue", "green", "cyan"], "label": [0, 0, 0, 0]})
    labels = np.zeros(80, int)
    pred = np.concatenate([np.r_[np.zeros(7), np.ones(13)], np.r_[np.zeros(18), np.ones(2)], np.zeros(40)]).astype(int)
    cmp = SliceComparison(table, ["color"], 1.0, 1.0)
    assert not (table["text_prob"] < 0.5).any()
    flagged = flag_failing(cmp, prompts, pred, labels, 1)
    assert flagged["color"].tolist() == ["red"]
    assert flagged["rest_acc"].item() == pytest.approx(58 / 60) and flagged["drop"].item() > 0.3
    assert calibrate_slices(table).fitted and calibrate_slices(table.iloc[:1]).fitted is False
