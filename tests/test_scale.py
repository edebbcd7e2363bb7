"""Every kernel at 100,000 synthetic 512-d images (tests/scale_data.py): it runs, its results have
the right shapes, and it finds the structure planted in the data. Times and memory at 10 k to 1 M
are in benchmarks/bench_scale.py; nothing here is timed. Training kernels run one or two epochs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from drml_widgets.diagnose.gap import GapCloser, gap_stats
from drml_widgets.diagnose.heads import train_head
from drml_widgets.diagnose.influence import attribute_influence
from drml_widgets.diagnose.rectify import HeadVersions, fit_rectified, held_out_templates, rectify_sets
from drml_widgets.diagnose.slices import (all_slices, compare_slices, flag_failing, image_slice_scores, slices_mask,
                                          text_slice_scores)
from drml_widgets.diagnose.transfer import cross_modal_transfer
from drml_widgets.diagnose.zero_shot import tag_attributes
from drml_widgets.methods.lbee import find_hard_clusters, split_hard_easy
from drml_widgets.methods.lbee.clusters import MAX_CLUSTER_POINTS
from drml_widgets.methods.llm2loss import fit_loss_predictor
from drml_widgets.methods.prime import find_failure_modes
from drml_widgets.methods.tagging import tags_from_table
from drml_widgets.prompts.generate import AttributeSet, generate_prompts
from drml_widgets.session import Session
from scale_data import ATTRIBUTES, CLASSES, PLANTED, SPEC, TYPES, USUAL_COLOR, scale_data

N = 100_000


@pytest.fixture(scope="module")
def data():
    return scale_data(N, seed=0)


@pytest.fixture(scope="module")
def splits(data):
    split = data.table["split"].to_numpy()
    return {s: split == s for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def head(data, splits):
    tr, va = splits["train"], splits["val"]
    return train_head(data.image_emb[tr], data.labels[tr], data.image_emb[va], data.labels[va], classes=CLASSES,
                      epochs=1)


@pytest.fixture(scope="module")
def prompts(data):
    frame = generate_prompts(ATTRIBUTES, SPEC, "class", CLASSES)
    return frame, data.encoder.encode_texts(frame["prompt"].tolist())


def usual(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose colour is their class's usual one (the shortcut a head learns)."""
    return (frame["color"] == frame["class"].map(USUAL_COLOR)).to_numpy()


def test_the_head_learns_the_planted_shortcut(data, splits, head):
    test = splits["test"]
    right = head.predict(data.image_emb[test]) == data.labels[test]
    typical = usual(data.table[test])
    assert len(right) == test.sum() > 25_000
    assert right[typical].mean() > 0.9 > 0.7 > right[~typical].mean()


def test_gap_statistics_at_scale(data):
    stats = gap_stats(data.image_emb, data.caption_emb, data.labels, data.labels)
    assert len(stats.distributions) == 4 * N + 2 * len(CLASSES) + data.image_emb.shape[1]
    assert stats.summary.set_index(["statistic", "level"]).loc[("magnitude", "pair"), "n"] == N
    # The mean gap is the planted gap direction.
    planted = data.encoder.directions["<gap>"]
    assert float(stats.mean_gap @ planted / np.linalg.norm(stats.mean_gap)) > 0.9
    closer = GapCloser.fit(data.image_emb, data.caption_emb, np.arange(1000), np.arange(1000))
    assert closer.transform(data.image_emb, "image", rows=np.arange(10)).shape == (10, 512)


def test_transfer_at_scale(data):
    report = cross_modal_transfer(data.image_emb, data.caption_emb, data.labels, epochs=1)
    table = report.table.set_index(["train_on", "close_gap", "eval_on"])
    assert len(table) == 8
    assert table.loc[("image", False, "image"), "accuracy"] > 0.7
    assert table.loc[("text", True, "text"), "accuracy"] > 0.7


def test_slices_every_subset_at_scale(data, splits, head, prompts):
    frame, text_emb = prompts
    test = splits["test"]
    types = ATTRIBUTES.types
    out = all_slices(head.predict_proba(text_emb), frame, types, head.predict(data.image_emb[test]),
                     data.labels[test], data.table[test])
    expected = sum(math.prod(len(ATTRIBUTES.values[t]) for t in subset)
                   for r in range(1, len(types) + 1) for subset in itertools.combinations(types, r))
    assert len(out) == expected
    colours = out[(out["order"] == 1) & (out["color"] != "*")]
    assert colours["n_images"].sum() == test.sum()
    pairs = out[(out["order"] == 2) & (out["color"] != "*") & (out["class"] != "*")]
    assert not usual(pairs.nsmallest(3, "text_prob")).any()


def test_failing_slices_are_the_planted_ones(data, splits, head, prompts):
    frame, text_emb = prompts
    test, by = splits["test"], ["color", "class"]
    pred = head.predict(data.image_emb[test])
    cmp = compare_slices(text_slice_scores(head.predict_proba(text_emb), frame, by),
                         image_slice_scores(pred, data.labels[test], data.table[test], by), by)
    failing = flag_failing(cmp, frame, pred, data.labels[test], len(CLASSES))
    assert len(failing) >= 3 and not usual(failing).any()
    assert failing["n_images"].min() > 50


def test_influence_at_scale(data, head):
    out = attribute_influence(ATTRIBUTES, SPEC, data.encoder.encode_texts, head.predict_proba, target=0)
    colours = out[out["attribute"] == "color"]
    assert colours.iloc[0]["value"] == USUAL_COLOR["c0"]


def test_rectify_at_scale(data, splits, head, prompts):
    frame, text_emb = prompts
    target = [{"class": "c0", "color": "green"}]
    in_slice = slices_mask(frame, target)
    sets = rectify_sets("replay", text_emb, frame["label"].to_numpy(), in_slice,
                        held_out_templates(frame["template"], 0.2, 0),
                        (data.image_emb[splits["train"]], data.labels[splits["train"]]),
                        (data.image_emb[splits["val"]], data.labels[splits["val"]]))
    assert len(sets.replay[0]) == splits["train"].sum()
    new, history, _ = fit_rectified(head, sets.slice_text, sets.slice_text_val, replay=sets.replay,
                                    keep_val=sets.keep_val, epochs=1)
    assert list(history["epoch"]) == [0, 1]

    def slice_prob(h):
        p = h.predict_proba(text_emb[in_slice])
        return p[np.arange(len(p)), frame["label"].to_numpy()[in_slice]].mean()

    assert slice_prob(new) > slice_prob(head)


def test_prime_finds_the_planted_mode(data, splits):
    test = splits["test"]
    tags = tags_from_table(data.table.loc[test], TYPES)
    result = find_failure_modes(tags, data.predictions[test], data.labels[test], CLASSES)
    modes = result.modes
    planted = tuple(sorted(v for k, v in PLANTED.items() if k != "class"))
    found = {(c, tuple(sorted(t))) for c, t in zip(modes["class"], modes["tags"])}
    assert (PLANTED["class"], planted) in found
    assert set(modes["class"]) == {PLANTED["class"]}


def test_lbee_clusters_the_planted_failure(data, prompts):
    frame, text_emb = prompts
    split = split_hard_easy(predictions=data.predictions, labels=data.labels)
    result = find_hard_clusters(data.image_emb, split, frame["prompt"].tolist(), text_emb,
                              correct=data.predictions == data.labels, k=3)
    n_easy = int((split == "easy").sum())
    assert result.params["ward_on"]["easy"] == (MAX_CLUSTER_POINTS, n_easy)
    assert "seeded samples" in repr(result)
    assert (result.assignments >= 0).sum() == (split == "hard").sum()
    share = [data.planted[result.assignments == c].mean() for c in result.clusters["cluster"]]
    best = int(np.argmax(share))
    assert share[best] > 2 * data.planted[split == "hard"].mean()
    kept = result.selections.query("method == 'TopS' and cluster == @best")["sentence"]
    assert all(all(word in s for word in PLANTED.values()) for s in kept)


def test_llm2loss_at_scale(data, splits):
    test = splits["test"]
    llm = fit_loss_predictor(data.image_emb, data.losses, data.encoder, members=1, epochs=1, hidden=32)
    predicted = llm.predict_images(data.image_emb[test])["loss"].to_numpy()
    planted = data.planted[test]
    assert len(predicted) == test.sum()
    assert predicted[planted].mean() > 2 * predicted[~planted].mean()
    words = " ".join(PLANTED.values())
    assert llm.compare(f"a {words}.", "a c1 plain grass.", model="regressor")["diff"].item() > 0


def test_zero_shot_tags_at_scale(data):
    tags = tag_attributes(data.image_emb, AttributeSet({"color": ATTRIBUTES.values["color"]}), data.encoder)
    assert (tags.values["color"] == data.table["color"]).mean() > 0.9


def test_session_paths_at_scale(data, head):
    session = Session(data.encoder, data.image_emb, data.table, CLASSES, ATTRIBUTES, SPEC, "class")
    session.head, session.versions = head, HeadVersions(head)
    failing = session.failing_slices(["color", "class"])
    assert len(failing) >= 3 and not usual(failing).any()
    assert session.gap().summary["n"].max() == (data.table["split"] == "test").sum()
    assert int(session.all_slices(max_order=1)["order"].max()) == 1
