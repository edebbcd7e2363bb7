"""LLM2Loss (paper 002) on the shapes world: the example CNN black box, the three ensembles, text
queries, and the acceptance figures (CPU only)."""

import time

import numpy as np
import pytest

from drml_widgets.data.shapes_presets import SHAPES_ATTRIBUTES, SLICE_BY, shapes_prompt_spec
from drml_widgets.errors import DrmlError, ImageLoadError, InputError
from drml_widgets.methods.blackbox import LossError, per_image_loss, train_example_black_box
from drml_widgets.methods.llm2loss import LLM2LossError, fit_loss_predictor
from drml_widgets.prompts.generate import generate_prompts


@pytest.fixture(scope="module")
def black_box(world):
    start = time.perf_counter()
    box = train_example_black_box(world, seed=0)
    print(f"\n{box} trained in {time.perf_counter() - start:.1f} s")
    return box


@pytest.fixture(scope="module")
def losses(world, black_box):
    return per_image_loss(black_box, world.images, world.labels)


@pytest.fixture(scope="module")
def prompts():
    """DrML's prompts of every size x colour x shape: raw, engineered and the 80-template ensemble."""
    return generate_prompts(SHAPES_ATTRIBUTES, shapes_prompt_spec())


@pytest.fixture(scope="module")
def held_out(world):
    """The black box never saw the test split (every combination): 80% train LLM2Loss, 20% judge it."""
    test = np.flatnonzero(world.table["split"].to_numpy() == "test")
    order = np.random.default_rng(0).permutation(test)
    cut = int(0.8 * len(order))
    return order[:cut], order[cut:]


@pytest.fixture(scope="module")
def llm(image_emb, losses, encoder, prompts, held_out):
    fit, _ = held_out
    return fit_loss_predictor(image_emb[fit], losses[fit], encoder, reference_texts=prompts["prompt"].tolist(), seed=0)


def test_black_box_is_a_pixel_cnn_that_leans_on_colour(world, black_box, losses):
    assert not any("clip" in type(m).__name__.lower() for m in black_box.module.modules())
    table = world.table.assign(loss=losses)
    mean = table[table["split"] == "test"].groupby(SLICE_BY)["loss"].mean()
    print(mean.round(3).to_string())
    # Trained on orange triangles and green squares only: the swapped colours cost it most.
    assert mean["orange", "square"] > 10 * mean["orange", "triangle"]
    assert mean["green", "triangle"] > 10 * mean["green", "square"]
    assert np.mean(black_box.predict(world.split("val").images) == world.split("val").labels) > 0.95


def test_ranker_orders_held_out_images_by_loss(llm, image_emb, losses, world, held_out, encoder, prompts):
    fit, hold = held_out
    result = llm.evaluate(image_emb[hold], losses[hold], world.table.iloc[hold], SLICE_BY)
    print(llm, result, result.images.round(4).to_string(), result.slices.round(4).to_string(), sep="\n")
    # Measured: ranker 0.991 per image (the paper: 0.56 on CelebA) and 0.979 between the 12 slices'
    # mean predicted and actual loss. Bars: measured - 0.05.
    assert result.spearman("ranker") >= 0.94
    assert result.spearman("ranker", level="slices") >= 0.93
    assert result.images.set_index("model").loc["ranker", ["spearman_p", "kendall_p"]].max() < 1e-6

    linear = fit_loss_predictor(image_emb[fit], losses[fit], encoder, head="linear",
                          reference_texts=prompts["prompt"].tolist(), seed=0)
    linear_result = linear.evaluate(image_emb[hold], losses[hold])
    print("linear heads:", linear_result)
    # The loss is an interaction (orange squares and green triangles are hard, orange triangles
    # and green squares easy), which one linear score of the embedding can only approximate:
    # measured 0.411, within 0.1.
    assert linear_result.spearman("ranker") == pytest.approx(0.41, abs=0.1)


def test_text_predicted_loss_orders_the_twelve_slices(llm, prompts, world, losses, held_out):
    _, hold = held_out
    slices = llm.text_slices(prompts, world.table.iloc[hold], losses[hold], SLICE_BY)
    print(slices, slices.table.round(3).to_string(), sep="\n")
    print("regressor:", llm.text_slices(prompts, world.table.iloc[hold], losses[hold], SLICE_BY, model="regressor"))
    assert len(slices.table) == 12
    assert slices.spearman >= 0.91  # measured 0.958 (the README's 0.96); bar: measured - 0.05
    assert (slices.table["text_std"] > 0).all()


def test_a_cat_is_less_in_distribution_than_a_shape(llm):
    est = llm.estimate(["a photo of a cat", "a small red square"]).set_index("text")
    print(est.round(3).to_string())
    assert est.loc["a photo of a cat", "in_distribution"] < est.loc["a small red square", "in_distribution"]


def test_text_queries_carry_ensemble_spread(llm):
    est = llm.estimate(["a large orange square.", "a large orange triangle."])
    assert (est[["loss_std", "rank_score_std", "in_distribution_std"]] > 0).all().all()
    # The black box calls orange things triangles: an orange square is the harder of the two.
    cmp = llm.compare("a large orange square.", "a large orange triangle.")
    print(cmp.round(3).to_string())
    assert cmp.loc[0, "p_a_harder"] > 0.5 and cmp.loc[0, "diff"] > 0 and cmp.loc[0, "diff_std"] > 0
    bias = llm.bias(contrast=[("a red square.", "a red triangle."), ("a small square.", "a large square.")])
    print(bias.round(3).to_string())
    assert list(bias.columns) == ["a", "b", "gap", "gap_std", "worse_off", "p_a_harder"]
    assert (bias["gap"] >= 0).all() and bias["gap"].is_monotonic_decreasing
    assert bias.set_index("a").loc["a red square.", "worse_off"] == "a red square."
    assert llm.bias("orange")["b"].tolist() == ["not orange"]


def test_bad_losses_and_too_few_images_are_refused(image_emb, encoder, black_box, world):
    losses = np.ones(200, dtype=np.float32)
    losses[7] = np.nan
    with pytest.raises(LossError, match=r"NaN or inf at 1 position\(s\), first \[7\]. Fix: drop those images"):
        fit_loss_predictor(image_emb[:200], losses, encoder)
    with pytest.raises(LLM2LossError, match="at least 50 images to train an ensemble; got 20. Fix:"):
        fit_loss_predictor(image_emb[:20], np.arange(20, dtype=np.float32), encoder)
    with pytest.raises(LLM2LossError, match="same loss"):
        fit_loss_predictor(image_emb[:100], np.ones(100, dtype=np.float32), encoder)
    with pytest.raises(LossError, match="softmax"):
        per_image_loss(lambda imgs: np.full((len(imgs), 2), 3.0), world.images[:4], world.labels[:4])
    with pytest.raises(LossError, match="NaN or inf probabilities"):
        per_image_loss(lambda imgs: np.full((len(imgs), 2), np.nan), world.images[:4], world.labels[:4])
    with pytest.raises(LossError, match="images and labels"):
        per_image_loss(black_box)
    with pytest.raises(LossError, match="negative"):
        per_image_loss([0.5, -1.0])


def test_every_error_is_a_drml_error_that_names_the_fix(image_emb, llm, black_box, held_out, losses, world):
    """Bad head settings used to escape as a bare ValueError from the head builder or trainer,
    and an unknown model as a pandas KeyError."""
    x, y = image_emb[:100], np.linspace(0, 1, 100, dtype=np.float32)
    encode = lambda texts: image_emb[: len(texts)]  # noqa: E731
    with pytest.raises(InputError, match="Unknown head kind 'cnn'; choose 'linear' or 'mlp'"):
        fit_loss_predictor(x, y, encode, head="cnn")
    with pytest.raises(InputError, match="epochs must be a whole number from 1 to 1000; got 0. Fix"):
        fit_loss_predictor(x, y, encode, epochs=0)
    with pytest.raises(LLM2LossError, match="hidden .* must be a whole number from 1 to 4096; got 0. Fix"):
        fit_loss_predictor(x, y, encode, hidden=0)
    with pytest.raises(LLM2LossError, match="encoder must be a ClipEncoder or a callable"):
        fit_loss_predictor(x, y, "not an encoder")
    _, hold = held_out
    evaluation = llm.evaluate(image_emb[hold], losses[hold])
    with pytest.raises(LLM2LossError, match="Unknown model 'rankr'"):
        evaluation.spearman("rankr")
    with pytest.raises(LLM2LossError, match="Slice columns \\['colour'\\] are not in the image table"):
        llm.evaluate(image_emb[hold], losses[hold], world.table.iloc[hold], ["colour"])
    with pytest.raises(ImageLoadError, match="an \\(n, height, width, 3\\) uint8 array; got shape \\(64, 64, 3\\)"):
        black_box(np.zeros((64, 64, 3), np.uint8))
    assert all(issubclass(e, DrmlError) for e in (LLM2LossError, InputError, ImageLoadError))
