"""A view in Chromium with its kernel in this process, no Jupyter server: the fastest way to drive
a live view in a browser. The page holds the widget's state as the report does (ipywidgets'
embed format); its models send custom messages and trait edits to the Python widget through
playwright (``expose_function``), and apply what the widget sends back (state updates with their
binary buffers, replies to requests), as a kernel connection would.

Widgets must talk to :class:`widget_support.RecordingComm` comms (``widget_support.recording``),
whose recorded messages are what goes back to the page.
"""

from __future__ import annotations

import base64
import json

from ipywidgets.embed import dependency_state, embed_data
from ipywidgets.widgets.widget import _instances

LOADER = r"""
const b64 = (text) => { const bin = atob(text); const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return new DataView(out.buffer); };
const toB64 = (view) => { const b = new Uint8Array(view.buffer, view.byteOffset, view.byteLength); let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000)); return btoa(s); };
function put(state, path, value) { let node = state; for (const k of path.slice(0, -1)) node = node[k]; node[path[path.length - 1]] = value; }
const models = new Map();
async function apply(reply) {
  for (const { id, data, buffers } of JSON.parse(reply)) {
    const model = models.get(id);
    if (!model || !data) continue;
    const views = buffers.map(b64);
    if (data.method === "update") {
      (data.buffer_paths || []).forEach((path, i) => put(data.state, path, views[i]));
      for (const [k, v] of Object.entries(data.state)) { model.state[k] = v; model.emit(`change:${k}`, model, v); }
    } else if (data.method === "custom") model.emit("msg:custom", data.content, views);
  }
}
class BridgeModel {
  constructor(id, state, manager) { Object.assign(this, { model_id: id, state, widget_manager: manager, listeners: new Map(), dirty: new Set(), comm_live: true }); }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.dirty.add(name); this.emit(`change:${name}`, this, value); }
  save_changes() {
    const state = {}, buffer_paths = [], buffers = [];
    for (const name of this.dirty) {
      const value = this.state[name];
      if (value && typeof value === "object" && ArrayBuffer.isView(value.buffer)) {
        state[name] = { ...value, buffer: null }; buffer_paths.push([name, "buffer"]); buffers.push(toB64(value.buffer));
      } else state[name] = value;
    }
    this.dirty.clear();
    window.drmlKernel(JSON.stringify({ id: this.model_id, kind: "update", state, buffer_paths, buffers })).then(apply);
  }
  send(content) { window.drmlKernel(JSON.stringify({ id: this.model_id, kind: "custom", content, buffers: [] })).then(apply); }
  emit(event, ...args) { for (const cb of [...(this.listeners.get(event) || [])]) cb(...args); }
  on(event, cb) { if (!this.listeners.has(event)) this.listeners.set(event, new Set()); this.listeners.get(event).add(cb); }
  off(event, cb) { this.listeners.get(event)?.delete(cb); }
}
const data = JSON.parse(document.getElementById("drml-state").textContent);
const manager = { get_model: async (id) => models.get(id) };
for (const [id, entry] of Object.entries(data.state)) {
  for (const b of entry.buffers || []) put(entry.state, b.path, b64(b.data));
  models.set(id, new BridgeModel(id, entry.state, manager));
}
const root = models.get(data.root);
const style = document.createElement("style");
style.textContent = root.get("_css") || "";
document.head.appendChild(style);
const url = URL.createObjectURL(new Blob([root.get("_esm")], { type: "text/javascript" }));
const widget = (await import(url)).default;
await widget.render({ model: root, el: document.getElementById("drml-root") });
document.body.dataset.drmlBridge = "ready";
"""


def bridge_html(widget) -> str:
    """A page that draws ``widget`` with its models wired to this process (see :func:`connect`)."""
    state = embed_data(views=[widget], drop_defaults=False,
                       state=dependency_state([widget], drop_defaults=False))["manager_state"]["state"]
    data = json.dumps({"root": widget.model_id, "state": state}, separators=(",", ":")).replace("<", "\\u003c")
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:16px;max-width:1200px">'
            f'<main id="drml-root"></main><script type="application/json" id="drml-state">{data}</script>'
            f'<script type="module">{LOADER}</script></body></html>')


def _recorded():
    return {model_id: w.comm for model_id, w in list(_instances.items()) if hasattr(getattr(w, "comm", None), "messages")}


def handle(payload: str) -> str:
    """Deliver one message from the page to its widget; return, as JSON, every message any widget
    sent meanwhile (``[{id, data, buffers (base64)}]``)."""
    msg = json.loads(payload)
    widget = _instances[msg["id"]]
    comms = _recorded()
    seen = {model_id: len(c.messages) for model_id, c in comms.items()}
    buffers = [memoryview(base64.b64decode(b)) for b in msg["buffers"]]
    if msg["kind"] == "custom":
        widget._handle_custom_msg(msg["content"], buffers)
    else:
        widget._handle_msg({"content": {"data": {"method": "update", "state": msg["state"],
                                                 "buffer_paths": msg["buffer_paths"]}}, "buffers": buffers})
    out = []
    for model_id, c in comms.items():
        for kind, data, bufs in c.messages[seen[model_id]:]:
            if kind == "send":
                out.append({"id": model_id, "data": data,
                            "buffers": [base64.b64encode(memoryview(b).cast("B")).decode("ascii") for b in bufs]})
    return json.dumps(out, default=str)


def connect(page, widget, path):
    """Write the bridge page of ``widget`` to ``path``, wire ``page`` to this process and open it;
    returns when the view has rendered."""
    page.expose_function("drmlKernel", handle)
    path.write_text(bridge_html(widget), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.drmlBridge === 'ready'", timeout=300_000)
