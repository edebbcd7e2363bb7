"""Rectification's cost to the slices it does not target (issue 25): read before the head changes,
kept within its bound by the guard, and named when it cannot be kept."""

import warnings

import numpy as np
import pandas as pd
import pytest
from drml_widgets.diagnose.heads import train_head
from drml_widgets.diagnose.rectify import fit_rectified
from drml_widgets.diagnose.rectify_guard import GuardData, drop_bound, guarded_fit, implied_labels, warn_cost
from drml_widgets.data.shapes_presets import SLICE_BY

BY = ["color", "shape"]
TARGET = [{"color": "cyan", "shape": "square"}]


def near_colour_world(seed=0):
    """Embeddings where cyan and blue share one direction (told apart by a small second one) and
    the head learnt that direction as 'triangle': rectifying cyan squares by their text alone
    pushes the shared direction to 'square' and takes the blue triangles with it."""
    rng = np.random.default_rng(seed)
    colours = {"cyan": [1, 0.4, 0, 0], "blue": [1, -0.4, 0, 0], "red": [0, 0, 1, 0], "green": [0, 0, 0, 1]}

    def draw(rows, gap=0.0):
        table = pd.DataFrame(rows, columns=BY)
        x = np.array([[0.3 * (1 if s == "square" else -1), *colours[c], gap] for c, s in rows], np.float32)
        x += rng.normal(0, 0.1, x.shape).astype(np.float32)
        return x, (table["shape"] == "square").to_numpy().astype(np.int64), table

    train_rows = [("cyan", "triangle")] * 150 + [("blue", "triangle")] * 150 + [("red", "square")] * 150 + \
        [("green", "square")] * 150
    train, val = draw(train_rows), draw(train_rows[::3])
    test_rows = [(c, s) for c in colours for s in ("triangle", "square")] * 40
    text = draw(test_rows, gap=0.5)  # prompts: the same directions, across a modality gap
    held = np.arange(len(test_rows)) % 5 == 0
    head = train_head(train[0], train[1], val[0], val[1], classes=["triangle", "square"], epochs=30)
    return head, train, val, draw(test_rows), text, held


def fit_for(head, text, held):
    rows = (text[2]["color"] == "cyan").to_numpy() & (text[2]["shape"] == "square").to_numpy()

    def fit(extra):
        train = (text[0][rows & ~held], text[1][rows & ~held])
        if extra is not None:
            train = tuple(map(np.concatenate, zip(train, extra)))
        return fit_rectified(head, train, (text[0][rows & held], text[1][rows & held]), mode="text", epochs=40,
                             lr=1e-2)
    return fit


def accuracy(head, data, color, shape):
    x, y, table = data
    rows = ((table["color"] == color) & (table["shape"] == shape)).to_numpy()
    return float((head.predict(x[rows]) == y[rows]).mean())


def test_unguarded_rectification_harms_the_near_colour_and_the_guard_keeps_it_within_its_bound():
    head, train, val, test, text, held = near_colour_world()
    data = GuardData(val, train, None)
    fit = fit_for(head, text, held)
    before = accuracy(head, test, "blue", "triangle")
    bare, _, _, bare_cost = guarded_fit(head, fit, data, BY, TARGET, guard=False)
    kept, _, _, cost = guarded_fit(head, fit, data, BY, TARGET)
    blue = {"color": "blue", "shape": "triangle"}
    # unguarded: the near colour falls (as does the target's own colour), and the check read on
    # validation images names both before any head changed
    assert before - accuracy(bare, test, **blue) > 0.1
    assert {"color": "cyan", "shape": "triangle"} in bare_cost.loc[bare_cost["harmed"], BY].to_dict("records")
    assert blue in bare_cost.loc[bare_cost["harmed"], BY].to_dict("records")
    assert (bare_cost["source"] == "validation images").all()
    # guarded: the harmed slices' own examples join the batches; they stay within their bound, the target still rises
    assert not cost["harmed"].any() and blue in cost.loc[cost["guarded"], BY].to_dict("records")
    assert before - accuracy(kept, test, **blue) <= drop_bound(80, before)
    assert accuracy(kept, test, "cyan", "square") > accuracy(head, test, "cyan", "square") + 0.3
    with pytest.warns(UserWarning, match=r"color=blue, shape=triangle 1.000 -> 0.\d+ \(-\d+ points on 50 validation"):
        warn_cost(bare_cost, BY)


def test_a_slice_without_validation_images_is_read_on_its_other_images_against_its_implied_class():
    head, train, val, test, text, held = near_colour_world()
    drop_blue = val[2]["color"] != "blue"
    data = GuardData(tuple(part[drop_blue.to_numpy()] for part in val[:2]) + (val[2][drop_blue],), None,
                     (test[0], implied_labels(test[2], text[2].assign(label=text[1]), BY), test[2]),
                     np.arange(len(test[0])) // 8 % 2 == 0)  # every other round of the 8 combinations
    _, _, _, cost = guarded_fit(head, fit_for(head, text, held), data, BY, TARGET, guard=False)
    blue = cost[(cost["color"] == "blue") & (cost["shape"] == "triangle")].iloc[0]
    assert blue["source"] == "other images" and blue["harmed"] and blue["n"] == 20


def test_the_bundled_world_is_rectified_at_defaults_without_naming_any_slice(drml_session):
    s = drml_session
    failing = s.find_failing_slices(SLICE_BY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cost warning would fail here
        result = s.rectify(failing)
    try:
        assert len(result.cost) and not result.cost["harmed"].any() and not result.cost["guarded"].any()
        assert result.costs() == [] and "costs" not in result.describe()
        assert result.image[result.image["targeted"]]["image_acc_after"].min() > 0.9
    finally:
        s.undo()


def test_a_guarded_rectification_is_one_version_and_undoes_exactly(drml_session):
    s = drml_session
    start, weights = s.version, s.head.logits(s.image_emb[:20])
    result = s.rectify(TARGET, mode="text", epochs=3)
    assert s.version == start + 1 and {"acc_before", "acc_after", "drop", "bound", "harmed"} <= set(result.cost.columns)
    s.undo()
    assert s.version == start and np.array_equal(s.head.logits(s.image_emb[:20]), weights)


def test_the_bound_widens_for_small_slices_and_a_mixed_slice_implies_no_class():
    bounds = drop_bound(np.array([5, 50, 5000]), np.array([0.5, 0.9, 1.0]))
    assert bounds[0] > bounds[1] > bounds[2] == pytest.approx(0.03)
    mixed = pd.DataFrame({"c": ["u", "u"], "label": [0, 1]})  # a slice of both classes implies none
    assert implied_labels(pd.DataFrame({"c": ["u"]}), mixed, ["c"]).tolist() == [-1]


def test_a_dry_run_tells_what_a_run_would_do_and_cost_and_leaves_the_head_as_it_was(drml_session):
    s = drml_session
    start, weights, last = s.version, s.head.logits(s.image_emb[:20]), s.last_rectify
    preview = s.rectify(TARGET, mode="text", epochs=3, dry_run=True)
    assert not preview.applied and preview.version == start and "a dry run" in preview.describe()
    assert s.version == start and s.last_rectify is last
    assert np.array_equal(s.head.logits(s.image_emb[:20]), weights)
    done = s.rectify(TARGET, mode="text", epochs=3)
    try:
        assert done.applied and done.version == start + 1
        pd.testing.assert_frame_equal(preview.image, done.image)
        pd.testing.assert_frame_equal(preview.cost, done.cost)
    finally:
        s.undo()
