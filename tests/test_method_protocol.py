"""The method protocol: a method defined here alone, registered, appears in session.methods(),
runs through session.run, and its result has the shared shape; old route names warn and work."""

import warnings

import numpy as np
import pandas as pd
import pytest

from drml_widgets import Method, Session, register
from drml_widgets.diagnose.slices import image_slice_scores, rows_in_slice
from drml_widgets.errors import SessionError
from drml_widgets.methods.protocol import get_method, registered, unregister
from drml_widgets.results import Finding, Result, name_label


class LowestLoss(Result):
    """The toy's result: one row per slice over ``by``, lowest accuracy first."""

    method = "lowest_loss"

    def __init__(self, table: pd.DataFrame, by, images: pd.DataFrame):
        self.table, self.by, self.images = table, list(by), images

    def findings(self):
        out = []
        for _, row in self.table.iterrows():
            name = {t: str(row[t]) for t in self.by}
            rows = self.images.index.to_numpy()[rows_in_slice(self.images, name)]
            out.append(Finding(name, name_label(name), float(row["image_acc"]), "image_acc", rows))
        return out

    def __repr__(self):
        return f"LowestLoss({len(self.table)} slices)"


def lowest_loss(view, by=("color",)):
    test = view.split("test")
    table = image_slice_scores(view.predictions(test), view.labels[test], view.table[test], list(by))
    return LowestLoss(table, by, view.table.loc[test, list(by)])


@pytest.fixture
def toy():
    method = register(Method("lowest_loss", "a test", "Which slice has the lowest accuracy?", lowest_loss,
                             needs=("image_attributes",)))
    yield method
    unregister("lowest_loss")


def test_a_registered_method_appears_in_methods_and_runs(drml_session, toy):
    table = drml_session.methods().set_index("method")
    assert table.loc["lowest_loss", "applies"] and table.loc["lowest_loss", "route"] == 'session.run("lowest_loss")'
    result = drml_session.run("lowest_loss", by=["color", "shape"])
    top = result.top()
    test = drml_session.view.split("test")
    right = drml_session.image_predictions(test) == drml_session.labels[test]
    inside = rows_in_slice(drml_session.table[test], top.name)
    assert top.score == pytest.approx(right[inside].mean())
    assert set(top.rows) == set(np.flatnonzero(test)[inside])  # rows are the session's table rows
    assert "1. " in result.describe()


def test_unknown_methods_and_options_are_named(drml_session, toy):
    with pytest.raises(SessionError, match="lowest_loss"):
        drml_session.run("no such method")
    with pytest.raises(SessionError, match=r"takes no option \['bogus'\].*\['by'\]"):
        drml_session.run("lowest_loss", bogus=1)
    with pytest.raises(SessionError, match="unexpected keyword argument 'bogus'.*Fix"):
        drml_session.find_failure_modes(bogus=1)  # passed on to PRIME's kernel, which does not take it
    with pytest.raises(SessionError, match="registered already"):
        register(Method("lowest_loss", "a test", "?", lowest_loss))


def test_needs_decide_whether_a_method_applies():
    s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
    table = s.methods().set_index("method")
    assert not table.loc["text_slices", "applies"] and "train_head" in table.loc["text_slices", "why"]
    with pytest.raises(SessionError, match="does not apply.*train_head"):
        s.find_slices(["color"])


def test_every_registered_method_returns_the_shared_shape(drml_session):
    options = {"text_slices": {"by": ["color", "shape"]}, "failing_slices": {"by": ["color", "shape"]},
               "failure_modes": {"s": 10}, "hard_clusters": {"n_clusters": 2},
               "loss_predictor": {"members": 1, "epochs": 1},
               "spurious_fine_tuning": {"attribute": "color", "values": ["orange", "green"], "variants": ["plain"],
                                        "epochs": 1}}
    for method in registered():
        result = drml_session.run(method.name, **options.get(method.name, {}))
        assert isinstance(result, Result) and result.method == method.name
        assert isinstance(result.table, pd.DataFrame)
        assert all(isinstance(f, Finding) for f in result.findings())
        assert repr(result) and result.describe().splitlines()[0] == repr(result).splitlines()[0]
        assert get_method(method.name).view is None or method.view


def test_the_routes_and_their_old_names_agree(drml_session):
    new = drml_session.find_failing_slices(["color", "shape"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = drml_session.failing_slices(["color", "shape"])
    assert [w.category for w in caught] == [FutureWarning] and "find_failing_slices" in str(caught[0].message)
    pd.testing.assert_frame_equal(old, new.table)
    with pytest.warns(FutureWarning, match="find_text_failure"):
        assert drml_session.top_text_failure(["color", "shape"]).name == new.top().name
    with pytest.warns(FutureWarning, match="drml_widgets.errors"):
        from drml_widgets import SessionError as moved
    assert moved is SessionError


def test_failing_slices_feed_rectify_as_a_result(drml_session):
    failing = drml_session.find_failing_slices(["color", "shape"])
    result = drml_session.rectify(failing, epochs=2)
    try:
        assert sorted(map(str, result.slices)) == sorted(map(str, [f.name for f in failing.findings()]))
    finally:
        drml_session.undo()


def test_kernels_follow_the_routes_names_and_the_old_ones_warn():
    from drml_widgets.methods import lbee

    emb = np.array([[1, 0], [0, 1]], np.float32)
    new = lbee.find_hard_clusters(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
    with pytest.warns(FutureWarning, match="explain_failures is renamed find_hard_clusters"):
        old = lbee.explain_failures(emb, ["hard", "easy"], ["left", "up"], emb, n_clusters=1, k=1)
    pd.testing.assert_frame_equal(old.table, new.table)
    from drml_widgets.methods import llm2loss

    encode = lambda texts: np.eye(2, dtype=np.float32)[[0] * len(texts)]  # noqa: E731
    x = np.random.default_rng(0).normal(size=(60, 2)).astype(np.float32)
    with pytest.warns(FutureWarning, match="fit_llm2loss is renamed fit_loss_predictor"):
        old = llm2loss.fit_llm2loss(x, np.exp(x[:, 0]), encode, members=1, epochs=1)
    assert isinstance(old, llm2loss.LLM2Loss)
