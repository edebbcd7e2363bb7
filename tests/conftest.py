"""Shared fixtures. Tests never touch the network: the hub is forced offline, caches are private."""

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="drml-tests-")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = os.path.join(_TMP, "hf")
os.environ["DRML_WIDGETS_CACHE"] = os.path.join(_TMP, "embeddings")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from drml_widgets import ClipEncoder, load_shapes_world  # noqa: E402


@pytest.fixture(scope="session")
def world():
    """The shapes world at the paper's size (10,000 images, biased split)."""
    return load_shapes_world(n=10_000, seed=0)


@pytest.fixture(scope="session")
def encoder():
    return ClipEncoder("shapes")


@pytest.fixture(scope="session")
def image_emb(world, encoder):
    return encoder.encode_images(world.images)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def drml_session(world, encoder, image_emb):
    """The biased linear head on the shapes world, with the paper's prompts. Tests that change
    it (rectify) must undo before they finish."""
    from drml_widgets.data.shapes_presets import SHAPES_ATTRIBUTES, shapes_prompt_spec
    from drml_widgets.session import Session

    session = Session(encoder, image_emb, world.table, world.classes, SHAPES_ATTRIBUTES,
                      shapes_prompt_spec(), "shape", images=world.images)
    session.train_head()
    return session
