"""The scorecard: planted failures are what they claim, the protocol scores by its definitions, and a
small run (24 settings, one in the CNN) scores every method on every kept setting; notebook 08
shows its table."""

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from drml_widgets.data.shapes import sample_attributes
from drml_widgets.diagnose.slices import rows_in_slice
from drml_widgets.errors import DrmlError
from drml_widgets.scorecard import Pool, ScorecardError, draw_setting, train_model
from drml_widgets.scorecard.protocol import (contrast, exact_name, failing_recall, near_in, other_side,
                                             precision_at_k, real_failure, truly_failing, values_named)
from drml_widgets.scorecard.run import Scorecard, method_names, run_methods, run_scorecard
from drml_widgets.scorecard.settings import MIN_GAP

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "08_scorecard.ipynb"


@pytest.fixture(scope="module")
def fake_pool():
    """Attributes only (images and embeddings do not matter for what is drawn)."""
    return Pool.from_arrays(sample_attributes(8000, seed=3), np.zeros((8000, 1, 1, 3), np.uint8),
                            np.ones((8000, 4), np.float32))


def _train_truth(pool, s):
    """The drawn rows (training and validation) with their planted-value and slice-class masks."""
    table = pool.table.iloc[np.r_[s.train_rows, s.val_rows]].reset_index(drop=True)
    return table, rows_in_slice(table, s.values), (table[s.class_attr] == s.slice_class).to_numpy()


@pytest.mark.parametrize("seed", range(5))
def test_each_kind_plants_what_it_says(fake_pool, seed):
    rng = np.random.default_rng(seed)
    corr = draw_setting(fake_pool, rng, 0, "correlation", "head")
    table, carry, _ = _train_truth(fake_pool, corr)
    classes = table[corr.class_attr].isin([corr.slice_class, corr.target]).to_numpy()
    share = float((table[corr.class_attr][carry & classes] == corr.target).mean())
    assert abs(share - corr.strength) < 0.06, (corr, share)

    rare = draw_setting(fake_pool, rng, 1, "rare", "head")
    table, carry, in_class = _train_truth(fake_pool, rare)
    assert (carry & in_class).sum() <= round(0.02 * in_class.sum())

    noisy = draw_setting(fake_pool, rng, 2, "noisy", "head")
    table, carry, in_class = _train_truth(fake_pool, noisy)
    labels = np.r_[noisy.train_labels, noisy.val_labels]
    assert (labels[carry & in_class] == noisy.classes.index(noisy.target)).all() and (carry & in_class).any()
    others = ~(carry & in_class)
    assert (labels[others] == table[noisy.class_attr].map(noisy.classes.index).to_numpy()[others]).all()


def test_protocol_definitions():
    truth = np.array([True, True, False, False])
    assert precision_at_k(np.array([0, 2]), truth, k=4) == 0.25  # unfilled slots are misses
    planted = {"color": "orange", "shape": "square"}
    assert exact_name(planted, planted) and not exact_name({"color": "orange"}, planted)
    assert values_named({"color": "orange"}, {"color": "orange"}, "shape", "square")
    assert not values_named({"color": "orange", "shape": "triangle"}, {"color": "orange"}, "shape", "square")
    # A slice and its sub-slice with the same low mean: the larger one explains more.
    whole, part = contrast(np.array([0.2, 0.2]), np.array([30, 10]), total=30 * 0.2 + 70 * 0.9, count=100)
    assert whole > part > 0


def test_bad_requests_are_named():
    with pytest.raises(DrmlError, match="differ in length"):
        Pool.from_arrays(sample_attributes(10), np.zeros((9, 1, 1, 3), np.uint8), np.ones((10, 4)))
    with pytest.raises(ScorecardError, match="Unknown kind"):
        draw_setting(Pool.from_arrays(sample_attributes(100), np.zeros((100, 1, 1, 3), np.uint8),
                                      np.ones((100, 4))), np.random.default_rng(0), 0, "shortcut", "head")
    with pytest.raises(ScorecardError, match="cnn_share"):
        run_scorecard(5, cnn_share=2.0)
    done = subprocess.run([sys.executable, "-m", "drml_widgets", "scorecard", "--settings", "0"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "n_settings must be at least 1" in done.stderr
    done = subprocess.run([sys.executable, "-m", "drml_widgets", "scorecard", "--clip", "shapes-nosy"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "--clip: Unknown model 'shapes-nosy'" in done.stderr


def test_real_failures_and_failing_recall_on_a_constructed_case():
    """Two sides of a correlation fail (orange squares, green triangles; 25 images each, all wrong):
    overall accuracy 0.75, so a slice truly fails at 0.45 or below with at least 20 images."""
    t = pd.DataFrame({"color": np.repeat(["orange", "green", "red", "blue"], 50),
                      "shape": np.tile(np.repeat(["square", "triangle"], 25), 4)})
    wrong = rows_in_slice(t, {"color": "orange", "shape": "square"}) | rows_in_slice(t, {"color": "green",
                                                                                        "shape": "triangle"})
    correct = ~wrong
    failing = truly_failing(t, correct)
    assert (failing == wrong).all()  # orange alone (0.5) and square alone (0.75) do not fail
    # Named, a slice fails as a planted one must: 30 points below the rest of its class (of all, without one).
    assert real_failure(t, correct, {"color": "orange", "shape": "square"}, "shape")
    assert real_failure(t, correct, {"color": "orange"}, "shape")  # 0.5 against the rest's 0.83
    assert not real_failure(t, correct, {"shape": "square"}, "shape") and not real_failure(t, correct, {}, "shape")
    # Naming one side of the correlation recalls half of what truly fails, a wider name no more.
    assert failing_recall(t, failing, {"color": "orange", "shape": "square"}) == 0.5
    assert failing_recall(t, failing, {"color": "orange"}) == 0.5
    assert failing_recall(t, failing, {"color": "red"}) == 0.0
    assert np.isnan(failing_recall(t, np.zeros(len(t), bool), {"color": "red"}))
    # Below 20 test images a slice's accuracy is noise: 10 red images, all wrong, fail nothing.
    few = pd.DataFrame({"color": ["red"] * 10 + ["blue"] * 90})
    assert not truly_failing(few, few["color"] == "blue").any()
    assert not real_failure(few.assign(shape="sq"), (few["color"] == "blue").to_numpy(), {"color": "red"}, "shape")
    results = pd.DataFrame({"model": ["head"] * 2, "method": ["m"] * 2, "kind": ["rare", "rare"],
                            "precision_at_10": [1.0, 0.0], "exact_name": [True, False], "setting": [0, 1],
                            "real_failure": [True, False], "failing_recall": [0.5, 0.25]})
    table = Scorecard(results, pd.DataFrame()).table()
    assert table.loc[("head", "m"), ("real", "all")] == 0.5 and table.loc[("head", "m"), ("recall", "rare")] == 0.375
    # Green triangles are the other side of a correlation planted on orange squares pushed to
    # "triangle": named, they are a miss on that side; orange squares, or a square, are not.
    assert other_side({"color": "green", "shape": "triangle"}, {"color": "orange"}, "shape", "triangle")
    assert not other_side({"color": "orange", "shape": "square"}, {"color": "orange"}, "shape", "triangle")
    assert not other_side({"color": "green", "shape": "square"}, {"color": "orange"}, "shape", "triangle")
    # The planted slice, or one of its class nested with it, among the first two names.
    planted = {"color": "orange", "shape": "square"}
    assert near_in([{"color": "green", "shape": "triangle"}, {"shape": "square", "color": "orange"}], planted, "shape")
    assert near_in([{"color": "orange", "shape": "square", "size": "large"}], planted, "shape")
    assert not near_in([{"color": "orange"}, {"shape": "square", "color": "green"}], planted, "shape")
    misses = Scorecard(results.assign(kind=["correlation", "correlation"], exact_name=[False, False],
                                      other_side=["True", "False"]), pd.DataFrame()).misses()
    assert misses.loc[("m", "correlation"), "other_side"] == 0.5


@pytest.fixture(scope="module")
def small_card(world, image_emb, encoder):
    """24 planted failures (one in the CNN) on the shared 10,000-image world: the CI-sized scorecard."""
    pool = Pool.from_arrays(world.table, world.images, image_emb, seed=0)
    start = time.perf_counter()
    card = run_scorecard(24, seed=0, pool=pool, cnn_share=1 / 24, encoder=encoder, progress=print)
    card.pool = pool
    print(f"24 settings in {time.perf_counter() - start:.0f} s")
    print(card, card.dropped(), card.timings(), card.adaptive(), sep="\n\n")
    return card


@pytest.mark.slow
def test_small_scorecard_scores_every_method_on_every_kept_setting(small_card):
    results = small_card.results
    # A cell whose planted failures rarely fail stops after its share of draws (reported): the
    # CNN's one setting may not come.
    assert results["setting"].nunique() >= 20
    assert all(sorted(methods) == sorted(method_names()) for _, methods in results.groupby("setting")["method"])
    assert set(results["kind"]) == {"correlation", "rare", "noisy"}
    assert (results["gap"] >= MIN_GAP).all() and results["precision_at_10"].between(0, 1).all()
    assert (results["slice_accuracy"] <= results["rival_accuracy"]).all()
    # Naming the planted slice exactly means naming a slice that fails by its gap against its class.
    exact = results[results["exact_name"]]
    assert len(exact) and (exact["found_gap"] >= exact["gap"] - 1e-4).all()  # gap is rounded to 4 places
    # An exact name is near the planted slice (nested in itself).
    assert (results["near_in_two"] >= results["exact_name"]).all()
    # Only a correlation has another side, and a name on it is never the planted one.
    side = results[results["other_side"].astype(bool)]
    assert (side["kind"] == "correlation").all() and not side["exact_name"].any()
    # Whether failing_slices' adaptive default flags the planted slice: a boolean per kept head setting.
    assert "adaptive_flagged" in results
    assert results.query("model == 'head'")["adaptive_flagged"].map(lambda v: isinstance(v, (bool, np.bool_))).all()
    kept = small_card.settings["kept"]
    assert kept.sum() == results["setting"].nunique() and set(small_card.settings["model"]) == {"head", "cnn"}
    table = small_card.table()
    assert table.loc[("head", "drml_text"), ("n", "all")] == results.query("model == 'head'")["setting"].nunique()
    # DrML's text probe by its mean alone always names the most specific slice; ranking by contrast
    # is what lets it name the planted conjunction.
    head = table.loc["head"]
    assert head.loc["drml_text_mean", ("exact", "all")] < head.loc["drml_text", ("exact", "all")]


RECORDED = Path(__file__).resolve().parent / "data" / "scorecard_24_seed0.csv"


@pytest.mark.slow
def test_the_small_scorecard_gives_the_recorded_answers(small_card):
    """The same 24 settings give the same answers, row for row, as the run recorded before the
    method protocol (timings aside), both read back from CSV. A change that moves them on purpose
    records the new run (``small_card.results.drop(columns=["seconds", "train_seconds"])
    .to_csv(RECORDED, index=False)``), with the figures that moved and why in its commit."""
    recorded = pd.read_csv(RECORDED)
    now = pd.read_csv(io.StringIO(small_card.results[recorded.columns].to_csv(index=False)))
    pd.testing.assert_frame_equal(now, recorded, check_dtype=False, atol=1e-9)


@pytest.mark.slow
def test_the_cnn_is_diagnosed_through_a_surrogate_by_every_method(small_card):
    pool = small_card.pool
    setting = draw_setting(pool, np.random.default_rng(0), 999, "noisy", "cnn", "shape", per_class=60)
    rows = run_methods(small_card.context, train_model(pool, setting))
    assert [r["method"] for r in rows] == method_names()
    assert all(0 <= r["precision_at_10"] <= 1 for r in rows)


@pytest.mark.slow
def test_scorecard_notebook_shows_the_table_from_a_csv(small_card, tmp_path):
    csv = small_card.to_csv(tmp_path / "scorecard.csv")
    again = Scorecard(pd.read_csv(csv), pd.read_csv(tmp_path / "scorecard-settings.csv"))
    pd.testing.assert_frame_equal(again.table(), small_card.table(), check_dtype=False)
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit without outputs"
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    # A "second seed" that differs in one setting's score: the comparison puts that mean first.
    other = small_card.results.copy()
    first = other.index[(other["model"] == "head") & (other["method"] == "domino")][0]
    other.loc[first, "precision_at_10"] = 0.0 if other.loc[first, "precision_at_10"] > 0.5 else 1.0
    other.to_csv(tmp_path / "seed1.csv", index=False)
    # The same run stands in for the noisy CLIP's: the side-by-side cell reads two CSVs.
    os.environ.update(DRML_SCORECARD_CSV=str(csv), DRML_SCORECARD_COMPARE=str(tmp_path / "seed1.csv"),
                      DRML_SCORECARD_NOISY_CSV=str(csv))
    try:
        NotebookClient(committed, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for name in ("DRML_SCORECARD_CSV", "DRML_SCORECARD_COMPARE", "DRML_SCORECARD_NOISY_CSV"):
            del os.environ[name]
    shown = "".join(str(out.get("data", {}).get("text/plain", "")) + out.get("text", "")
                    for c in committed.cells if c.cell_type == "code" for out in c.outputs)
    assert "drml_text" in shown and "domino" in shown
    assert "shapes-noisy" in shown and "recall" in shown  # both CLIPs side by side
    compared = small_card.compare(Scorecard.from_csv(tmp_path / "seed1.csv"))
    assert compared.iloc[0]["method"] == "domino" and compared.iloc[0]["difference"] != 0
    assert (compared["difference"].iloc[2:] == 0).all()  # the one setting moves its kind's mean and "all"
    assert "se_difference" in committed.cells[-1].outputs[0]["data"]["text/plain"]


@pytest.mark.slow
def test_the_cli_scores_a_tiny_scorecard_on_the_noisy_clip(tmp_path, monkeypatch, capsys):
    """``--clip shapes-noisy``: the pool, probes and tags read the noisy CLIP (a 4,000-image pool
    here, for time), and the CSV carries the new columns."""
    from drml_widgets import cli
    from drml_widgets.scorecard import run
    from drml_widgets.scorecard.settings import load_pool

    used = []

    def small_pool(seed=0, encoder=None):
        used.append(encoder)
        return load_pool(n=4000, seed=seed, encoder=encoder)

    monkeypatch.setattr(run, "load_pool", small_pool)
    out = tmp_path / "noisy.csv"
    assert cli.main(["scorecard", "--settings", "3", "--cnn-share", "0", "--clip", "shapes-noisy", "--out", str(out)]) == 0
    assert [e.spec.label for e in used] == ["shapes-noisy"]
    assert "Scorecard(clip=shapes-noisy, seed=0" in capsys.readouterr().out
    results = pd.read_csv(out)
    assert results["setting"].nunique() >= 1 and (results["model"] == "head").all()
    assert results["real_failure"].isin([True, False]).all() and results["failing_recall"].dropna().between(0, 1).all()


def _lowest_accuracy(view, by=("color",)):
    """A toy method, defined here alone: the evaluated slice over ``by`` with the lowest accuracy."""
    from drml_widgets.diagnose.slices import compare_slices, image_slice_scores

    test = view.split("test")
    image = image_slice_scores(view.predictions(test), view.labels[test], view.table[test], list(by))
    image = image.assign(text_prob=image["image_acc"])  # a SliceComparison ranks by this column
    result = compare_slices(image[list(by) + ["text_prob"]], image.drop(columns="text_prob"), list(by))
    result.images = view.table.loc[test, list(by)]
    return result


@pytest.mark.slow
def test_a_registered_method_is_scored_with_no_other_file_changed(small_card):
    from drml_widgets.methods.protocol import Method, register, unregister

    pool = small_card.pool
    setting = draw_setting(pool, np.random.default_rng(1), 998, "rare", "head", "shape", per_class=200)
    out = train_model(pool, setting)
    register(Method("toy_lowest_accuracy", "a test", "Which colour does it do worst on?", _lowest_accuracy))
    try:
        assert "toy_lowest_accuracy" in method_names()
        rows = {r["method"]: r for r in run_methods(small_card.context, out)}
    finally:
        unregister("toy_lowest_accuracy")
    toy = rows["toy_lowest_accuracy"]
    correct = out.predictions == out.labels
    worst = min(pool.test_table["color"].unique(), key=lambda c: correct[(pool.test_table["color"] == c).to_numpy()].mean())
    assert toy["found"] and worst in toy["found"]
    # Its members are the worst colour's test images in table order: precision@10 reads the first ten.
    first = np.flatnonzero((pool.test_table["color"] == worst).to_numpy())[:10]
    assert toy["precision_at_10"] == pytest.approx(out.truth[first].sum() / 10)
    assert "toy_lowest_accuracy" not in method_names()
