// Static report: draws a saved Dashboard without Jupyter. The page embeds the widget state (as
// ipywidgets' embed format) and this loader gives each view a model with the same interface as
// a live one. Its models have no kernel behind them and say so as ipywidgets' models do
// (`comm_live` false): the views disable what needs a kernel and say why (util.kernelGate).

function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return new DataView(out.buffer);
}

function withBuffers(entry) {
  const state = entry.state;
  for (const b of entry.buffers || []) {
    let node = state;
    for (const key of b.path.slice(0, -1)) node = node[key];
    node[b.path[b.path.length - 1]] = fromBase64(b.data);
  }
  return state;
}

class StaticModel {
  constructor(id, state, manager) {
    this.model_id = id;
    this.state = state;
    this.widget_manager = manager;
    this.listeners = new Map();
    this.comm_live = false;
  }
  get(name) { return this.state[name]; }
  set(name, value) {
    this.state[name] = value;
    this.emit(`change:${name}`, this, value);
  }
  save_changes() {}
  send() {} // no kernel to send to (util.request refuses before it gets here)
  emit(event, ...args) {
    for (const cb of [...(this.listeners.get(event) || [])]) cb(...args);
  }
  on(event, cb) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(cb);
  }
  off(event, cb) { this.listeners.get(event)?.delete(cb); }
}

async function main() {
  const data = JSON.parse(document.getElementById("drml-state").textContent);
  const models = new Map();
  // How to make this page live, for the views' no-kernel lines (util.kernelGate); absent: the default.
  const manager = { get_model: async (id) => models.get(id), drmlHowToRun: data.how_to_run };
  for (const [id, entry] of Object.entries(data.state)) models.set(id, new StaticModel(id, withBuffers(entry), manager));
  const root = models.get(data.root);
  const style = document.createElement("style"); // anywidget would load the view's `_css`
  style.textContent = root.get("_css") || "";
  document.head.appendChild(style);
  const url = URL.createObjectURL(new Blob([root.get("_esm")], { type: "text/javascript" }));
  const widget = (await import(url)).default;
  await widget.render({ model: root, el: document.getElementById("drml-root") });
  document.body.dataset.drmlReport = "ready";
}

main().catch((err) => {
  document.body.dataset.drmlReport = "error";
  const box = document.getElementById("drml-root");
  box.textContent = `The report could not be drawn: ${err && err.message}`;
});
