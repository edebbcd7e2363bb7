"""small_tensor_threads: the small-tensor training loops of the methods run on one torch thread,
and the caller's thread count comes back afterwards, even after an error."""

import numpy as np
import pytest
import torch

from drml_widgets import ClipEncoder
from drml_widgets.errors import InputError
from drml_widgets.methods import llm2loss
from drml_widgets.methods.spurious import cache_features, fine_tune_projections
from drml_widgets.threads import small_tensor_threads


@pytest.fixture
def two_threads():
    """Start from 2 threads so that running on 1 is visible (the machine may have 1 core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_count_is_set_and_restored_even_after_an_error(two_threads):
    with small_tensor_threads(1) as previous:
        assert (previous, torch.get_num_threads()) == (2, 1)
    assert torch.get_num_threads() == 2
    with pytest.raises(KeyError), small_tensor_threads(1):
        raise KeyError("inside the block")
    assert torch.get_num_threads() == 2
    with pytest.raises(InputError, match="whole number of threads >= 1; got 0"):
        with small_tensor_threads(0):
            pass


def test_projection_fine_tuning_runs_on_one_thread(two_threads):
    images = np.zeros((4, 64, 64, 3), np.uint8)
    images[:2, 20:40, 20:40] = 200
    data = cache_features(ClipEncoder("shapes"), images, ["square", "blank"], templates=["a {}."])
    seen = []
    fine_tune_projections(data, [0, 0, 1, 1], variant="class", epochs=2,
                          progress=lambda *_: seen.append(torch.get_num_threads()))
    assert seen == [1, 1] and torch.get_num_threads() == 2


def test_llm2loss_ensembles_train_on_one_thread(two_threads, monkeypatch):
    seen = []
    mse = llm2loss.OBJECTIVES["regressor"]

    def recording(scores, target):
        seen.append(torch.get_num_threads())
        return mse(scores, target)

    monkeypatch.setitem(llm2loss.OBJECTIVES, "regressor", recording)
    emb = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    llm2loss.fit_loss_predictor(emb, np.exp(emb[:, 0]), lambda texts: emb[: len(texts)], members=1, epochs=1)
    assert seen and set(seen) == {1} and torch.get_num_threads() == 2
