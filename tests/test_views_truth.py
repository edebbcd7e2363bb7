"""Issue 22, kernel side: what the views hold is true. LossQuery tells sentences it was trained to
judge from the rest, by LLM2Loss's own in-distribution classifier with a calibrated cut-off, and
marks estimates past the end of its held-out scale; a group's images come page by page; the
quickstart's rectify panel opens in its starting state; the slice table says why its correlations
are missing. (The front-end halves are in js/test/views_truth.test.js.)"""

import numpy as np
import pytest

from drml_widgets.session import Session
from drml_widgets.widgets import FailureModes, LossQuery, RectifyPanel, SliceTable
from drml_widgets.widgets.loss_query import FAMILIAR_SHARE
from drml_widgets.widgets.thumbnails import MAX_PER_REQUEST
from widget_support import recording

OUT = ["a photo of a cat", "a blurry photo of a dog"]
IN = ["an orange square.", "a small green triangle."]


@pytest.fixture(scope="module")
def shapes_session():
    return Session.from_shapes_world(n=1200, ensemble=False)


@pytest.fixture(scope="module")
def query(shapes_session):
    return LossQuery(shapes_session, by=["color", "shape"], members=2, epochs=20)


# -- item 1: LossQuery ---------------------------------------------------------------------------
def test_sentences_outside_the_world_are_told_apart_from_sentences_in_it(query):
    answers = {text: query.ask(text) for text in OUT + IN}
    assert [answers[t]["outside"] for t in OUT] == [True, True]
    assert [answers[t]["outside"] for t in IN] == [False, False]
    for text, a in answers.items():  # the flag is the classifier's score against the cut-off, nothing else
        assert a["outside"] == (a["in_distribution"] < query.familiar_cutoff)
    assert "outside what the model was trained to judge" in query.familiar_from


def test_the_cut_off_is_calibrated_on_the_domains_own_sentences(query, shapes_session):
    texts = query.predictor.info["reference_texts"]
    scores = query.predictor.estimate(texts)["in_distribution"].to_numpy()
    assert texts == shapes_session.prompts["prompt"].tolist()
    assert query.familiar_cutoff == pytest.approx(np.quantile(scores, FAMILIAR_SHARE))
    # the domain's own sentences are judged (all but the lowest share, to one sentence of interpolation)
    assert np.mean(scores < query.familiar_cutoff) <= FAMILIAR_SHARE + 1 / len(texts)
    assert f"{query.familiar_cutoff:.3f}" in query.familiar_from and f"{len(texts):,}" in query.familiar_from


def test_an_estimate_past_the_end_of_the_held_out_scale_is_marked_beyond_it(query, shapes_session):
    losses = shapes_session.image_losses()
    easiest = query.held_out[np.argsort(losses[query.held_out])[:30]]  # a scale too short for a hard slice
    narrow = LossQuery(shapes_session, llm=query.predictor, held_out=easiest, by=["color", "shape"])
    try:
        hard = narrow.ask("an orange square.")
        assert hard["beyond"] == "above" and hard["loss_high"] == pytest.approx(losses[easiest].max())
        for a in map(query.ask, IN + OUT):  # on the full scale: beyond only where the range reaches its end
            held = losses[query.held_out]
            assert (a["beyond"] == "above") == (a["loss_high"] >= held.max())
            assert (a["beyond"] == "below") == (a["loss_low"] <= held.min() and a["beyond"] != "above")
    finally:
        narrow.close()


# -- item 5: more images, page by page --------------------------------------------------------------
def test_a_groups_images_come_page_by_page_from_an_offset(shapes_session, monkeypatch):
    recording(monkeypatch)
    view = FailureModes(shapes_session, s=10)
    big = max(view.modes, key=lambda m: m["n_images"])
    members = view._groups[big["key"]]
    assert len(members) > MAX_PER_REQUEST, "the test needs a mode with more than one page of images"

    def ask(**content):
        before = len(view.comm.custom())
        view._handle_custom_msg({"type": "members", "key": big["key"], "request": 5, **content}, [])
        return view.comm.custom()[before:][0]

    pages, offset = [], 0
    while offset < len(members):
        reply, buffers = ask(offset=offset)
        assert reply["offset"] == offset and reply["total"] == len(members) and len(buffers) == len(reply["rows"])
        pages.append(reply["rows"])
        offset += len(reply["rows"])
    assert [r for page in pages for r in page] == members.tolist() and len(pages) > 1
    assert ask()[0]["rows"] == members[:MAX_PER_REQUEST].tolist()  # no offset: the first page
    for bad in (-1, len(members) + 1, "3", 2.5, True, None):
        reply, buffers = ask(offset=bad)
        assert "offset must be a whole number" in reply["error"] and buffers == []
    view.close()


# -- item 9: the slice table's correlations --------------------------------------------------------
def test_the_slice_table_says_why_its_correlations_are_missing():
    """The quickstart's loop: after rectifying its failing slices every slice's image accuracy is
    1.000, so there is nothing to correlate, and the table says so instead of dropping the figures."""
    session = Session.from_shapes_world(n=3000)
    table = SliceTable(session, by=["color", "shape"])
    assert table.spearman is not None and table.correlation_note == ""
    table.select(session.find_failing_slices(["color", "shape"]))
    RectifyPanel(session, table=table, epochs=30).run()
    assert table.table["image_acc"].tolist() == [1.0] * 12 and table.spearman is None
    assert table.correlation_note == "no Spearman or Pearson: every slice has image accuracy 1.000, nothing to correlate"
    session.undo()
    assert table.spearman is not None and table.correlation_note == ""
    every = SliceTable(session)
    assert every.spearman is None and "slice by chosen types" in every.correlation_note


# -- item 3: the quickstart's rectify panel ----------------------------------------------------------
@pytest.mark.slow
def test_the_quickstarts_rectify_panel_opens_in_its_starting_state(tmp_path):
    from test_notebooks import WIDGET_MIME, execute

    book, _ = execute("01_quickstart.ipynb", tmp_path)
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = [out["data"][WIDGET_MIME]["model_id"] for c in book.cells if c.cell_type == "code"
             for out in c.outputs if WIDGET_MIME in out.get("data", {})]
    panels = [state[i]["state"] for i in shown if state[i]["state"].get("_anywidget_id", "").endswith(".RectifyPanel")]
    assert len(panels) == 1
    panel = panels[0]
    assert (panel["version"], panel["can_undo"], panel["can_redo"], panel["result"], panel["status"]) == (0, False, False, {}, "")
    assert [v["current"] for v in panel["history"]] == [True]
    text = "".join(out.get("text", "") for c in book.cells if c.cell_type == "code" for out in c.outputs)
    assert "RectifyResult(mode='replay', version=1" in text  # the Python example shows its result in its own output
