"""LossQuery (LLM2Loss) and SpuriousPanel (paper 004): what they hold, that it agrees with the
methods computed independently here, and what they do with bad input from Python or the page."""

import numpy as np
import pandas as pd
import pytest

from drml_widgets.errors import InputError
from drml_widgets.methods.llm2loss import MODELS
from drml_widgets.session import Session
from drml_widgets.widgets import LossQuery, SpuriousPanel
from drml_widgets.widgets.report import report_html
from widget_support import recording


@pytest.fixture(scope="module")
def shapes_session():
    return Session.from_shapes_world(n=1200, ensemble=False)


@pytest.fixture(scope="module")
def query(shapes_session):
    return LossQuery(shapes_session, by=["color", "shape"], examples=["a small green triangle."], members=2, epochs=8)


def ask_from_page(widget, content):
    """What the page's request does: a custom message with a request number; returns the reply."""
    sent = []
    widget.send = lambda msg, buffers=None: sent.append(msg)
    try:
        widget._dispatch(widget, {**content, "request": 7}, [])
    finally:
        del widget.send
    return sent[-1] if sent else None


# -- LossQuery -----------------------------------------------------------------------------------
def test_the_lead_is_the_model_whose_order_holds_up_on_held_out_slices(query):
    rho = pd.DataFrame(query.check).set_index("model")["spearman_slices_from_text"]
    other = next(m for m in MODELS if m != query.lead)
    assert rho[query.lead] >= rho[other]
    assert query.lead in query.lead_reason and f"{rho[query.lead]:.3f}" in query.lead_reason
    assert query.n_held_out == len(query.held_out) > 0


def test_both_estimates_are_losses_of_held_out_images(query, shapes_session):
    answer = query.ask("a large orange triangle.")
    held_losses = shapes_session.image_losses()[query.held_out]
    lo, hi = held_losses.min(), held_losses.max()
    for model in MODELS:  # one scale: each estimate is a quantile of the held-out losses
        assert lo - 1e-6 <= answer[f"{model}_loss"] <= hi + 1e-6
        assert np.isclose(answer[f"{model}_loss"], np.quantile(held_losses, answer[f"{model}_percentile"]))
    assert answer["loss"] == answer[f"{query.lead}_loss"] and answer["lead"] == query.lead
    assert answer["loss_low"] <= answer["loss"] <= answer["loss_high"]
    assert answer["agree"] == (abs(answer["regressor_percentile"] - answer["ranker_percentile"]) <= 0.25)


def test_matching_images_are_the_held_out_images_the_sentence_names(query, shapes_session):
    answer = query.ask("A large ORANGE triangle.")
    table = shapes_session.table.iloc[query.held_out]
    mask = ((table["size"] == "large") & (table["color"] == "orange") & (table["shape"] == "triangle")).to_numpy()
    # by = color and shape only: size is not a slice attribute of this view, so it is not matched
    mask_by = ((table["color"] == "orange") & (table["shape"] == "triangle")).to_numpy()
    losses = shapes_session.image_losses()[query.held_out]
    assert answer["matching"]["named"] == {"color": ["orange"], "shape": ["triangle"]}
    assert answer["matching"]["n_images"] == mask_by.sum() >= mask.sum()
    assert np.isclose(answer["matching"]["actual_loss"], losses[mask_by].mean())
    assert query.ask("a photo of a cat")["matching"] == {"named": {}, "n_images": 0, "actual_loss": None}


def test_answers_are_newest_first_and_two_are_compared(query):
    query.ask("a green square.")
    query.ask("a cyan triangle.")
    assert [a["text"] for a in query.answers[:2]] == ["a cyan triangle.", "a green square."]
    assert query.pair["a"] == "a green square." and query.pair["b"] == "a cyan triangle."
    assert 0 <= query.pair["p_a_harder"] <= 1 and query.pair["model"] == query.lead
    query.ask("a green square.")  # asked again: moves to the top, not twice
    assert [a["text"] for a in query.answers].count("a green square.") == 1
    assert query.answers[0]["text"] == "a green square."
    assert list(query.table.columns[:3]) == ["text", "lead", "percentile"]


def test_per_slice_actual_loss_is_the_mean_of_held_out_losses(query, shapes_session):
    table = shapes_session.table.iloc[query.held_out].assign(loss=shapes_session.image_losses()[query.held_out])
    actual = table.groupby(["color", "shape"])["loss"].agg(["mean", "size"])
    shown = {r["name"]: r for r in query.slices}
    assert len(shown) == len(actual) == 12
    for (color, shape), row in actual.iterrows():
        s = shown[f"{color} {shape}"]
        assert np.isclose(s["actual_loss"], row["mean"]) and s["n_images"] == row["size"]
    estimated = [r["loss"] for r in query.slices]
    assert estimated == sorted(estimated, reverse=True)
    # same scale: a higher held-out percentile never means a lower estimated loss
    by_pct = sorted(query.slices, key=lambda r: r["percentile"])
    assert all(a["loss"] <= b["loss"] + 1e-9 for a, b in zip(by_pct, by_pct[1:]))


def test_page_questions_are_validated(query):
    before = list(query.answers)
    reply = ask_from_page(query, {"type": "ask", "sentence": "x" * 100_000})
    assert "error" not in reply  # refused by set_state: undone, and the status line says why
    assert "100,000 characters" in query.status and query.answers == before
    assert query.sentence != "x" * 100_000
    for bad in ("   ", 5, None):
        reply = ask_from_page(query, {"type": "ask", "sentence": bad})
        assert "Type a sentence" in reply["error"]
    markup = "<img src=x onerror=alert(1)> square"
    reply = ask_from_page(query, {"type": "ask", "sentence": markup})
    assert "error" not in reply and query.answers[0]["text"] == markup  # kept as text; the page shows it as text


def test_bad_construction_is_refused(shapes_session, query):
    with pytest.raises(InputError, match="held_out"):
        LossQuery(shapes_session, llm=query._llm)
    with pytest.raises(InputError, match="cannot slice by"):
        LossQuery(shapes_session, llm=query._llm, held_out=query.held_out, by=["colour"])
    with pytest.raises(InputError, match="held_out must be row numbers"):
        LossQuery(shapes_session, llm=query._llm, held_out=[10**7], by=["color"])


def test_a_new_head_marks_the_answers_stale_until_refit(shapes_session):
    q = LossQuery(shapes_session, by=["shape"], members=1, epochs=3)
    q.ask("a square.")
    try:
        shapes_session.train_head(epochs=3)
        assert "head changed" in q.stale and q.answers
        q.refit()
        assert q.stale == "" and q.answers == []
    finally:
        q.close()


def test_the_report_holds_the_answers(query):
    query.ask("a small red square.")
    page = report_html(query)
    assert "a small red square." in page and "spearman_slices_from_text" in page


# -- SpuriousPanel -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_session():
    return Session.from_shapes_world(n=600, ensemble=False, train=False)


@pytest.fixture(scope="module")
def panel(small_session):
    return SpuriousPanel(small_session, "color", ["orange", "green"], variants=["plain", "language"], seeds=[0, 1],
                         epochs=3)


def test_zero_shot_bars_are_group_accuracy_of_the_base(panel, small_session):
    ev = np.flatnonzero(((small_session.table["split"] == "test") &
                         small_session.table["color"].isin(["orange", "green"])).to_numpy())
    assert panel.n_evaluate == len(ev)
    predicted = panel.data.base().predict(panel.data, ev)
    groups = small_session.table.iloc[ev].assign(cls=small_session.labels[ev])
    per_group = groups.assign(ok=predicted == small_session.labels[ev]).groupby(["cls", "color"])["ok"].mean()
    row = panel.result["rows"][0]
    assert row["method"] == "zero-shot" and panel.result["run"] == 0
    assert np.isclose(row["worst_group"], per_group.min())
    assert np.isclose(row["average"], (predicted == small_session.labels[ev]).mean())
    assert list(panel.detections) == ["zero-shot"] and len(panel.detection()) > 0


def test_fine_tune_reports_progress_and_time_left_then_the_bars(monkeypatch, small_session, panel):
    comm_of = recording(monkeypatch)
    p = SpuriousPanel(small_session, "color", ["orange", "green"], variants=["plain", "vision"], seeds=[0, 1],
                      epochs=2, data=panel.data)
    comm = comm_of(p)
    reply = ask_from_page(p, {"type": "fine_tune"})
    assert reply == {"request": 7, "n_buffers": 0}
    statuses = comm.updates("status")
    assert any("epochs, about" in s and "s left" in s for s in statuses)
    assert comm.updates("busy")[-2:] == [True, False] and p.progress == 1.0
    progress = [v for v in comm.updates("progress") if v >= 0]
    assert progress == sorted(progress) and progress[-1] == 1.0
    rows = p.result["rows"]
    assert [r["method"] for r in rows] == ["zero-shot", "plain", "vision"] and p.result["run"] == 1
    assert all(r["seeds"] == 2 for r in rows[1:]) and all(r["worst_group_sd"] is not None for r in rows[1:])
    table = p.comparison.table.set_index("method")
    assert np.isclose(rows[1]["worst_group"], table.loc["plain", "worst_group"])
    assert set(p.detections) == {"zero-shot", "plain", "vision"}
    assert p.result["settings"] == {"variants": ["plain", "vision"], "seeds": [0, 1], "epochs": 2,
                                    "values": ["orange", "green"]}


def test_bad_settings_from_the_page_are_undone(panel):
    panel.set_state({"variants": ["plain", "bogus"]})
    assert panel.variants == ["plain", "language"] and "bogus" in panel.status
    panel.set_state({"seeds": []})
    assert panel.seeds == [0, 1] and "seeds is empty" in panel.status
    panel.set_state({"epochs": -3})
    assert panel.epochs == 3


def test_bad_panels_are_refused(small_session, panel):
    with pytest.raises(InputError, match="not a column"):
        SpuriousPanel(small_session, "colour", ["orange"], data=panel.data)
    with pytest.raises(InputError, match="not values of 'color'"):
        SpuriousPanel(small_session, "color", ["purple"], data=panel.data)
    with pytest.raises(InputError, match="at least two"):
        SpuriousPanel(small_session, "color", ["orange", "green"], train=[3], data=panel.data)
    with pytest.raises(InputError, match="detection for"):
        panel.detection("vision")
