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


# -- item 2: the report tells its story in order ------------------------------------------------------
def test_a_rectification_record_names_its_slices_epochs_and_versions_and_the_report_tells_them_in_order(shapes_session):
    """The panel's record names what was done (old code: no targets, epochs or versions, so a panel
    made after a rectification from Python said 'slices: none yet'); the report's story reads the
    slices' before values first, then what was done, then what it is now, each figure the kernel's."""
    import re

    from drml_widgets.widgets import Dashboard
    from drml_widgets.widgets.report import ReportSource, report_html

    failing = shapes_session.find_failing_slices(["color", "shape"]).table
    result = shapes_session.rectify(failing, epochs=4)
    try:
        dash = Dashboard(shapes_session)  # made after the rectification, nothing ticked: the CLI demo's case
        record = dash.rectify.result
        names = [f"{s['color']} {s['shape']}" for s in result.slices]
        assert dash.rectify.slices == [] and record["targets"] == names
        assert (record["from_version"], record["version"], record["epochs"]) == (shapes_session.version - 1, shapes_session.version, 4)
        assert record["done"] == (f"Rectified {', '.join(names)} (mode replay, 4 epochs, best epoch {result.best_epoch}): "
                                  f"head version {result.version - 1} \u2192 {result.version}.")
        assert "rectified (replay, 4 epochs)" in shapes_session.versions.table()["description"].iloc[-1]
        page = report_html(dash)
        story = re.search(r'<section id="drml-story">(.*?)</section>', page, re.S).group(1)
        failed, done, now = (re.search(rf'<li class="drml-story-{k}">(.*?)</li>', story, re.S).group(1) for k in ("failed", "done", "now"))
        image = result.image.sort_values("image_acc_before", kind="stable")
        hit = image[image["targeted"]]
        assert (f"On head version {result.version - 1}, the targeted slices had image accuracy "
                + ", ".join(f"{c} {s} {v:.3f}" for c, s, v in hit[["color", "shape", "image_acc_before"]].values)
                + f"; the lowest of the others, ") in failed
        assert failed.endswith(f" {image[~image['targeted']]['image_acc_before'].min():.3f} (every slice is in the table below).")
        assert names[0] in done and f"head version {result.version - 1} \u2192 {result.version}" in done
        assert f"The head is at version {shapes_session.version}" in now and record["summary"] in now
        cells = re.findall(r'<td class="num">([^<]*)</td>', story)
        assert len(cells) == 4 * len(result.image)
        shown = {float(c) for c in cells if c != "\u2014"}
        assert {round(v, 3) for v in result.image[["image_acc_before", "image_acc_after"]].to_numpy().ravel()} <= shown
        assert '"how_to_run":' not in page  # a page from a notebook points to the notebook (the front end's default)
        made = report_html(dash, source=ReportSource("python -m drml_widgets demo --n 1200", "Dashboard(x)"))
        assert ('"how_to_run":"this page was written by the command \\u201cpython -m drml_widgets demo --n 1200\\u201d; to {doing}, run the '
                'notebook code at the top of this page"') in made and "<code>Dashboard(x)</code>" in made
        dash.close()
    finally:
        shapes_session.undo()


# -- item 8: the class of every drawn point in a report -------------------------------------------------
def test_a_report_embeds_the_class_of_every_drawn_point_one_byte_each(shapes_session):
    """Old code: a class for the 400 sampled images only, so most hovered points showed none."""
    import base64

    from drml_widgets.widgets import GapPlot

    for plot in (GapPlot(shapes_session), GapPlot(shapes_session, density_above=500, sample_points=300)):
        part = plot.report_part()
        classes = part.state["offline"]["classes"]
        codes = np.frombuffer(base64.b64decode(classes["codes"]), np.uint8)
        drawn = plot.index if len(plot.index) else np.arange(plot.n_images + plot.n_texts)
        assert classes["dtype"] == "uint8" and classes["names"] == list(shapes_session.classes) and len(codes) == len(drawn)
        truth = np.concatenate([shapes_session.labels, shapes_session.prompts["label"].to_numpy()])[drawn]
        assert (codes == truth).all()
        images = sum(k.startswith("image:") for k in part.state["offline"]["hover"])
        assert images == min(400, int((drawn < plot.n_images).sum()))  # details (and thumbnails) stay a sample
        plot.close()


def test_a_report_whose_rectification_record_was_cleared_does_not_deny_it_ran():
    """A prompt change clears the panel's before and after; the story then says so (and before it,
    told the run). Old code: no story, and the panel said 'No rectification was run'."""
    import re

    from drml_widgets.prompts import PromptSpec
    from drml_widgets.widgets import Dashboard
    from drml_widgets.widgets.report import report_html

    session = Session.from_shapes_world(n=1200, ensemble=False)
    dash = Dashboard(session)
    dash.rectify.slices = [{"color": "orange", "shape": "square"}]
    dash.rectify.epochs = 2
    dash.rectify.run()
    story = lambda: re.search(r'<section id="drml-story">(.*?)</section>', report_html(dash), re.S).group(1)  # noqa: E731
    assert "Rectified orange square (mode replay, 2 epochs" in story()
    session.set_prompts(session.attributes, PromptSpec(["{size} {color} {shape}."]))
    assert dash.rectify.result == {}
    assert story() == ("<p>The last rectification's before and after are not shown: the prompts changed after it; "
                       "the views show head version 1.</p>")
    dash.close()
