"""Attribute proposals: the built-in vocabulary finds what the biased shapes head gets wrong."""

import numpy as np
import pytest

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.diagnose.heads import train_head
from drml_widgets.diagnose.proposals import AttributeProposals, ProposalError, propose_attributes
from drml_widgets.errors import DrmlError, EmbeddingError
from drml_widgets.prompts.generate import AttributeSet
from drml_widgets.prompts.vocabulary import VocabularyError

TOY_VOCAB = {"types": {"color": {"values": ["red", "blue", "green"]},
                       "weather": {"template": "in {} weather", "placement": "after", "values": ["sunny", "rainy"]}}}


def toy_encoder(texts):
    """Captions naming red/blue/green map to the first three axes, anything else to the fourth."""
    words = ["red", "blue", "green"]
    return np.stack([np.eye(4)[next((i for i, w in enumerate(words) if w in t), 3)] for t in texts])


@pytest.fixture(scope="module")
def biased_errors():
    """The biased linear head of the shapes world (as Session.train_head trains it) and its
    errors on the test split."""
    world = load_shapes_world(n=4000, seed=0)
    encoder = ClipEncoder("shapes")
    x = encoder.encode_images(world.images)
    table, y = world.table, world.table["label"].to_numpy()
    split = {s: (table["split"] == s).to_numpy() for s in ("train", "val", "test")}
    head = train_head(x[split["train"]], y[split["train"]], x[split["val"]], y[split["val"]], classes=world.classes)
    test = split["test"]
    return x[test], head.predict(x[test]) == y[test], y[test], encoder


def test_colour_is_the_top_type_for_the_biased_heads_errors(biased_errors):
    x, correct, labels, encoder = biased_errors
    props = propose_attributes(x, correct, encoder, labels=labels)
    # Measured (n=4000, 667 errors in 3,465 test images): colour 0.21, then background 0.023 and
    # viewpoint 0.022; top values orange 0.14, green 0.074, olive green 0.059, then "green screen"
    # (a background tag that fires on green shapes) 0.023.
    assert props.types["type"].iloc[0] == "color", props.types.head()
    assert props.types["score"].iloc[0] > 5 * props.types["score"].iloc[1], props.types.head()
    top3 = props.values.head(3)
    assert {"orange", "green"} <= set(top3["value"]), top3
    assert (top3["type"] == "color").all() and top3["significant"].all(), top3
    orange = props.values.set_index(["type", "value"]).loc[("color", "orange")]
    assert orange["error_rate_with"] > 2 * orange["error_rate_without"]
    assert len(props.values) == props.vocabulary.n_values and props.tags.values.shape == (len(x), 18)
    attrs = props.attribute_set(n_types=1, n_values=3)
    assert isinstance(attrs, AttributeSet) and attrs.types == ["color"] and "orange" in attrs.values["color"]
    assert props.template(n_types=1) == "a photo of a {color} {class}."
    n_errors = int((~np.asarray(correct)).sum())
    assert repr(props).startswith(f"AttributeProposals({n_errors} errors among {len(x)} images; top types: color")


def test_errors_are_compared_within_each_class():
    # Red is fatal for class 0 and harmless for class 1, blue fatal for class 1; class 0 holds 2 of
    # the 3 errors, so its weight is 2/3.
    x = np.eye(4)[[0, 0, 1, 2, 0, 0, 1, 2]]
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    correct = [False, False, True, True, True, True, False, True]
    props = propose_attributes(x, correct, toy_encoder, labels=labels, vocabulary=TOY_VOCAB).values
    best = props.iloc[0]
    assert (best["type"], best["value"]) == ("color", "red") and best["score"] == pytest.approx(2 / 3, abs=0.01)
    assert best["j"] == pytest.approx(2 / 3 - 1 / 3 * 2 / 3, abs=0.01)  # signed, red's harmlessness in class 1 counts
    assert props.set_index("value").loc["blue", "score"] == pytest.approx(1 / 3, abs=0.01)


def test_a_value_on_few_images_cannot_top_the_list():
    # Green marks 2 of 40 errors (all its images fail); red marks 30 errors and 10 correct images.
    x = np.eye(4)[[2] * 2 + [0] * 30 + [1] * 8 + [0] * 10 + [1] * 50]
    correct = [False] * 40 + [True] * 60
    props = propose_attributes(x, correct, toy_encoder, vocabulary=TOY_VOCAB).values.set_index("value")
    assert props.loc["green", "error_rate_with"] == pytest.approx(1.0, abs=0.01)
    assert props.loc["red", "score"] > 5 * props.loc["green", "score"]


def test_nothing_to_separate_gives_an_empty_typed_result_that_says_why():
    props = propose_attributes(np.eye(4)[[0, 1, 2]], [True, True, True], toy_encoder, vocabulary=TOY_VOCAB)
    assert isinstance(props, AttributeProposals) and props.values.empty and props.types.empty
    assert list(props.values.columns)[:3] == ["type", "value", "score"] and props.values["score"].dtype == float
    assert "all 3 images are classified correctly" in repr(props)
    with pytest.raises(ProposalError, match=r"No proposals to build from: all 3 images .* Fix"):
        props.attribute_set()
    wrong_or_right = propose_attributes(np.eye(4)[[0, 1]], [False, True], toy_encoder, labels=[0, 1],
                                        vocabulary=TOY_VOCAB)
    assert wrong_or_right.values.empty and "no class has both errors and correct images" in wrong_or_right.note


@pytest.mark.parametrize("kwargs, error, match", [
    ({"correct": [True, False]}, ProposalError, r"correct has shape \(2,\) but there are 3 images.*Fix"),
    ({"correct": [0.5, 1, 0]}, ProposalError, r"True/False .*Fix"),
    ({"labels": [0, 1]}, ProposalError, r"labels has shape \(2,\) but there are 3 images.*Fix"),
    ({"labels": [0, None, 1]}, ProposalError, r"missing values"),
    ({"vocabulary": {"types": {"scene": {"values": []}}}}, VocabularyError,
     r"'scene' has no values\. Fix: list at least one value"),
    ({"vocabulary": 3}, ProposalError, r"vocabulary must be a Vocabulary"),
    ({"types": ["mood"]}, VocabularyError, r"Unknown attribute types \['mood'\]"),
    ({"image_emb": np.full((3, 4), np.nan)}, EmbeddingError, r"NaN"),
])
def test_bad_input_is_explained(kwargs, error, match):
    args = dict(image_emb=np.eye(4)[[0, 1, 2]], correct=[False, True, True], encoder=toy_encoder,
                vocabulary=TOY_VOCAB)
    args.update(kwargs)
    with pytest.raises(error, match=match) as info:
        propose_attributes(**args)
    assert isinstance(info.value, DrmlError)
