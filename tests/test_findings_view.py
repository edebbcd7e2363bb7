"""FindingsView, the generic result view: a toy method defined here alone, once registered, is
shown by it (and followed when the head changes); a computed result is shown with the images its
rows index; the front end gets more of a finding's images by key; the state embeds in a page."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from drml_widgets import Method, Session
from drml_widgets.errors import InputError, SessionError
from drml_widgets.methods.protocol import register, unregister
from drml_widgets.results import Finding, Result
from drml_widgets.widgets import FindingsView
from drml_widgets.widgets.report import report_html
from drml_widgets.widgets.result_view import EMBED_PER_GROUP
from drml_widgets.widgets.thumbnails import MAX_PER_REQUEST
from widget_support import recording

HTML_LABEL = "<img src=x onerror=window.__xss=1>"


class LowestLoss(Result):
    """The toy's result: colours of test images by mean loss, lowest first."""

    def __init__(self, table: pd.DataFrame, members: dict):
        self.table, self.members = table, members

    def findings(self):
        return [Finding({"color": c}, f"color={c}", float(loss), "mean_loss", self.members[c])
                for c, loss in self.table["mean_loss"].items()]

    def __repr__(self):
        return f"LowestLoss({len(self.table)} colours)\nsecond line"


RUNS = []


def lowest_loss(view, split="test"):
    RUNS.append(split)
    rows = view.rows_of(split)
    losses = pd.Series(view.losses()[rows], index=rows)
    colours = view.table.loc[rows, "color"]
    table = losses.groupby(colours.to_numpy()).mean().sort_values().to_frame("mean_loss")
    return LowestLoss(table, {c: colours.index[colours == c].to_numpy() for c in table.index})


@pytest.fixture(scope="module")
def session():
    return Session.from_shapes_world(n=1200, ensemble=False)


@pytest.fixture
def toy():
    method = register(Method("toy", "a test", "Which colour has the lowest mean loss?", lowest_loss, needs=("head",)))
    yield method
    unregister("toy")


@pytest.fixture
def comm_of(monkeypatch):
    return recording(monkeypatch)


def ask(widget, **content):
    """A custom message as the front end sends it; the reply and its buffers."""
    content.setdefault("request", 5)
    before = len(widget.comm.custom())
    widget._handle_custom_msg(content, [])
    replies = widget.comm.custom()[before:]
    assert len(replies) == 1, replies
    return replies[0]


def shows(view, found):
    """The view's rows are ``found``, in rank order, with embedded thumbnails of their members."""
    assert [(r["rank"], r["label"], r["score_name"], r["n_images"]) for r in view.findings] == \
        [(i, f.label, f.score_name, f.n_images) for i, f in enumerate(found, 1)]
    assert [r["score"] for r in view.findings] == pytest.approx([f.score for f in found])
    data = bytes(view.thumb_bytes)
    for row, f in zip(view.findings, found):
        assert [r for r, _, _ in row["thumbs"]] == f.rows[:EMBED_PER_GROUP].tolist()
        assert all(data[start:end].startswith(b"\xff\xd8") for _, start, end in row["thumbs"])


def test_a_toy_method_registered_here_is_shown_from_the_session(session, toy):
    view = FindingsView.from_session(session, "toy")
    result = session.run("toy")
    assert view.method == "toy" and view.summary == "LowestLoss(6 colours)" and view.score_name == "mean_loss"
    shows(view, result.findings())
    assert view.result.table.equals(result.table) and view.session is session
    assert [r["score"] for r in view.findings] == sorted(r["score"] for r in view.findings)
    with pytest.raises(SessionError, match=r"takes no option \['bogus'\]"):
        FindingsView.from_session(session, "toy", bogus=1)


def test_the_view_waits_for_a_head_and_runs_again_when_it_changes(toy):
    s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
    view = FindingsView.from_session(s, "toy", split="val")
    assert view.findings == [] and view.result is None and "train_head" in view.status
    RUNS.clear()
    s.train_head()
    assert RUNS == ["val"] and view.status == "" and view.version == 0
    shows(view, s.run("toy", split="val").findings())
    view.focus, runs = view.findings[0]["key"], len(RUNS)
    s.rectify([{"color": "green", "shape": "triangle"}], epochs=2)
    assert len(RUNS) == runs + 1 and view.version == s.version == 1
    shows(view, s.run("toy", split="val").findings())
    assert view.focus == view.findings[0]["key"]  # the same row stays focused


def test_a_computed_result_is_shown_with_the_images_its_rows_index(session):
    result = session.find_failure_modes(s=10)
    view = FindingsView.from_result(result, images=session.images)
    assert view.session is None and view.method == "failure_modes" and view.score_name == "drop"
    assert view.summary == repr(result).splitlines()[0]
    shows(view, result.findings())
    bare = FindingsView.from_result(result)
    assert len(bare.thumb_bytes) == 0 and bare.findings[0]["thumbs"] == [] and "No images" in bare.embed_note


def test_bad_construction_is_refused_with_the_fix(session):
    result = session.find_failure_modes(s=10)
    with pytest.raises(InputError, match="names image row .* but 5 images were given"):
        FindingsView.from_result(result, images=session.images[:5])
    with pytest.raises(InputError, match="got DataFrame"):
        FindingsView.from_result(result.table)
    with pytest.raises(InputError, match="already computed"):
        FindingsView(result, options={"s": 10})
    with pytest.raises(InputError, match="needs the method to run"):
        FindingsView(session)
    with pytest.raises(InputError, match="leave out images="):
        FindingsView(session, method="failure_modes", images=session.images)
    with pytest.raises(SessionError, match="No method 'nope'"):
        FindingsView.from_session(session, "nope")


def test_more_images_come_by_finding_key_and_bad_keys_get_an_error_line(session, comm_of):
    view = FindingsView.from_session(session, "text_slices", by=["color"])
    found = view.result.findings()
    content, buffers = ask(view, type="members", key=view.findings[1]["key"])
    assert content["rows"] == found[1].rows[:MAX_PER_REQUEST].tolist() and content["total"] == len(found[1].rows)
    assert len(buffers) == len(content["rows"]) > EMBED_PER_GROUP and bytes(buffers[0])[:2] == b"\xff\xd8"
    for bad in ("99", HTML_LABEL, 3, None):
        content, buffers = ask(view, type="members", key=bad)
        assert "There is no group" in content["error"] and buffers == []
    view.set_state({"focus": view.findings[1]["key"]})
    assert view.focus_rows.tolist() == found[1].rows.tolist()
    view.set_state({"focus": "x" * 10_000})
    assert view.focus == view.findings[1]["key"] and "There is no row" in view.status and len(view.status) < 200


def test_the_state_embeds_in_a_page_with_its_thumbnails(session, toy):
    view = FindingsView.from_session(session, "toy")
    page = report_html(view, title="findings")
    data = json.loads(re.search(r'id="drml-state">(.*?)</script>', page, re.S).group(1))
    root = data["state"][view.model_id]
    assert [r["label"] for r in root["state"]["findings"]] == [f.label for f in view.result.findings()]
    thumbs = [b for b in root["buffers"] if b["path"] == ["thumb_bytes", "buffer"]]
    assert len(thumbs) == 1 and base64.b64decode(thumbs[0]["data"]) == bytes(view.thumb_bytes) != b""


def test_scores_that_are_not_numbers_travel_as_none():
    class Odd(Result):
        method, table = "odd", pd.DataFrame()

        def findings(self):
            return [Finding(None, HTML_LABEL, float("nan"), "gain", np.array([0])),
                    Finding(None, "b", 2.0, "loss", np.array([1]))]

    view = FindingsView.from_result(Odd(), images=np.zeros((2, 8, 8, 3), np.uint8))
    assert [r["score"] for r in view.findings] == [None, 2.0] and view.score_name == "score"  # two measures
    assert view.findings[0]["label"] == HTML_LABEL  # kept as text: the page writes it with textContent
