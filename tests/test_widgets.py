"""Widget models and messages, without a browser: what each view puts on the wire and how it
answers the front end's messages."""

import json

import numpy as np
import pytest
from ipywidgets.embed import embed_data, embed_minimal_html

from drml_widgets.widgets import Dashboard, GapPlot, InfluenceChart, PromptBuilder, RectifyPanel, SliceTable, write_report
from drml_widgets.widgets.assets import JS_DIR, bundle, bundle_hash, manifest, sources_hash
from widget_support import XSS_TYPE, XSS_VALUE, recording, xss_session

VIEWS = ["gap_plot", "slice_table", "influence_chart", "rectify_panel", "prompt_builder", "dashboard", "part"]


@pytest.fixture(autouse=True)
def close_new_widgets():
    """Widgets follow the shared session until closed; close each test's own so later tests
    do not pay for their refreshes."""
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    yield
    for model_id in set(_instances) - before:
        widget = _instances.get(model_id)
        if widget is not None:
            widget.close()


@pytest.fixture
def comm_of(monkeypatch):
    return recording(monkeypatch)


def ask(widget, **content):
    """Send a custom message as the front end would; return the widget's reply and buffers."""
    content.setdefault("request", 7)
    before = len(widget.comm.custom())
    widget._handle_custom_msg(content, [])
    replies = widget.comm.custom()[before:]
    assert len(replies) == 1, replies
    return replies[0]


# -- the bundle ------------------------------------------------------------------------------
def test_committed_bundles_match_their_sources():
    if not (JS_DIR / "src").is_dir():
        pytest.fail("js/src is missing: run the tests from a checkout of the repository")
    expected = sources_hash()
    stale = [v for v in VIEWS if bundle_hash(v) != expected]
    assert not stale, f"bundles {stale} are stale. Fix: cd js && npm ci && npm run build"
    assert manifest()["sources_sha256"] == expected


def test_only_the_views_that_plot_carry_plotly():
    sizes = manifest()["bytes"]
    assert sizes["slice_table"] < 40_000 and sizes["prompt_builder"] < 40_000 and sizes["part"] < 1_000
    assert sizes["gap_plot"] - sizes["influence_chart"] > 200_000  # WebGL scatter only where points are drawn
    assert bundle("gap_plot").startswith("/* drml-widgets bundle")


# -- GapPlot ---------------------------------------------------------------------------------
def test_gap_plot_sends_coordinates_as_float32_bytes(drml_session, comm_of):
    plot = GapPlot(drml_session)
    n = len(drml_session.table) + len(drml_session.prompts)
    assert len(plot.points) == 8 * n and len(plot.modality) == n and len(plot.codes) == n
    xy = np.frombuffer(plot.points, np.float32).reshape(n, 2)
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    sizes = comm_of(plot).sizes()
    json_bytes, binary = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    assert binary >= 10 * n  # coordinates and colours went as buffers ...
    assert json_bytes < 0.5 * n  # ... not as JSON
    assert (json_bytes + binary) / n <= 16
    assert max(j + b for j, b in sizes) < 4_000_000


def test_closing_the_gap_shrinks_it_and_reprojects(drml_session):
    plot = GapPlot(drml_session)

    def stat(name, level):
        return next(s["mean"] for s in plot.stats if s["statistic"] == name and s["level"] == level)

    raw_points, raw_direction, raw_class_gap = plot.points, stat("direction", "pair"), stat("magnitude", "class")
    plot.close_gap = True
    # Pair gaps stop pointing one way and the class means of the two modalities meet.
    assert stat("direction", "pair") < raw_direction / 4 and stat("magnitude", "class") < raw_class_gap / 2
    assert plot.points != raw_points
    assert "gap closed" in plot.note


def test_gap_plot_colours_by_attribute_and_subsamples_for_umap(drml_session):
    plot = GapPlot(drml_session, color_by="color", umap_points=500)
    assert plot.categories == list(drml_session.attributes.values["color"])
    codes = np.frombuffer(plot.codes, np.uint8)
    assert set(codes) == set(range(len(plot.categories)))
    images = np.array(plot.categories, dtype=object)[codes[: plot.n_images]]
    assert (images == drml_session.table["color"].to_numpy()).all()
    plot.projection = "umap"
    assert len(plot.points) == 8 * 500 and len(np.frombuffer(plot.index, np.uint32)) == 500
    assert "random 500 of" in plot.note and plot.axis_labels == ["UMAP 1", "UMAP 2"]


def test_gap_plot_hover_answers_by_row_with_jpeg_or_prompt(drml_session, comm_of):
    plot = GapPlot(drml_session)
    reply, buffers = ask(plot, type="hover", modality="image", row=5)
    assert reply["request"] == 7 and bytes(buffers[0][:2]) == b"\xff\xd8"
    reply, buffers = ask(plot, type="hover", modality="text", row=0)
    assert reply["lines"][0] == drml_session.prompts["prompt"][0] and not buffers
    reply, _ = ask(plot, type="hover", modality="image", row="/etc/passwd")
    assert "not a row number" in reply["error"]
    reply, _ = ask(plot, type="hover", modality="image", row=10 ** 9)
    assert "out of range" in reply["error"]


def test_gap_plot_selection_comes_back_to_python(drml_session):
    plot = GapPlot(drml_session)
    points = np.array([0, 3, plot.n_images + 2], np.uint32)
    plot.set_state({"selected": memoryview(points.tobytes())})  # as the front end sends it
    picked = plot.selection()
    assert list(picked["images"].index) == [0, 3] and list(picked["prompts"].index) == [2]


# -- SliceTable ------------------------------------------------------------------------------
def test_slice_table_rows_focus_and_thumbnails(drml_session, comm_of):
    table = SliceTable(drml_session, by=["color", "shape"])
    assert len(table.rows) == 12 and table.spearman is not None
    row = next(r for r in table.rows if r["values"] == {"color": "green", "shape": "triangle"})
    table.focus = row["key"]
    assert 0 < len(table.focus_rows) <= 12 and table.focus_prompts
    picked = drml_session.table.iloc[table.focus_rows]
    assert set(picked["color"]) == {"green"} and set(picked["shape"]) == {"triangle"}
    reply, buffers = ask(table, type="thumbs", rows=table.focus_rows)
    assert reply["rows"] == table.focus_rows and len(buffers) == len(table.focus_rows)
    assert all(bytes(b[:2]) == b"\xff\xd8" for b in buffers)
    for bad, message in (["x.png"], "not a row number"), (list(range(49)), "at most 48"), ("0", "list of row numbers"):
        assert message in ask(table, type="thumbs", rows=bad)[0]["error"]


def test_slice_table_every_subset_and_selection(drml_session):
    table = SliceTable(drml_session)
    assert len(table.rows) == len(drml_session.all_slices())
    table.select(drml_session.failing_slices(["color", "shape"]))
    assert table.selected_slices == drml_session.failing_slices(["color", "shape"])[["color", "shape"]].to_dict("records")
    with pytest.raises(KeyError, match="No row"):
        table.select([{"color": "purple"}])


# -- RectifyPanel ----------------------------------------------------------------------------
def test_rectify_button_reports_progress_refreshes_views_and_undoes(drml_session, comm_of):
    table = SliceTable(drml_session, by=["color", "shape"])
    panel = RectifyPanel(drml_session, table=table, epochs=8)
    table.select(drml_session.failing_slices(["color", "shape"]))
    assert panel.slices == table.selected_slices and panel.slices
    before = {r["key"]: r["image_acc"] for r in table.rows}
    try:
        panel._handle_custom_msg({"type": "rectify"}, [])  # the Rectify button
        progress = comm_of(panel).updates("progress")
        assert len(progress) >= 8 and progress == sorted(progress) and progress[-1] == 1.0
        assert drml_session.version == panel.version == table.version == 1
        after = {r["key"]: r["image_acc"] for r in table.rows}
        assert after != before
        targeted = [r for r in panel.result["rows"] if r["targeted"]]
        assert {r["name"] for r in targeted} == {" ".join(s.values()) for s in panel.slices}
        assert all(r["image_acc_after"] >= r["image_acc_before"] for r in targeted)
        panel._handle_custom_msg({"type": "undo"}, [])
        assert drml_session.version == table.version == 0 and panel.can_redo
        assert {r["key"]: r["image_acc"] for r in table.rows} == before
    finally:
        while drml_session.version > 0:
            drml_session.undo()


def test_rectify_without_slices_says_what_to_do(drml_session, comm_of):
    panel = RectifyPanel(drml_session)
    panel._handle_custom_msg({"type": "rectify"}, [])
    assert "tick rows in the slice table" in panel.status and drml_session.version == 0


# -- InfluenceChart and PromptBuilder --------------------------------------------------------
def test_influence_chart_has_both_methods_and_follows_the_class(drml_session):
    chart = InfluenceChart(drml_session)
    assert chart.target == "triangle" and chart.data["drml"] and chart.data["shapley"]
    first = chart.frame("drml").set_index(["attribute", "value"])["influence"]
    chart.target = "square"
    second = chart.frame("drml").set_index(["attribute", "value"])["influence"]
    assert np.allclose(first.loc[("color", "orange")], -second.loc[("color", "orange")], atol=1e-4)
    with pytest.raises(Exception, match="Unknown method"):
        chart.method = "lime"


def test_prompt_builder_counts_validates_and_feeds_the_session(drml_session):
    builder = PromptBuilder(drml_session)
    assert builder.count == 3 * 6 * 2 * 82 and builder.applied and not builder.errors
    builder.attributes = builder.attributes + [{"type": "texture", "values": [f"t{i}" for i in range(100)]}]
    assert builder.count > builder.max_prompts and any("above the cap" in e for e in builder.errors)
    builder.ensemble = False
    assert builder.count == 3 * 6 * 2 * 100 * 2 and not builder.errors and not builder.applied
    builder.templates = ["{size} {colour} {shape}."]
    assert any("'colour'" in e for e in builder.errors)
    original = (drml_session.attributes, drml_session.spec, drml_session.label_rule)
    builder.templates = ["{size} {color} {shape}."]
    builder.attributes = [a for a in builder.attributes if a["type"] != "texture"]
    try:
        builder._handle_custom_msg({"type": "apply"}, [])
        assert len(drml_session.prompts) == 36 and builder.applied
        assert list(builder.prompts()["prompt"]) == list(drml_session.prompts["prompt"])
    finally:
        drml_session.set_prompts(*original)


# -- Dashboard, embedding and the report -----------------------------------------------------
def test_dashboard_state_embeds_without_a_kernel(drml_session, tmp_path):
    dash = Dashboard(drml_session)
    state = embed_data(views=[dash], drop_defaults=False)["manager_state"]["state"]
    parts = {name: ref.replace("IPY_MODEL_", "") for name, ref in state[dash.model_id]["state"]["parts"].items()}
    assert set(parts) == {"gap", "slices", "rectify", "influence", "prompts"} and set(parts.values()) <= set(state)
    gap = state[parts["gap"]]
    assert {b["path"][0] for b in gap["buffers"]} >= {"points", "codes", "modality"}
    assert len(gap["state"]["_esm"]) < 1000  # the plotting code travels once, with the dashboard
    embed_minimal_html(tmp_path / "min.html", views=[dash], drop_defaults=False)
    assert dash.model_id in (tmp_path / "min.html").read_text()
    dash.close()


def test_report_escapes_html_in_user_strings(tmp_path):
    session = xss_session()
    dash = Dashboard(session, by=[XSS_TYPE, "shape"])
    page = write_report(session, tmp_path / "report.html", dashboard=dash).read_text()
    body = page[page.index('<script type="application/json"'):]
    assert XSS_TYPE not in body and XSS_VALUE not in body  # only as \u003c-escaped JSON
    data = json.loads(body[body.index(">") + 1: body.index("</script>")])
    slices = data["state"][dash.slices.model_id]["state"]
    assert slices["columns"] == [XSS_TYPE, "shape"]  # the escaping is lossless
    assert XSS_VALUE in {r["values"][XSS_TYPE] for r in slices["rows"]}


def test_demo_command_writes_a_report_of_its_final_state(tmp_path, capsys):
    from drml_widgets.cli import main

    out = tmp_path / "demo.html"
    assert main(["demo", "--n", "1200", "--no-ensemble", "--report", str(out)]) == 0
    assert str(out.resolve()) in capsys.readouterr().out
    page = out.read_text()
    state = json.loads(page.split('<script type="application/json" id="drml-state">')[1].split("</script>")[0])
    panels = [m["state"] for m in state["state"].values() if m["state"].get("_anywidget_id", "").endswith("RectifyPanel")]
    assert len(panels) == 1 and panels[0]["version"] == 1 and panels[0]["result"]["rows"]  # the rectification shows
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, none left behind
