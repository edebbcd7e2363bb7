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


@pytest.fixture(scope="session")
def real_size_checkpoint(tmp_path_factory):
    """Random ViT-B-32 weights (605 MB) written once per session as the hub's ("ViT-B-32", "openai")
    file, in a hub cache of its own (see tests/real_size.py); use ``real_size_hub`` to see it."""
    from real_size import publish

    return publish(tmp_path_factory.mktemp("real-size-hf") / "hub", seed=0)


@pytest.fixture
def real_size_hub(real_size_checkpoint, monkeypatch):
    """For one test, the Hugging Face cache holds ViT-B-32/openai (random weights, real size), so
    ``ClipEncoder("ViT-B-32", pretrained="openai")`` loads offline. Yields the published revision;
    the repository's ``main`` is set back to it afterwards, whatever the test published."""
    import huggingface_hub.constants
    from real_size import point_main_at

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(real_size_checkpoint.hub_cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(real_size_checkpoint.hub_cache))  # for subprocesses
    yield real_size_checkpoint
    point_main_at(real_size_checkpoint)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium (never a downloaded browser), with our flags."""
    from widget_support import CHROMIUM_ARGS, chromium_path

    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(autouse=True)
def close_new_widgets():
    """Close the widgets each test made: they follow the shared session until closed (later
    tests would pay for their refreshes), and a live widget left behind still points at the
    plotly runtime that a later test may close, so embedding every widget's state would fail."""
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    yield
    for model_id in set(_instances) - before:
        if (widget := _instances.get(model_id)) is not None:
            widget.close()
