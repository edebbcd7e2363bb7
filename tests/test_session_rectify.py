import numpy as np
import pytest

from drml_widgets.diagnose.rectify import HeadVersions
from drml_widgets.session import SessionError


def test_undo_and_redo_restore_exact_weights(drml_session):
    s = drml_session
    start = s.version
    before = s.head.logits(s.image_emb)
    s.rectify([{"color": "green", "shape": "triangle"}], mode="text", epochs=3)
    after = s.head.logits(s.image_emb)
    assert s.version == start + 1 and not np.array_equal(before, after)
    s.undo()
    assert np.array_equal(s.head.logits(s.image_emb), before)
    s.redo()
    assert np.array_equal(s.head.logits(s.image_emb), after)
    s.undo()
    assert s.version == start


def test_observers_hear_every_head_change(drml_session):
    events = []
    drml_session.observe(events.append)
    try:
        drml_session.rectify({"color": "orange", "shape": "square"}, mode="text", epochs=1)
        drml_session.undo()
    finally:
        drml_session.unobserve(events.append)
    assert events == ["head", "head"]


@pytest.mark.parametrize("slices, message", [
    ([{"texture": "smooth"}], "not attribute types"),
    ([{"color": "purple"}], "not a value of color"),
    ([], "at least one slice"),
])
def test_bad_slices_change_nothing(drml_session, slices, message):
    s = drml_session
    version, weights = s.version, s.head.logits(s.image_emb[:10])
    with pytest.raises(SessionError, match=message):
        s.rectify(slices)
    assert s.version == version and np.array_equal(s.head.logits(s.image_emb[:10]), weights)


def test_slice_attribute_missing_from_the_image_table_is_named(drml_session):
    s = drml_session
    table = s.table
    s.table = table.drop(columns=["size"])
    try:
        with pytest.raises(SessionError, match=r"\['size'\], which the image table lacks"):
            s.slices(by=["size", "shape"])
    finally:
        s.table = table


def test_unknown_target_class_is_named(drml_session):
    with pytest.raises(SessionError, match="Unknown class 'circle'"):
        drml_session.influence("circle")


def test_unknown_mode_is_named(drml_session):
    with pytest.raises(SessionError, match="Unknown mode"):
        drml_session.rectify([{"color": "green"}], mode="magic")


def test_versions_refuse_to_go_past_either_end(drml_session):
    versions = HeadVersions(drml_session.head.copy())
    with pytest.raises(IndexError, match="Nothing to undo"):
        versions.undo()
    with pytest.raises(IndexError, match="Nothing to redo"):
        versions.redo()
    assert versions.table()["current"].tolist() == [True]


def test_session_repr_and_all_slices(drml_session):
    assert "version 0/" in repr(drml_session)
    table = drml_session.slices()
    assert {"order", "text_prob", "image_acc", "n_images"} <= set(table.columns)
    assert table["order"].max() == 3 and (table["n_images"] >= 0).all()
