"""DrML's text probe as one named failure (Session.top_text_failure): it names the slice the biased
head fails on, on the default shortcut and on another one planted in the same images."""

import numpy as np
import pandas as pd
import pytest

from drml_widgets.data.shapes_presets import SHAPES_ATTRIBUTES, shapes_prompt_spec
from drml_widgets.diagnose.text_failure import top_text_failure
from drml_widgets.errors import DrmlError
from drml_widgets.session import Session


def test_the_default_shortcut_is_named_exactly(drml_session):
    found = drml_session.top_text_failure(["color", "shape"])
    assert found.name in ({"color": "orange", "shape": "square"}, {"color": "green", "shape": "triangle"})
    assert found.slices["contrast"].is_monotonic_decreasing
    # The answer comes with its check on the test images: the named slice really fails there.
    image = drml_session.slices(["color", "shape"]).table.set_index(["color", "shape"])
    row = image.loc[(found.name["color"], found.name["shape"])]
    assert (found.image_acc, found.n_images) == pytest.approx((row["image_acc"], row["n_images"]))
    assert found.image_acc < 0.2 and "image accuracy" in repr(found)
    # Over every type the focus keeps the failure's two values: size plays no part in it.
    assert drml_session.top_text_failure().name == found.name
    # Both swapped pairs fail (the shortcut has two sides, which text reads alike): the one not
    # named comes next, with its test images, and no alternative repeats a slice nested in another.
    other = ({"color": "green", "shape": "triangle"} if found.name["color"] == "orange"
             else {"color": "orange", "shape": "square"})
    assert found.alternatives[0]["name"] == other and f"next {other}" in repr(found)
    findings = found.findings()
    assert [f.name for f in findings] == [found.name] + [a["name"] for a in found.alternatives]
    assert 2 <= len(findings) <= 5 and findings[1].n_images == image.loc[(other["color"], other["shape"]), "n_images"]
    names = [f.name for f in findings]
    assert not any(set(a.items()) <= set(b.items()) for i, a in enumerate(names) for b in names[i + 1:] + names[:i])


@pytest.mark.parametrize("pair", [("pink", "blue"), ("red", "cyan")])
def test_another_planted_shortcut_is_named_exactly(world, encoder, image_emb, pair):
    """Train only on (first colour, triangle) and (second colour, square) of the uniform test images:
    the head learns colour, and the slices it then fails are the swapped pairs."""
    table = world.table.copy()
    first, second = pair
    biased = (((table["color"] == first) & (table["shape"] == "triangle"))
              | ((table["color"] == second) & (table["shape"] == "square"))) & (table["split"] == "test")
    rows = np.flatnonzero(biased.to_numpy())
    split = np.full(len(table), "test", dtype=object)
    split[rows[: int(0.8 * len(rows))]] = "train"
    split[rows[int(0.8 * len(rows)):]] = "val"
    split[(table["split"] != "test").to_numpy()] = "unused"  # the default shortcut's own images
    session = Session(encoder, image_emb, table.assign(split=split), world.classes, SHAPES_ATTRIBUTES,
                      shapes_prompt_spec(), "shape", images=world.images)
    session.train_head()
    failing = ({"color": first, "shape": "square"}, {"color": second, "shape": "triangle"})
    assert session.top_text_failure(["color", "shape"]).name in failing
    worst = session.slices(["color", "shape"]).table.sort_values("image_acc").head(2)
    assert {(r.color, r.shape) for r in worst.itertuples()} == {(v["color"], v["shape"]) for v in failing}


def test_bad_requests_are_named(drml_session):
    with pytest.raises(DrmlError, match="not attribute types"):
        drml_session.top_text_failure(["colour"])
    prompts = pd.DataFrame({"color": ["red", "blue"], "label": [0, 1]})
    with pytest.raises(DrmlError, match="one row per prompt"):
        top_text_failure(np.ones((3, 2)) / 2, prompts, ["color"], ["a", "b"])
    with pytest.raises(DrmlError, match="class attribute 'shape'"):
        top_text_failure(np.ones((2, 2)) / 2, prompts, ["color"], ["a", "b"], class_type="shape")
