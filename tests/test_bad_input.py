"""Bad input through the public API: every error is a DrmlError that names the problem.

A bare ValueError, KeyError or numpy error from deep inside is a bug here, even when the input
was wrong: the user cannot tell it from a crash, and the widgets cannot show it as a status line.
"""

import numpy as np
import pandas as pd
import pytest

from drml_widgets import ClipEncoder, load_shapes_world
from drml_widgets.errors import DrmlError
from drml_widgets.data.shapes_presets import SHAPES_ATTRIBUTES, shapes_prompt_spec
from drml_widgets.diagnose.gap import gap_stats
from drml_widgets.diagnose.heads import train_head
from drml_widgets.diagnose.transfer import cross_modal_transfer
from drml_widgets.methods import find_hard_clusters, find_failure_modes, fit_loss_predictor, lbee
from drml_widgets.prompts import AttributeSet, PromptSpec, generate_prompts
from drml_widgets.session import Session

X = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
Y = np.arange(40) % 2


@pytest.fixture(scope="module")
def small():
    return Session.from_shapes_world(n=1200, ensemble=False)


def session_with(small, **changes):
    s = small
    args = dict(encoder=s.encoder, image_emb=s.image_emb, table=s.table, classes=s.classes,
                attributes=s.attributes, spec=s.spec, label_rule="shape")
    args.update(changes)
    return Session(args.pop("encoder"), args.pop("image_emb"), args.pop("table"), args.pop("classes"),
                   args.pop("attributes"), args.pop("spec"), args.pop("label_rule"))


CASES = {
    # sessions
    "embeddings of the wrong shape": lambda s: session_with(s, image_emb=s.image_emb[:, :, None]),
    "NaN embeddings": lambda s: session_with(s, image_emb=np.full_like(s.image_emb, np.nan)),
    "fewer table rows than embeddings": lambda s: session_with(s, table=s.table.iloc[:10]),
    "a table without labels": lambda s: session_with(s, table=s.table.drop(columns="label")),
    "a list for a table": lambda s: session_with(s, table=s.table.to_dict("records")),
    "labels outside the classes": lambda s: session_with(s, classes=["triangle"]),
    "a label rule naming no attribute": lambda s: session_with(s, label_rule="texture"),
    "slices by an unknown type": lambda s: s.slices(["texture"]),
    "slices by nothing": lambda s: s.slices([]),
    "an unknown class": lambda s: s.influence("circle"),
    "an unknown influence method": lambda s: s.influence("triangle", method="lime"),
    "a million epochs": lambda s: s.rectify({"color": "green", "shape": "triangle"}, epochs=10**6),
    "a negative learning rate": lambda s: s.rectify({"color": "green", "shape": "triangle"}, lr=-1),
    "an unknown slice value": lambda s: s.rectify({"color": "purple"}),
    "undo past the start": lambda s: s.undo(),
    "a split that is empty": lambda s: session_with(s, table=s.table.assign(split="test")).train_head(),
    # prompts
    "an empty attribute set": lambda s: AttributeSet({}),
    "a prompt explosion": lambda s: generate_prompts(SHAPES_ATTRIBUTES, shapes_prompt_spec(), max_prompts=10),
    "a padded template": lambda s: generate_prompts(SHAPES_ATTRIBUTES, PromptSpec(["{color:>9999} {shape}."])),
    "a template that is not text": lambda s: generate_prompts(SHAPES_ATTRIBUTES, PromptSpec([None])),
    # kernels
    "gap pairs of different lengths": lambda s: gap_stats(X, X[:5]),
    "transfer with one text too few": lambda s: cross_modal_transfer(X, X[:-1], Y),
    "an unknown head kind": lambda s: train_head(X, Y, kind="tree"),
    "labels of the wrong length": lambda s: train_head(X, Y[:-1]),
    "zero epochs": lambda s: train_head(X, Y, epochs=0),
    # the shapes world
    "a bias above one": lambda s: load_shapes_world(n=200, bias=2.0),
    "too few images": lambda s: load_shapes_world(n=5),
    # encoders
    "an unknown model": lambda s: ClipEncoder("ViT-Nope-32"),
    "texts that are not text": lambda s: s.encoder.encode_texts([None, b"x", 3]),
    "no texts": lambda s: s.encoder.encode_texts([]),
    "an image path that does not exist": lambda s: s.encoder.encode_images(["/no/such/image.png"]),
    "a CUDA device on a machine without one": lambda s: ClipEncoder("shapes", device="cuda:7").encode_texts("a"),
    # methods
    "PRIME tags of the wrong length": lambda s: find_failure_modes(pd.DataFrame({"red": [True] * 3}), Y, Y),
    "LBEE with no clusters": lambda s: find_hard_clusters(X, lbee.split_hard_easy(predictions=Y, labels=1 - Y),
                                                        ["a"], X[:1], n_clusters=0),
    "LLM2Loss on a constant loss": lambda s: fit_loss_predictor(X, np.ones(len(X)), lambda t: X[: len(t)]),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_a_drml_error_with_a_fix_or_a_reason(small, case):
    with pytest.raises(DrmlError) as caught:
        CASES[case](small)
    message = str(caught.value)
    assert len(message) > 30, f"{case}: {message!r} says too little"
