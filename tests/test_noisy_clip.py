"""The second bundled CLIP, ``shapes-noisy``: it loads by name offline, and the caption policies
it and ``shapes`` were pretrained with write what they claim."""

import numpy as np
import pytest

from drml_widgets import ClipEncoder
from drml_widgets.data.shapes import ATTRIBUTES, sample_attributes
from drml_widgets.embed.checkpoints import SHAPES_MODEL_DIR, SHAPES_NOISY_MODEL_DIR
from drml_widgets.errors import InputError
from drml_widgets.jobs.captions import (COLOR_WORDS, NOISY_MENTION, NOISY_OFF_TOPIC, NOISY_WRONG_COLOR, POSITION_WORDS,
                                        SIZE_WORDS, caption_matches, exact_caption, noisy_caption)
from drml_widgets.jobs.pretrain_shapes_clip import MODEL_CFG, pretrain_shapes_clip


@pytest.fixture(scope="module")
def rows():
    return sample_attributes(6000, seed=11)[list(ATTRIBUTES)].to_dict("records")


def test_the_noisy_clip_loads_by_name_offline_with_its_own_identity(world, encoder):
    noisy = ClipEncoder("shapes-noisy")
    assert noisy.spec.checkpoint.startswith(str(SHAPES_NOISY_MODEL_DIR))
    # The same architecture as the shapes CLIP, other weights: embeddings are cached apart.
    assert noisy.spec.identity["architecture"] == MODEL_CFG == encoder.spec.identity["architecture"]
    assert noisy.spec.identity["weights_sha256"] != encoder.spec.identity["weights_sha256"]
    assert (SHAPES_NOISY_MODEL_DIR / "open_clip_model.safetensors").stat().st_size == \
        (SHAPES_MODEL_DIR / "open_clip_model.safetensors").stat().st_size
    emb = noisy.encode_images(world.images[:8])
    assert emb.shape == (8, MODEL_CFG["embed_dim"]) and np.isfinite(emb).all()
    assert not np.allclose(emb, encoder.encode_images(world.images[:8]), atol=1e-3)


def test_noisy_captions_have_the_rates_they_claim(rows):
    rng = np.random.default_rng(0)
    caps = [noisy_caption(r, rng) for r in rows]
    on_topic = [(c, r) for c, r in zip(caps, rows) if c.stated is not None]
    assert abs(1 - len(on_topic) / len(caps) - NOISY_OFF_TOPIC) < 0.015
    # 6,000 captions: a rate's standard error is under 0.004; the tolerance is about five of them.
    for t in ("size", "position"):
        share = np.mean([t in c.stated for c, _ in on_topic])
        assert abs(share - NOISY_MENTION[t]) < 0.02, (t, share)
        assert share < 0.1  # "mentioned rarely"
    colored = [(c, r) for c, r in on_topic if "color" in c.stated]
    wrong = np.mean([c.stated["color"] != r["color"] for c, r in colored])
    assert abs(wrong - NOISY_WRONG_COLOR) < 0.02 and 0.05 <= wrong <= 0.1
    # Every statement is in the text as written (a wrong colour by a word of that colour), and only
    # colour is ever wrong.
    words = {"color": COLOR_WORDS, "size": SIZE_WORDS, "position": POSITION_WORDS}
    for c, r in on_topic:
        assert all(any(w in c.text for w in words[t][v]) for t, v in c.stated.items() if t in words), c
        assert all(c.stated[t] == r[t] for t in c.stated if t != "color")
    # Synonyms and near names are used, not only the world's own colour words.
    assert any("teal" in c.text or "sky blue" in c.text for c, _ in colored)


def test_exact_captions_are_the_ones_that_made_the_shapes_clip(rows):
    """The bundled shapes CLIP's captions, as its job wrote them before the policies were split
    out: the same random stream gives the same words (the checkpoint's bit-for-bit reproduction
    rests on it)."""
    fixed = [{"color": "orange", "shape": "square", "size": "small", "position": "upper left"},
             {"color": "cyan", "shape": "triangle", "size": "large", "position": "lower right"},
             {"color": "red", "shape": "square", "size": "medium", "position": "upper right"}]
    rng = np.random.default_rng(0)
    assert [exact_caption(r, rng).text for r in fixed * 2] == [
        "an orange square in the upper left.", "graffiti of a large cyan triangle.", "medium red square.",
        "an orange square in the upper left.", "a large triangle in the lower right.",
        "a medium square in the upper right."]
    rng = np.random.default_rng(1)
    for r in rows[:500]:
        c = exact_caption(r, rng)
        assert c.stated and all(r[t] == v for t, v in c.stated.items())


def test_a_caption_matches_what_it_states_as_written():
    rows = [{"color": "cyan", "shape": "square"}, {"color": "blue", "shape": "square"},
            {"color": "cyan", "shape": "square"}, {"color": "blue", "shape": "triangle"}]
    # Row 0's caption wrongly says "a blue square": it stays paired with its own image and
    # describes the blue square, not the other cyan one. An off-topic caption describes only its own.
    match = caption_matches(rows, [{"color": "blue", "shape": "square"}, {"color": "blue"}, None,
                                   {"shape": "triangle"}])
    assert match.tolist() == [[True, True, False, False], [False, True, False, True],
                              [False, False, True, False], [False, False, False, True]]


def test_pretraining_takes_a_caption_policy(tmp_path):
    report = pretrain_shapes_clip(tmp_path / "noisy", steps=2, batch_size=16, n_images=64, progress=False,
                                  captions="noisy")
    assert report.steps == 2 and np.isfinite(report.final_loss)
    assert sorted(p.name for p in report.out_dir.iterdir()) == ["open_clip_config.json", "open_clip_model.safetensors"]
    with pytest.raises(InputError, match="Unknown caption policy 'human'"):
        pretrain_shapes_clip(tmp_path / "x", steps=1, captions="human")
