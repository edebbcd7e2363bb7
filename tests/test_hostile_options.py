"""PRIME's and LLM2Loss's options, the head kind and the influence method under careless or hostile
values (issue 21): each named fault, then Hypothesis over the options. One property: a right result,
or a DrmlError that names the problem and the fix; never a raw TypeError, numpy, pandas or torch error."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drml_widgets.diagnose.heads import build_module
from drml_widgets.diagnose.influence import attribute_influence
from drml_widgets.diagnose.validate import check_number, check_whole
from drml_widgets.errors import DrmlError, InputError, LLM2LossError, PrimeError
from drml_widgets.methods.llm2loss import fit_loss_predictor
from drml_widgets.methods.prime import find_failure_modes
from drml_widgets.prompts.generate import AttributeSet, PromptSpec

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# 80 images of one class; "dark and blurred" images are all wrong (the modes doctest's data).
TAGS = pd.DataFrame({"dark": [True] * 40 + [False] * 40, "blur": [True, False] * 40})
LABELS = np.array(["cat"] * 80)
PRED = np.where(TAGS["dark"] & TAGS["blur"], "dog", "cat")
EMB = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
LOSSES = np.exp(EMB[:, 0])


def encode(texts):
    return EMB[: len(texts)]


def refused(call, error=DrmlError) -> str:
    """The message of the ``error`` that ``call`` raises; it must name a fix."""
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert "Fix:" in message, message
    return message


def modes(**options):
    return find_failure_modes(TAGS, PRED, LABELS, **{"s": 10, **options})


# -- the shared checkers ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, "3", [3], 1.5, 3.0, True, np.bool_(True), 0, 11, math.inf, math.nan])
def test_check_whole_takes_whole_numbers_in_range_only(value):
    message = refused(lambda: check_whole(value, "n", 1, 10, "pass e.g. n=3"), InputError)
    assert f"n must be a whole number from 1 to 10; got {value!r}. Fix: pass e.g. n=3." == message


def test_check_whole_and_check_number_return_plain_python_numbers():
    assert check_whole(np.int64(3), "n", 1, 10, "") == 3 and type(check_whole(np.int64(3), "n", 1, 10, "")) is int
    assert check_whole(10**12, "n", 0, None, "") == 10**12
    assert check_number(np.float32(0.5), "x", 0, 1, "") == 0.5 and check_number(1, "x", 0, 1, "") == 1.0
    assert type(check_number(1, "x", 0, 1, "")) is float


@pytest.mark.parametrize("value", [None, "0.5", [0.5], True, math.nan, math.inf, -0.1, 0.0, 1.0])
def test_check_number_takes_finite_numbers_in_range_only(value):
    message = refused(lambda: check_number(value, "x", 0, 1, "pass e.g. x=0.5", open_lo=True, open_hi=True,
                                           error=PrimeError), PrimeError)
    assert f"x must be a number in (0, 1); got {value!r}. Fix: pass e.g. x=0.5." == message


# -- PRIME's options ---------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, problem", [
    ("s", None, "s (the fewest images"), ("s", "30", "whole number"), ("s", [30], "whole number"),
    ("s", 1.5, "whole number"), ("s", True, "whole number"), ("s", 0, "at least 1"),
    ("a", None, "a (the least accuracy drop"), ("a", "0.3", "in [0, 1]"), ("a", [0.3], "in [0, 1]"),
    ("a", 2, "in [0, 1]"), ("a", math.nan, "in [0, 1]"), ("a", -math.inf, "in [0, 1]"),
    ("l", None, "l (the most tags"), ("l", "2", "whole number"), ("l", [2], "whole number"),
    ("l", 1.5, "whole number"), ("l", math.inf, "whole number"), ("l", math.nan, "whole number"), ("l", 0, "at least 1"),
    ("b", 3, "b maps a tag-set size"), ("b", "x", "b maps a tag-set size"), ("b", [0.1], "b maps a tag-set size"),
    ("b", {2: "x", 3: 0.05, 4: 0.025}, "b[2]"), ("b", {2: -1, 3: 0.05, 4: 0.025}, "b[2]"),
    ("b", {2: math.nan, 3: 0.05, 4: 0.025}, "b[2]"), ("b", {"2": 0.1, 3: 0.05, 4: 0.025}, "b gives no minimum gain"),
    ("min_count", [1], "whole number"), ("min_count", "1", "whole number"), ("min_count", 1.5, "whole number"),
    ("min_count", 0, "at least 1"),
    ("search", "bogus", "Unknown search 'bogus'"), ("search", 3, "Unknown search 3"), ("search", None, "Unknown search"),
    ("search", np.array(["greedy", "naive"]), "Unknown search"),
    ("beam", 0, "beam"), ("beam", 1.5, "beam"), ("beam", None, "beam"), ("beam", "2", "beam"),
])
def test_prime_options_are_refused_with_the_fix(option, value, problem):
    assert problem in refused(lambda: modes(**{option: value}), PrimeError)


def test_a_huge_l_is_bounded_by_the_tags_and_refused_without_allocating():
    # 10**9 sizes once asked b for a gain per size (MemoryError); now l beyond the tags is the tags.
    assert modes(l=10**9, b={2: 0.1}).modes.equals(modes(l=2, b={2: 0.1}).modes)
    assert modes(l=10**9).modes.equals(modes(l=2).modes)  # the default b covers the 2 tags
    wide = pd.DataFrame({f"t{i}": TAGS["dark"] for i in range(6)})
    message = refused(lambda: find_failure_modes(wide, PRED, LABELS, s=10, l=10**9), PrimeError)
    assert "sizes 5..6" in message and "l=1000000000 allows sets of up to 6 of the 6 tags" in message
    assert "or l=4 (the paper's" in message


def test_prime_takes_numpy_numbers():
    result = modes(s=np.int64(10), a=np.float32(0.3), l=np.int32(2), min_count=np.int64(10))
    assert result.modes["tags"].tolist() == [("dark", "blur")]
    assert type(result.params["s"]) is int and type(result.params["a"]) is float


# -- LLM2Loss's options ------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, problem", [
    ("members", 1.5, "members (the heads"), ("members", None, "whole number"), ("members", math.inf, "whole number"),
    ("members", [2], "whole number"), ("members", 0, "from 1 to 100"), ("members", True, "whole number"),
    ("members", 10**9, "from 1 to 100"),
    ("hidden", 0, "hidden (units"), ("hidden", 1.5, "whole number"), ("hidden", None, "whole number"),
    ("hidden", "8", "whole number"), ("hidden", 10**9, "from 1 to 4096"),
    ("val_fraction", None, "val_fraction"), ("val_fraction", "x", "in (0, 1)"), ("val_fraction", math.nan, "in (0, 1)"),
    ("val_fraction", 0, "in (0, 1)"), ("val_fraction", 1, "in (0, 1)"),
    ("seed", None, "seed"), ("seed", 1.5, "whole number"), ("seed", "x", "whole number"), ("seed", -1, "at least 0"),
    ("epochs", None, "epochs"), ("epochs", 10**9, "from 1 to 1000"), ("lr", "x", "lr"), ("batch_size", 0, "batch_size"),
    ("head", "cnn", "Unknown head kind 'cnn'"), ("head", None, "Unknown head kind None"),
])
def test_llm2loss_options_are_refused_with_the_fix(option, value, problem):
    assert problem in refused(lambda: fit_loss_predictor(EMB, LOSSES, encode, **{"members": 1, "epochs": 1, option: value}))


def test_llm2loss_members_say_why_they_are_bounded():
    message = refused(lambda: fit_loss_predictor(EMB, LOSSES, encode, members=10**9), LLM2LossError)
    assert "got 1000000000" in message and "three heads" in message


# -- head kind and influence method ---------------------------------------------------------------
@pytest.mark.parametrize("kind", ["cnn", "", "LINEAR", None, 0])
def test_unknown_head_kind_names_the_fix(kind):
    assert f"Unknown head kind {kind!r}" in refused(lambda: build_module(kind, 8, 2), InputError)


@pytest.mark.parametrize("method", ["lime", "", None])
def test_unknown_influence_method_names_the_fix(method):
    attrs = AttributeSet({"color": ["orange", "green"]})
    embed = lambda texts: np.array([[t.count("orange")] for t in texts], float)  # noqa: E731
    proba = lambda e: np.hstack([e, 1 - e])  # noqa: E731
    message = refused(lambda: attribute_influence(attrs, PromptSpec(["{color}."]), embed, proba, target=0,
                                                  method=method), InputError)
    assert f"method must be 'drml' or 'shapley'; got {method!r}" in message


# -- properties -------------------------------------------------------------------------------------
ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**9), st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=3), st.lists(st.integers(0, 5), max_size=2))
GAINS = st.one_of(ANY, st.dictionaries(st.one_of(st.integers(-1, 6), st.text(max_size=1)),
                                       st.one_of(st.floats(-0.5, 1.5), st.just(math.nan), st.text(max_size=1)),
                                       max_size=5))


def right_or_named(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except DrmlError as exc:
        assert "Fix:" in str(exc), f"no fix named: {exc}"
        return None


@FAST
@given(s=st.one_of(ANY, st.integers(1, 60)), a=st.one_of(ANY, st.floats(0, 1)), l=st.one_of(ANY, st.integers(1, 5)),
       b=GAINS, min_count=st.one_of(ANY, st.integers(1, 60)), search=st.sampled_from(["exhaustive", "greedy", "naive",
       "", None, 2]), beam=st.one_of(ANY, st.integers(1, 30)))
def test_prime_of_any_options(s, a, l, b, min_count, search, beam):
    result = right_or_named(lambda: find_failure_modes(TAGS, PRED, LABELS, s=s, a=a, l=l, b=b, min_count=min_count,
                                                       search=search, beam=beam))
    if result is not None:
        assert result.params["s"] in range(1, 41) and 0 <= result.params["a"] <= 1 and result.params["l"] >= 1
        assert (result.modes["n_images"] >= s).all() and (result.modes["drop"] >= a - 1e-9).all()
        assert (result.modes["n_tags"] <= l).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=st.one_of(ANY, st.integers(1, 2)), hidden=st.one_of(ANY, st.integers(1, 16)),
       val_fraction=st.one_of(ANY, st.floats(0.05, 0.5)), seed=st.one_of(ANY, st.integers(0, 5)))
def test_llm2loss_of_any_options(members, hidden, val_fraction, seed):
    fitted = right_or_named(lambda: fit_loss_predictor(EMB, LOSSES, encode, members=members, hidden=hidden,
                                                 val_fraction=val_fraction, seed=seed, epochs=1))
    if fitted is not None:
        assert len(fitted.ranker.modules) == members and 1 <= hidden <= 4096
