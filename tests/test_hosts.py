"""What each host needs from the kernel side, without a browser: plotly.js sent once per kernel,
Colab's widget manager switched on, base64 copies for a host that drops binary buffers, and no
request that leans on anywidget's own time limits. The front end's half is js/test/hosts.test.js."""

import base64
import json
import re
import sys
import types

import pytest

from drml_widgets.widgets import GapPlot, InfluenceChart, RectifyPanel, SliceTable, hosts
from drml_widgets.widgets.assets import JS_DIR, bundle
from drml_widgets.widgets.runtime import plotly_runtime
from widget_support import recording


@pytest.fixture
def comm_of(monkeypatch):
    plotly_runtime().close()  # the next view makes a runtime on a recording comm, so its bytes are counted
    return recording(monkeypatch)


def opened_js(widget) -> int:
    """Bytes of JavaScript in a widget's open message: its module and, for the runtime, plotly.js."""
    state = widget.comm.messages[0][1]["state"]
    return len(state.get("_esm", "")) + len(state.get("source", ""))


def test_plotly_travels_once_per_kernel_and_each_extra_view_adds_little(drml_session, comm_of):
    views = [GapPlot(drml_session), InfluenceChart(drml_session), RectifyPanel(drml_session), GapPlot(drml_session)]
    runtime = plotly_runtime()
    assert {v._runtime for v in views} == {runtime}
    assert {v.get_state(["_runtime"])["_runtime"] for v in views} == {f"IPY_MODEL_{runtime.model_id}"}
    assert opened_js(runtime) > 1_000_000 and runtime.source == bundle("plotly_runtime")
    per_view = [opened_js(v) for v in views]
    assert max(per_view) <= 50_000, per_view  # the views carry their own code only
    assert SliceTable(drml_session, by=["color"]).get_state(["_runtime"])["_runtime"] is None  # no plots, no runtime


def test_a_closed_runtime_is_made_again(drml_session):
    first = GapPlot(drml_session)._runtime
    first.close()
    assert GapPlot(drml_session)._runtime is not first and plotly_runtime().comm is not None


def test_colab_gets_its_custom_widget_manager_once(drml_session, monkeypatch):
    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(1))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(hosts, "_prepared", False)
    SliceTable(drml_session, by=["color"])
    GapPlot(drml_session)
    assert calls == [1]


def test_outside_colab_nothing_is_switched_on(monkeypatch):
    monkeypatch.setattr(hosts, "_prepared", False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert hosts.prepare_host() is False


def reply(widget, **content):
    before = len(widget.comm.custom())
    widget._handle_custom_msg({"request": 3, **content}, [])
    (answer,) = widget.comm.custom()[before:]
    return answer


def test_replies_say_how_many_buffers_they_carry_and_come_as_base64_when_asked(drml_session, comm_of):
    table = SliceTable(drml_session, by=["color"])
    msg, buffers = reply(table, type="thumbs", rows=[0, 4])
    assert msg["n_buffers"] == 2 == len(buffers) and "base64" not in msg
    msg, buffers = reply(table, type="thumbs", rows=[0, 4], base64=True)  # the page saw its buffers dropped
    assert buffers == [] and [base64.b64decode(b)[:2] for b in msg["base64"]] == [b"\xff\xd8"] * 2
    assert json.dumps(msg)  # all text
    msg, _ = reply(table, type="thumbs", rows=["x"], base64=True)
    assert "not a row number" in msg["error"]


def test_no_request_leans_on_anywidgets_time_limits():
    sources = {p.name: p.read_text() for p in (JS_DIR / "src").glob("*.js")}
    assert not [name for name, text in sources.items() if re.search(r"\binvoke\b", text)]  # 3 s unless given a signal
    limit = re.search(r"export const REQUEST_TIMEOUT = ([\d_]+);", sources["util.js"])
    assert int(limit.group(1).replace("_", "")) >= 30_000  # a busy kernel answers late; our own wait, not anywidget's
    # The runtime widget's module does nothing, so anywidget starts its model at once (it gives up after 2 s).
    assert len(bundle("runtime")) < 1_000


def test_a_malformed_message_gets_an_error_reply_never_a_traceback(drml_session, comm_of, capsys):
    table = SliceTable(drml_session, by=["color"])
    for content in (["not", "a", "dict"], {"type": ["thumbs"]}, {"type": None}, {"no": "type"}):
        table._dispatch(table, content, [])  # not ours: ignored
    assert "error" in reply(table, type="thumbs", rows={"a": 1})[0]
    assert "error" in reply(table, type="thumbs", rows=[-1], base64="yes")[0]
    assert "Traceback" not in capsys.readouterr().err and table.status == ""
