"""Acceptance figures of the foundation on the shapes world (CPU only)."""

import itertools

import numpy as np

from drml_widgets.data.shapes import COLORS, SHAPES
from drml_widgets.demo import run_demo


def test_zero_shot_retrieval_gets_colour_and_shape(world, encoder, image_emb):
    pairs = list(itertools.product(COLORS, SHAPES))
    captions = encoder.encode_texts([f"a {c} {s}." .replace("a o", "an o") for c, s in pairs])
    nearest = (image_emb @ captions.T).argmax(axis=1)
    colour_acc = np.mean(np.array([pairs[i][0] for i in nearest]) == world.table["color"].to_numpy())
    shape_acc = np.mean(np.array([pairs[i][1] for i in nearest]) == world.table["shape"].to_numpy())
    print(f"zero-shot retrieval: colour {colour_acc:.3f}, shape {shape_acc:.3f}")
    assert colour_acc >= 0.90
    assert shape_acc >= 0.90


def test_the_demo_runs_the_whole_loop(encoder, image_emb):
    # The slice figures are asserted in test_acceptance_drml; this checks the main job end to end.
    result = run_demo(n=10_000, seed=0, encoder=encoder)
    summary = result.summary()
    print(summary)
    assert len(result.slices.table) == 12 and result.slices.table["n_images"].min() > 0
    assert result.rectified is not None and "rectified" in summary
    assert set(result.seconds) == {"render + encode images and prompts", "train head", "score slices", "influence",
                                   "rectify"}
