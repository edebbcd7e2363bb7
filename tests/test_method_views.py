"""FailureModes (PRIME) and HardClusters (LBEE): what they put in their state, how they answer the
front end, how they refuse bad input, and that they follow the session."""

import numpy as np
import pytest

from drml_widgets.errors import InputError
from drml_widgets.methods import lbee
from drml_widgets.methods.prime import find_failure_modes, generalisation
from drml_widgets.methods.tagging import tags_from_table
from drml_widgets.session import Session
from drml_widgets.widgets import FailureModes, HardClusters
from drml_widgets.widgets.report import report_html
from drml_widgets.widgets.result_view import EMBED_BYTES, EMBED_PER_GROUP
from widget_support import recording


@pytest.fixture(scope="module")
def session():
    return Session.from_shapes_world(n=2000, ensemble=False)


@pytest.fixture
def comm_of(monkeypatch):
    return recording(monkeypatch)


def ask(widget, **content):
    """A custom message as the front end sends it; the reply and its buffers."""
    content.setdefault("request", 3)
    before = len(widget.comm.custom())
    widget._handle_custom_msg(content, [])
    replies = widget.comm.custom()[before:]
    assert len(replies) == 1, replies
    return replies[0]


def embedded(view, spans):
    data = bytes(view.thumb_bytes)
    return [data[start:end] for _, start, end in spans]


def test_failure_modes_from_a_session_shows_its_modes_and_the_held_out_check(session):
    view = FailureModes(session, s=10)
    expected = session.failure_modes(held_out=0.5, s=10)
    assert [m["tags"] for m in view.modes] == [list(t) for t in expected.modes["tags"]]
    assert [m["n_images"] for m in view.modes] == expected.modes["n_images"].tolist()
    assert [m["holds"] for m in view.modes] == expected.heldout["holds"].tolist()
    assert [m["heldout_accuracy"] for m in view.modes] == pytest.approx(expected.heldout["heldout_accuracy"].tolist())
    assert f"{int(expected.heldout['holds'].sum())} of {len(expected.modes)} modes" in view.heldout_note
    for i, mode in enumerate(view.modes):
        members = set(expected.members(i).tolist())
        assert 0 < len(mode["thumbs"]) <= EMBED_PER_GROUP and {r for r, _, _ in mode["thumbs"]} <= members
        assert all(j.startswith(b"\xff\xd8") for j in embedded(view, mode["thumbs"]))
    assert 0 < len(view.thumb_bytes) <= EMBED_BYTES and "kB of a 300 kB budget" in view.embed_note
    assert view.table.columns[-1] == "holds" and len(view.table) == len(view.modes)


def test_failure_modes_from_a_result_with_images_and_held_out_table(session):
    table = session.table[session.table["split"] == "test"].reset_index(drop=True)
    tags = tags_from_table(table, ["color", "size", "position"])
    pred = session.image_predictions((session.table["split"] == "test").to_numpy())
    labels = table["label"].to_numpy()
    half = len(table) // 2
    result = find_failure_modes(tags.iloc[:half], pred[:half], labels[:half], session.classes, s=10)
    held = generalisation(result, tags.iloc[half:].reset_index(drop=True), pred[half:], labels[half:])
    images = session.images[(session.table["split"] == "test").to_numpy()][:half]
    view = FailureModes(result, images=images, heldout=held)
    assert view.session is None and len(view.modes) == len(result.modes) > 0
    assert [m["holds"] for m in view.modes] == held["holds"].tolist()
    first = view.modes[0]
    assert [r for r, _, _ in first["thumbs"]] == result.members(0)[:EMBED_PER_GROUP].tolist()

    bare = FailureModes(result)  # no images, no held-out images: the view says so
    assert len(bare.thumb_bytes) == 0 and bare.modes[0]["thumbs"] == [] and "No images" in bare.embed_note
    assert "holds" not in bare.modes[0] and "not checked" in bare.heldout_note


def test_failure_modes_refuses_bad_input_with_the_fix(session):
    result = session.failure_modes(s=10)
    with pytest.raises(InputError, match="images for"):
        FailureModes(result, images=session.images[:5])
    with pytest.raises(InputError, match="already computed"):
        FailureModes(result, s=10)
    with pytest.raises(InputError, match="got DataFrame"):
        FailureModes(result.modes)
    with pytest.raises(InputError, match="leave out images="):
        FailureModes(session, images=session.images)
    with pytest.raises(InputError, match="does not list this result's modes"):
        FailureModes(result, heldout=session.failure_modes(held_out=0.5, s=10).heldout.iloc[:1])


def test_more_images_come_by_mode_key_and_bad_keys_get_an_error_line(session, comm_of):
    view = FailureModes(session, s=10)
    content, buffers = ask(view, type="members", key=view.modes[1]["key"])
    members = view.result.members(1)
    assert content["total"] == len(members) and content["rows"] == members[:48].tolist()
    assert len(buffers) == len(content["rows"]) and bytes(buffers[0])[:2] == b"\xff\xd8"
    view.set_state({"focus": "x" * 100_000})  # a row that does not exist: refused, undone, one short line
    assert view.focus == "" and "There is no row" in view.status and len(view.status) < 200
    view.set_state({"focus": view.modes[1]["key"]})
    assert view.focus_rows.tolist() == members.tolist()
    for bad in ("99", "../etc/passwd", 3, None, "x" * 100_000):
        content, buffers = ask(view, type="members", key=bad)
        assert "There is no group" in content["error"] and len(content["error"]) < 200 and buffers == []


def test_failure_modes_follow_the_head(session):
    view = FailureModes(session, s=10)
    before = [m["tags"] for m in view.modes]
    session.rectify([{"color": "green", "shape": "triangle"}])
    try:
        assert view.version == session.version == 1
        assert [m["tags"] for m in view.modes] == [list(t) for t in session.failure_modes(held_out=0.5, s=10).modes["tags"]]
    finally:
        session.undo()
    assert view.version == 0 and [m["tags"] for m in view.modes] == before


def test_hard_clusters_from_a_session_record_tau_metrics_and_sentences(session):
    view = HardClusters(session, n_clusters=4)
    result = session.hard_clusters(n_clusters=4)
    relevance = session.sentence_relevance(result)
    assert view.tau == result.params["tau"] and view.tau_from == result.params["tau_from"]
    assert view.tau_from.startswith("mean + 1 sd of")  # the adaptive tau, and how it was chosen
    rows = result.rows
    correct = session.image_predictions(rows) == session.labels[rows]
    metrics = lbee.evaluate(result, relevance, lbee.ground_truth(relevance, correct))
    assert [m["AHR"] for m in view.metrics] == pytest.approx(metrics["AHR"].tolist())
    assert [m["ACR"] for m in view.metrics] == pytest.approx(metrics["ACR"].tolist())
    assert "ground truth" in view.relevance_note
    assert [c["n_images"] for c in view.clusters] == result.clusters["n_images"].tolist()
    fp = result.selection("FPDiff").set_index("cluster")["sentences"]
    assert [" | ".join(s["sentence"] for s in c["sentences"]["FPDiff"]) for c in view.clusters] == fp.tolist()
    kept = set(result.selections["sentence"])
    assert {s["sentence"] for s in view.sentences} == kept
    for s in view.sentences:
        hits = relevance[s["sentence"]].to_numpy()
        assert s["counts"] == {c["key"]: int(hits[result.assignments == c["cluster"]].sum()) for c in view.clusters}
        assert all(hits[r] for r in s["described"])


def test_select_by_sentence_from_python_and_from_the_browser(session, comm_of):
    view = HardClusters(session, n_clusters=4)
    sentence = max(view.sentences, key=lambda s: sum(s["counts"].values()))["sentence"]
    view.picked = sentence
    relevance = session.sentence_relevance(view.result)
    expected = np.flatnonzero(relevance[sentence].to_numpy() & (view.result.assignments >= 0))
    assert view.picked_rows.tolist() == expected.tolist() and len(expected) > 0
    content, buffers = ask(view, type="members", key=view.clusters[0]["key"])
    assert set(content["described"]) <= set(content["rows"])
    assert content["described"] == [r for r in content["rows"] if relevance[sentence].iloc[r]]
    for bad in ("<img src=x onerror=alert(1)>", "y" * 100_000):
        view.set_state({"picked": bad})  # refused and undone, with a short error line
        assert view.picked == sentence and "is not a sentence the clusters kept" in view.status and len(view.status) < 300
    view.set_state({"method": "Best"})
    assert view.method == "FPDiff" and "Unknown method 'Best'" in view.status


def test_hard_clusters_from_a_result_and_bad_input(session):
    test = (session.table["split"] == "test").to_numpy()
    first = (session.prompts["template"] == session.spec.templates[0]).to_numpy()
    sentences = session.prompts.loc[first]
    pred, labels = session.image_predictions(test), session.labels[test]
    split = lbee.split_hard_easy(predictions=pred, labels=labels)
    result = lbee.find_hard_clusters(session.image_emb[test], split, sentences, session.text_emb[first], n_clusters=3,
                                   correct=pred == labels)
    relevance = lbee.relevance_from_attributes(session.table[test].reset_index(drop=True), sentences)
    view = HardClusters(result, images=session.images[test], relevance=relevance, correct=pred == labels)
    assert view.session is None and len(view.clusters) == 3 and [c["accuracy"] for c in view.clusters] == [0.0] * 3
    assert len(view.metrics) == 4 and all(len(c["thumbs"]) == EMBED_PER_GROUP for c in view.clusters)
    plain = HardClusters(result)
    assert plain.metrics == [] and "unknown here" in plain.relevance_note and plain.sentences[0]["counts"] == {}
    with pytest.raises(InputError, match="relevance must be a DataFrame"):
        HardClusters(result, relevance=relevance.iloc[:10])
    with pytest.raises(InputError, match="correct has 3 values"):
        HardClusters(result, correct=[True, False, True])
    with pytest.raises(InputError, match="images LBEE clustered"):
        HardClusters(result, images=session.images)
    with pytest.raises(InputError, match="got ndarray"):
        HardClusters(result.assignments)


def test_views_embed_in_a_report_page_with_their_thumbnails(session):
    import base64
    import json
    import re

    for view in (FailureModes(session, s=10), HardClusters(session, n_clusters=3)):
        page = report_html(view, title="method view")
        data = json.loads(re.search(r'id="drml-state">(.*?)</script>', page, re.S).group(1))
        root = data["state"][view.model_id]
        assert root["state"]["_view_name"] == "AnyView" and root["state"]["focus"] == ""
        assert len(root["state"].get("modes", root["state"].get("clusters"))) > 0
        thumbs = [b for b in root["buffers"] if b["path"] == ["thumb_bytes", "buffer"]]
        assert len(thumbs) == 1 and base64.b64decode(thumbs[0]["data"]) == bytes(view.thumb_bytes)
