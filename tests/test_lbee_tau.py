"""LBEE's default tau: a sentence one value away from the right one (small blue for small cyan)
does not win FPDiff's contrast, and where no such neighbour is close the choice is the old one."""

import numpy as np
import pytest

from drml_widgets.methods.lbee import find_hard_clusters

# Axes of a toy embedding space: size, colour, and six unrelated directions for other sentences.
AXES = ["small", "large", "cyan", "blue", *(f"other{i}" for i in range(6))]
SENTENCES = {"a small cyan thing.": {"small": 1, "cyan": 1}, "a small blue thing.": {"small": 1, "blue": 1},
             "a large cyan thing.": {"large": 1, "cyan": 1}, **{f"other {i}.": {f"other{i}": 1} for i in range(6)}}


def vector(parts: dict) -> np.ndarray:
    v = np.array([parts.get(a, 0.0) for a in AXES], np.float32)
    return v / np.linalg.norm(v)


def run(hard: dict, easy: dict, tau=None):
    """One hard and one easy cluster of 20 images each around ``hard`` and ``easy``; FPDiff keeps one sentence."""
    rng = np.random.default_rng(0)
    images = np.stack([vector(hard)] * 20 + [vector(easy)] * 20) + rng.normal(0, 0.01, (40, len(AXES)))
    images = (images / np.linalg.norm(images, axis=1, keepdims=True)).astype(np.float32)
    text = np.stack([vector(p) for p in SENTENCES.values()])
    return find_hard_clusters(images, ["hard"] * 20 + ["easy"] * 20, list(SENTENCES), text, n_clusters=1, k=1,
                              tau=tau)


def test_a_near_neighbour_does_not_displace_the_right_sentence():
    # The CLIP reads cyan images half as blue, and the nearest easy cluster is cyan without blue: the
    # neighbour "small blue" scores 0.71 on the hard prototype (0.94 for "small cyan") but far less
    # on the easy one, so it has the larger hard-minus-easy difference.
    result = run({"small": 1, "cyan": 1, "blue": 0.5}, {"large": 1, "cyan": 1})
    floor = result.params["tau"]
    assert floor < 0.7  # the global tau lets the neighbour into FPDiff's pool ...
    assert run({"small": 1, "cyan": 1, "blue": 0.5}, {"large": 1, "cyan": 1}, tau=floor).retained() == \
        ["a small blue thing."]  # ... where it wins the contrast
    assert result.retained("FPDiff") == ["a small cyan thing."]
    assert result.clusters["tau"].iloc[0] > 0.71 > floor
    assert "within 0.5 sd of its best sentence" in result.params["tau_from"]


@pytest.mark.parametrize("hard, easy", [({"small": 1, "cyan": 1}, {"large": 1, "cyan": 1}),
                                        ({"small": 1, "cyan": 1}, {"small": 1, "blue": 1, "other0": 1})])
def test_without_a_close_neighbour_the_choice_is_the_old_one(hard, easy):
    result = run(hard, easy)
    old = run(hard, easy, tau=result.params["tau"])
    assert result.retained("FPDiff") == old.retained("FPDiff") == ["a small cyan thing."]
    assert result.retained("SetDiff") == old.retained("SetDiff")


def test_a_given_tau_is_used_as_it_is():
    result = run({"small": 1, "cyan": 1, "blue": 0.5}, {"large": 1, "cyan": 1}, tau=0.3)
    assert result.params["tau"] == 0.3 and result.params["tau_from"] == "given"
    assert result.clusters["tau"].tolist() == [0.3]
