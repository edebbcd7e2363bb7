"""Tag types CLIP cannot see, or that follow another type, are named before anything builds on them."""

import numpy as np
import pandas as pd
import pytest

from drml_widgets.diagnose.tag_reliability import tag_reliability, uncertainty_coefficient


def test_a_tag_that_follows_another_is_the_stand_in_not_the_one_it_follows():
    rng = np.random.default_rng(0)
    color = rng.choice(["red", "green", "blue", "pink"], 2000)
    # "position" is read off colour (with a little noise); colour is not read off position as strongly.
    spot = np.where(rng.random(2000) < 0.9, pd.Series(color).map({"red": "left", "green": "left", "blue": "right",
                                                                  "pink": "up"}), rng.choice(["left", "right", "up"], 2000))
    values = pd.DataFrame({"color": color, "spot": spot, "size": rng.choice(["s", "l"], 2000)})
    confidence = pd.DataFrame({"color": 0.95, "spot": 0.9, "size": 0.9}, index=values.index)
    checked = tag_reliability(values, confidence, {"color": 4, "spot": 3, "size": 2})
    print(checked)
    assert checked.unreliable == ["spot"]
    row = checked.table.set_index("type").loc["spot"]
    assert row["stands_in_for"] == "color" and "stands in for color" in row["why"]
    with pytest.warns(UserWarning, match=r"\['spot'\] cannot be trusted"):
        checked.warn()


def test_a_tag_at_chance_confidence_is_unreliable():
    values = pd.DataFrame({"weather": ["sun", "rain"] * 50})
    checked = tag_reliability(values, pd.DataFrame({"weather": [0.52] * 100}), {"weather": 2})
    assert checked.unreliable == ["weather"] and "close to chance" in checked.table["why"].item()


def test_uncertainty_is_asymmetric():
    a, b = ["x", "x", "y", "y"], ["p", "q", "r", "r"]
    assert uncertainty_coefficient(a, b) == pytest.approx(1.0)
    assert uncertainty_coefficient(b, a) < 1.0
