"""The method routes and the user's-classifier path under careless or hostile arguments (issue 21):
each named fault, then Hypothesis over every route's arguments on one small shapes session. One
property everywhere: a right result, or a DrmlError that names the problem and the fix; never a
raw numpy, pandas, scikit-learn or TypeError."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drml_widgets import Session, load_shapes_world
from drml_widgets.data.sources import load_images
from drml_widgets.diagnose.surrogate import user_model
from drml_widgets.errors import DrmlError, LBEEError
from drml_widgets.methods import find_hard_clusters
from drml_widgets.session_setup import metadata_attributes

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = ["size", "color", "shape"]


@pytest.fixture(scope="module")
def session():
    return Session.from_shapes_world(n=600, ensemble=False)


@pytest.fixture(scope="module")
def small_world():
    return load_shapes_world(n=600, seed=0)


def refused(call) -> str:
    """The message of the DrmlError ``call`` raises (any other exception fails the test)."""
    with pytest.raises(DrmlError) as caught:
        call()
    return str(caught.value)


def right_or_named(call):
    """``call()``'s result, or None when it raised a DrmlError that names the fix."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings are allowed; raw errors are not
            return call()
    except DrmlError as exc:
        assert "Fix" in str(exc), f"no fix named: {exc}"
        return None


# -- 1. attribute types: one name, a list of distinct names, nothing else ----------------------
@pytest.mark.parametrize("types, problem", [
    (42, "list of attribute type names; got 42"),
    (["color", "color"], "['color'] more than once"),
    ([], "names no attribute types"),
    ({"color": "red"}, "list of attribute type names; got {'color': 'red'}"),
    ([1, "color"], "[1], which are not names"),
    (["colour"], "['colour'], which are not attribute types"),
])
def test_text_failure_and_slices_refuse_bad_types_with_the_fix(session, types, problem):
    for call in (lambda: session.find_text_failure(types), lambda: session.find_slices(by=types),
                 lambda: session.find_failing_slices(by=types)):
        message = refused(call)
        assert problem in message and "Fix:" in message, message


def test_one_type_name_is_a_list_of_it(session):
    assert session.find_slices(by="color").by == ["color"]
    assert set(session.find_text_failure("color").name) <= {"color"}


# -- 2. LBEE's n_clusters and tau ---------------------------------------------------------------
@pytest.mark.parametrize("n_clusters", [5000, 10**9])
def test_hard_clusters_beyond_the_hard_images_are_capped_and_say_so(session, n_clusters):
    test = session.view.split("test")
    n_hard = int((session.image_predictions(test) != session.labels[test]).sum())
    with pytest.warns(UserWarning) as caught:
        result = session.find_hard_clusters(n_clusters=n_clusters)
    said = " ".join(str(w.message) for w in caught)
    assert f"n_clusters={n_clusters} is more than the {n_hard} hard image(s)" in said and "easy image(s)" in said
    assert len(result.clusters) == n_hard
    assert result.params["n_clusters"] == n_clusters and result.params["clusters_made"]["hard"] == n_hard
    assert f"n_clusters={n_clusters} capped at {n_hard} hard" in repr(result)


@pytest.mark.parametrize("tau", [float("nan"), float("inf"), 2.0, -1.5, "0.3", True])
def test_tau_must_be_a_finite_cosine(session, tau):
    message = refused(lambda: session.find_hard_clusters(tau=tau))
    assert "tau is a cosine similarity in [-1, 1]" in message and "Fix:" in message


def test_k_must_be_a_whole_number():
    emb = np.eye(2, dtype=np.float32)
    for k in (1.5, "1", True):
        with pytest.raises(LBEEError, match="k must be a whole number"):
            find_hard_clusters(emb, ["hard", "easy"], ["a", "b"], emb, n_clusters=1, k=k)


# -- 3. a model= callable that returns the wrong shape ------------------------------------------
@pytest.mark.parametrize("answer, shape", [
    (lambda batch: 0.7, "()"),
    (lambda batch: np.zeros((len(batch), 3)), "(4, 3)"),
    (lambda batch: np.zeros(len(batch) + 1, int), "(5,)"),
    (lambda batch: np.zeros((len(batch), 2, 1)), "(4, 2, 1)"),
    (lambda batch: [[0.5, 0.5], [1.0]] + [[1.0, 0.0]] * (len(batch) - 2), "rows of different lengths"),
])
def test_a_model_answering_the_wrong_shape_is_named(answer, shape):
    images = [np.zeros((4, 4, 3), np.uint8)] * 10
    message = refused(lambda: user_model(10, ["a", "b"], np.zeros(10, int), model=answer, images=images,
                                         batch_size=4))
    assert f"returned {shape} for a batch of 4 images" in message and "Fix:" in message, message


def test_a_model_answering_each_batch_rightly_is_gathered():
    images = [np.full((4, 4, 3), i, np.uint8) for i in range(10)]
    names = user_model(10, ["a", "b"], np.zeros(10, int), images=images, batch_size=4,
                       model=lambda batch: ["a" if b[0, 0, 0] % 2 else "b" for b in batch])
    proba = user_model(10, ["a", "b"], np.zeros(10, int), images=images, batch_size=4,
                       model=lambda batch: np.tile([0.25, 0.75], (len(batch), 1)))
    assert names.predictions.tolist() == [1, 0] * 5 and proba.predictions.tolist() == [1] * 10


# -- 4. predictions as a Series: aligned unless keyed by path ----------------------------------
def test_a_series_with_a_plain_index_is_aligned(small_world, encoder):
    ds = load_images(small_world.images, labels=small_world.labels, classes=small_world.classes,
                     metadata=small_world.table[["color", "split"]])
    guesses = np.where(small_world.table["color"] == "green", 1 - small_world.labels, small_world.labels)
    for series in (pd.Series(guesses), pd.Series(guesses).sample(frac=1, random_state=0)):  # read by position
        assert Session.from_dataset(ds, encoder, predictions=series).model.predictions.tolist() == guesses.tolist()
    message = refused(lambda: Session.from_dataset(ds, encoder, predictions=pd.Series(guesses, index=range(1, 601))))
    assert "positions 0..599" in message and "Fix:" in message


def test_a_series_keyed_by_path_is_read_by_path(small_world, encoder, tmp_path):
    folder = small_world.to_folder(tmp_path / "shapes")
    ds = load_images(folder, metadata=folder / "metadata.csv")
    truth = np.asarray(ds.labels)
    keyed = pd.Series(list(np.asarray(ds.classes)[truth]), index=ds.paths)[::-1]  # any order
    assert Session.from_dataset(ds, encoder, predictions=keyed).model.accuracy == 1.0
    message = refused(lambda: Session.from_dataset(ds, encoder, predictions=keyed.iloc[1:]))
    assert "1 are missing" in message


# -- 5. a classifier that makes no error still opens a session ----------------------------------
def test_a_perfect_classifier_opens_a_session_with_nothing_to_rank(small_world, encoder, tmp_path):
    folder = small_world.to_folder(tmp_path / "shapes")
    with pytest.warns(UserWarning, match="nothing to rank"):
        s = Session.from_folder(folder, encoder, model=lambda paths: [p.split("/")[-2] for p in map(str, paths)])
    assert s.model.accuracy == 1.0 and s.attributes.types == ["class"]
    assert "nothing to rank" in s.attribute_source and "classified correctly" in s.attribute_source
    methods = s.methods().set_index("method")
    assert not methods.loc["failure_modes", "applies"]
    assert "no image attributes" in methods.loc["failure_modes", "why"]


# -- 6. metadata columns of lists are not attributes ----------------------------------------------
def test_metadata_attributes_leave_list_columns_out():
    table = pd.DataFrame({"weather": ["sun", "rain", "sun"], "boxes": [["x", "y"], ["x"], ["x", "y"]],
                          "class": ["cat", "dog", "cat"]})
    with pytest.warns(UserWarning, match=r"Columns \['boxes'\] hold lists"):
        attrs = metadata_attributes(table)
    assert attrs.types == ["weather", "class"]


# -- 7. properties over every route's arguments ---------------------------------------------------
NAMES = st.sampled_from(TYPES + ["colour", "class", ""])
TYPE_ARGS = st.one_of(st.lists(NAMES, max_size=4), NAMES, st.integers(-2, 50), st.none(), st.floats(),
                      st.tuples(NAMES, NAMES), st.dictionaries(NAMES, st.just("red"), max_size=2),
                      st.lists(st.integers(0, 3), min_size=1, max_size=2))
NUMBERS = st.one_of(st.integers(-5, 10**9), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.none(), st.text(max_size=3))


def distinct_known(types):
    names = [types] if isinstance(types, str) else types
    return isinstance(names, (list, tuple)) and 0 < len(names) == len(set(names)) and set(names) <= set(TYPES)


@FAST
@given(by=TYPE_ARGS)
def test_slice_routes_by_any_types(session, by):
    for route in (session.find_slices, session.find_failing_slices):
        result = right_or_named(lambda: route(by=by))
        assert (result is not None) == distinct_known(by)
        if result is not None:
            assert result.by == ([by] if isinstance(by, str) else list(by))


@FAST
@given(types=TYPE_ARGS)
def test_text_failure_of_any_types(session, types):
    found = right_or_named(lambda: session.find_text_failure(types))
    assert (found is not None) == (types is None or distinct_known(types))
    if found is not None:
        assert set(found.name) <= set(TYPES if types is None else [types] if isinstance(types, str) else types)


@FAST
@given(threshold=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       min_drop=st.floats(allow_nan=True, allow_infinity=True))
def test_failing_slices_thresholds(session, threshold, min_drop):
    result = right_or_named(lambda: session.find_failing_slices(["color", "shape"], threshold=threshold,
                                                               min_drop=min_drop))
    if result is not None and threshold is not None:
        assert (result.table["text_prob"] < threshold).all()


@FAST
@given(n_clusters=NUMBERS, k=NUMBERS, tau=st.one_of(st.none(), NUMBERS))
def test_hard_clusters_of_any_arguments(session, n_clusters, k, tau):
    result = right_or_named(lambda: session.find_hard_clusters(n_clusters=n_clusters, k=k, tau=tau))
    if result is not None:
        assert len(result.clusters) in range(1, n_clusters + 1)
        assert tau is None or (-1 <= tau <= 1 and not isinstance(tau, bool))
        assert result.selections.groupby(["method", "cluster"]).size().eq(k).all()


@FAST
@given(held_out=NUMBERS, s=st.one_of(NUMBERS, st.integers(1, 60)), a=st.one_of(NUMBERS, st.floats(0, 1)),
       l=st.one_of(NUMBERS, st.integers(1, 4)))
def test_failure_modes_of_any_arguments(session, held_out, s, a, l):
    result = right_or_named(lambda: session.find_failure_modes(held_out=held_out, s=s, a=a, l=l))
    if result is not None:
        n_test = int(session.view.split("test").sum())
        assert 0 <= held_out < 1 and len(result.rows) == n_test - round(held_out * n_test)
        assert (result.modes["n_images"] >= s).all() and (result.modes["n_tags"] <= l).all()
    if not (isinstance(held_out, (int, float)) and not isinstance(held_out, bool) and 0 <= held_out < 1):
        assert result is None and "Fix" in refused(lambda: session.find_failure_modes(held_out=held_out))


ROWS = st.one_of(st.none(), st.lists(st.integers(-3, 603), max_size=30), st.text(max_size=4),
                 st.lists(st.booleans(), min_size=599, max_size=601), st.integers(-3, 603),
                 st.lists(st.lists(st.integers(0, 5), max_size=2), max_size=3))


@FAST
@given(rows=ROWS, members=st.one_of(NUMBERS, st.just(1)))
def test_loss_predictor_on_any_rows(session, rows, members):
    fitted = right_or_named(lambda: session.fit_loss_predictor(rows=rows, members=members, epochs=1))
    if fitted is not None:
        assert rows is None or len(rows) > 0
        assert len(fitted.ranker.modules) == members


@FAST
@given(target=st.one_of(st.integers(-3, 3), st.sampled_from(["square", "triangle", "circle", ""]), st.none()),
       method=st.sampled_from(["drml", "shapley", "mean", "", None]))
def test_influence_of_any_target(session, target, method):
    table = right_or_named(lambda: session.compute_influence(target, method=method))
    if table is not None:
        assert target in (0, 1, "square", "triangle") and method in ("drml", "shapley") and len(table)


@FAST
@given(kind=st.one_of(st.sampled_from(["linear", "mlp", "knn", "", "LINEAR"]), st.integers(), st.none()),
       closed=st.one_of(st.booleans(), st.none(), st.integers(-1, 2)))
def test_gap_and_transfer_of_any_argument(session, kind, closed):
    right_or_named(lambda: session.measure_transfer(kind))
    right_or_named(lambda: session.measure_gap(closed))
