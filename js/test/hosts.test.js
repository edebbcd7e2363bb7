// @vitest-environment happy-dom
// Every view, rendered as each host's widget manager hands a model over. Colab's drops the binary
// buffers of custom messages and gives state buffers as ArrayBuffer (not DataView); JupyterLab's
// keeps both. A stand-in kernel answers as drml_widgets/widgets/base.py does (n_buffers, and base64
// copies when asked), and plotly.js is a recording stand-in served as the PlotlyRuntime's code.
import { beforeEach, describe, expect, it, vi } from "vitest";

const HASH = "0".repeat(64);
const SOURCE = `/* drml-widgets bundle; sources sha256 ${HASH} */`;
const JPEG = [0xff, 0xd8, 0xff, 0xe0];

/** plotly.js stand-in: remembers what each node was drawn with and the handlers hung on it. */
const Plotly = {
  react(node, traces, layout) {
    node.figure = { traces, layout };
    node.handlers ??= {};
    node.on = (event, fn) => { node.handlers[event] = fn; };
    return Promise.resolve(node);
  },
  relayout(node, update) { Object.assign(node.figure.layout, update); return Promise.resolve(node); },
  purge(node) { delete node.figure; },
};
globalThis[Symbol.for("drml-widgets.plotly")] = new Map([[HASH, Promise.resolve(Plotly)]]);

const HOSTS = {
  jupyterlab: { dropsBuffers: false, binary: (bytes) => new DataView(bytes.buffer) },
  colab: { dropsBuffers: true, binary: (bytes) => bytes.buffer }, // ArrayBuffer, as Colab delivers state
};

/** A stand-in kernel: answers requests as SessionWidget._dispatch does, and logs what it was sent. */
function kernel() {
  const sent = [];
  const replies = {
    thumbs: (c) => [{ rows: c.rows }, c.rows.map(() => Uint8Array.from(JPEG))],
    hover: (c) => [{ lines: [`${c.modality} ${c.row}`] }, c.modality === "image" ? [Uint8Array.from(JPEG)] : []],
    select_region: (c) => [{ n: c.lasso ? c.lasso.x.length : 0 }, []],
  };
  return {
    sent,
    answer(model, content) {
      sent.push(content);
      const reply = replies[content.type];
      if (!reply || content.request === undefined) return;
      const [msg, buffers] = reply(content);
      if (content.base64) model.deliver({ ...msg, request: content.request, base64: buffers.map((b) => btoa(String.fromCharCode(...b))) }, []);
      else model.deliver({ ...msg, request: content.request, n_buffers: buffers.length }, buffers.map((b) => new DataView(b.buffer)));
    },
  };
}

/** A model with anywidget's interface, as `host` delivers it. */
class HostModel {
  constructor(state, host, manager, backend) {
    Object.assign(this, { state, host, widget_manager: manager, backend, listeners: new Map() });
  }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`, value); }
  save_changes() {}
  send(content) { queueMicrotask(() => this.backend.answer(this, content)); }
  on(event, fn) { if (!this.listeners.has(event)) this.listeners.set(event, new Set()); this.listeners.get(event).add(fn); }
  off(event, fn) { this.listeners.get(event)?.delete(fn); }
  emit(event, ...args) { for (const fn of [...(this.listeners.get(event) || [])]) fn(...args); }
  deliver(content, buffers) { this.emit("msg:custom", content, HOSTS[this.host].dropsBuffers ? [] : buffers); }
}

function array(host, Type, values, shape = [values.length]) {
  return { dtype: { Uint8Array: "uint8", Uint16Array: "uint16", Uint32Array: "uint32", Float32Array: "float32" }[Type.name], shape,
    buffer: HOSTS[host].binary(new Uint8Array(Type.from(values).buffer)) };
}

const COMMON = { busy: false, progress: -1, status: "", _runtime: "IPY_MODEL_runtime" };
const ROWS = [["green", "triangle", 0.2, 0.1], ["orange", "triangle", 0.9, 1.0], ["green", "square", 0.8, 0.95]].map(
  ([color, shape, p, acc]) => ({ key: JSON.stringify([color, shape]), values: { color, shape }, text_prob: p, text_acc: p,
    image_acc: acc, n_images: 10, n_prompts: 4 }));

function states(host) {
  return {
    runtime: { source: SOURCE },
    gap: { ...COMMON, projections: ["svd", "umap"], projection: "svd", color_options: ["modality"], color_by: "modality",
      close_gap: false, points: array(host, Uint16Array, [0, 0, 1, 1, 2, 0, 1, 2], [4, 2]), extent: [0, 65535, 0, 65535],
      modality: array(host, Uint8Array, [0, 0, 0, 1]), codes: array(host, Uint8Array, [0, 0, 0, 1]),
      index: array(host, Uint32Array, []), selected: array(host, Uint32Array, []), categories: ["image", "text"],
      axis_labels: ["SVD 1", "SVD 2"], n_images: 3, n_texts: 1, stats: [], note: "SVD of all 4 points." },
    slices: { ...COMMON, _runtime: null, by: ["color", "shape"], columns: ["color", "shape"], rows: ROWS, spearman: 0.9,
      pearson: 0.8, version: 0, selected: [], focus: ROWS[0].key, focus_rows: [3, 5], focus_prompts: ["a green triangle."], focus_of: ROWS[0].key },
    influence: { ...COMMON, classes: ["triangle", "square"], target: "triangle", method: "drml",
      data: { drml: [{ attribute: "color", value: "green", influence: -0.3, std_error: 0 }], shapley: [] } },
    rectify: { ...COMMON, slices: [{ color: "green", shape: "triangle" }], mode: "replay", epochs: 30, lr: 0.001, version: 1,
      can_undo: true, can_redo: false, history: [{ description: "trained", current: false }, { description: "rectified", current: true }],
      result: { version: 1, summary: "better", rows: [{ name: "green triangle", targeted: true, image_acc_before: 0.1,
        image_acc_after: 0.9, text_prob_before: 0.2, text_prob_after: 0.8 }] } },
    prompts: { ...COMMON, _runtime: null, attributes: [{ type: "color", values: ["green"] }, { type: "shape", values: ["triangle"] }],
      templates: ["{color} {shape}."], ensemble: false, ensemble_phrase: "", label_rule: "shape", max_prompts: 100000,
      count: 1, errors: [], samples: ["green triangle."], applied: true },
    dashboard: { parts: { gap: "IPY_MODEL_gap", slices: "IPY_MODEL_slices", rectify: "IPY_MODEL_rectify",
      influence: "IPY_MODEL_influence", prompts: "IPY_MODEL_prompts" } },
  };
}

function page(host) {
  const backend = kernel();
  const models = new Map();
  const manager = { get_model: async (id) => models.get(id) };
  for (const [id, state] of Object.entries(states(host))) models.set(id, new HostModel(state, host, manager, backend));
  return { backend, models };
}

async function render(view, model) {
  const { render } = await import(`../src/${view}.js`);
  const el = document.createElement("div");
  document.body.appendChild(el);
  await render({ model, el });
  await vi.waitFor(() => expect(el.querySelector("[data-drml-ready]") || (el.dataset.drmlReady && el)).toBeTruthy());
  return el;
}

describe.each(Object.keys(HOSTS))("as %s delivers models", (host) => {
  beforeEach(() => {
    vi.resetModules(); // each host starts on a fresh page: nothing known yet about buffers
    delete globalThis[Symbol.for("drml-widgets.host")];
    document.body.replaceChildren();
  });

  it("every view renders its data", async () => {
    const { models } = page(host);
    const gap = await render("gap_plot", models.get("gap"));
    const figure = gap.querySelector(".drml-plot").figure;
    expect(figure.traces.map((t) => t.x.length)).toEqual([3, 1]);
    expect(figure.layout.height).toBe(440);
    expect(gap.dataset.points).toBe("4");
    const table = await render("slice_table", models.get("slices"));
    expect(table.querySelectorAll("tbody tr")).toHaveLength(3);
    const chart = await render("influence_chart", models.get("influence"));
    expect(chart.querySelector(".drml-chart").figure.traces[0].x).toEqual([-0.3]);
    const panel = await render("rectify_panel", models.get("rectify"));
    expect(panel.querySelector(".drml-chart").figure.traces.map((t) => t.y)).toEqual([[0.1], [0.9]]);
    const builder = await render("prompt_builder", models.get("prompts"));
    expect(builder.querySelector(".drml-count").textContent).toContain("1 prompts");
    const dash = await render("dashboard", models.get("dashboard"));
    expect([...dash.querySelectorAll("[data-part]")].map((p) => p.dataset.part)).toEqual(["gap", "slices", "rectify", "influence", "prompts"]);
    expect(dash.querySelectorAll("[data-part] [data-drml-ready], [data-part][data-drml-ready]").length).toBe(5);
  });

  it("thumbnails and hover images arrive, as base64 where the host drops buffers", async () => {
    const { backend, models } = page(host);
    const table = await render("slice_table", models.get("slices"));
    await vi.waitFor(() => expect(table.querySelectorAll(".drml-thumbs img")).toHaveLength(2));
    const asked = backend.sent.filter((m) => m.type === "thumbs").map((m) => m.base64);
    expect(asked).toEqual(HOSTS[host].dropsBuffers ? [false, true] : [false]);

    const gap = await render("gap_plot", models.get("gap"));
    const plot = gap.querySelector(".drml-plot");
    plot.handlers.plotly_hover({ points: [{ curveNumber: 0, pointIndex: 1 }], event: { clientX: 5, clientY: 5 } });
    await vi.waitFor(() => expect(gap.querySelector(".drml-tooltip img")).toBeTruthy());
    expect(gap.querySelector(".drml-tooltip").textContent).toContain("image 1");
    const hovers = backend.sent.filter((m) => m.type === "hover").map((m) => m.base64);
    expect(hovers).toEqual(HOSTS[host].dropsBuffers ? [true] : [false]); // the page knows by now
  });
});

describe.each(Object.keys(HOSTS))("the gap plot's density view, as %s delivers it", (host) => {
  beforeEach(() => {
    vi.resetModules();
    delete globalThis[Symbol.for("drml-widgets.host")];
    document.body.replaceChildren();
  });

  it("draws the sample through its index and sends a lasso to the kernel to resolve", async () => {
    const { backend, models } = page(host);
    const gap = models.get("gap");
    Object.assign(gap.state, { view: "density", index: array(host, Uint32Array, [0, 5, 9, 12]), n_images: 10, n_texts: 3,
      density: array(host, Uint32Array, new Array(8).fill(1), [2, 2, 2]), density_codes: array(host, Uint8Array, new Array(8).fill(0), [2, 2, 2]) });
    const el = await render("gap_plot", gap);
    expect(el.dataset.view).toBe("density");
    const plot = el.querySelector(".drml-plot");
    expect(plot.figure.layout.xaxis.range).toEqual([-0.02 * 65535, 1.02 * 65535]); // the extent of every point
    plot.handlers.plotly_hover({ points: [{ curveNumber: 1, pointIndex: 0 }], event: { clientX: 5, clientY: 5 } });
    await vi.waitFor(() => expect(el.querySelector(".drml-tooltip").textContent).toContain("text #2")); // point 12 = prompt 2
    plot.handlers.plotly_selected({ points: [], lassoPoints: { x: [0, 2, 2], y: [0, 0, 2] } });
    await vi.waitFor(() => expect(backend.sent.filter((m) => m.type === "select_region")).toHaveLength(1));
    expect(backend.sent.find((m) => m.type === "select_region").lasso).toEqual({ x: [0, 2, 2], y: [0, 0, 2] });
  });
});

it("a view without a plotting runtime says so instead of breaking", async () => {
  const { models } = page("jupyterlab");
  models.get("influence").state._runtime = null;
  const chart = await render("influence_chart", models.get("influence"));
  expect(chart.querySelector(".drml-chart .drml-error").textContent).toContain("names no plotting runtime");
});

describe("a saved page: no kernel behind the models", () => {
  // As anywidget hands a view its model: a proxy without `comm_live`, whose `_self` names the
  // manager's model; that one says whether a comm (a kernel) is behind it.
  function saved() {
    const { backend, models } = page("jupyterlab");
    for (const [id, m] of models) Object.assign(m, { comm_live: false }).state._self = id;
    const proxy = (m) => ({ get: (n) => m.get(n), set: (n, v) => m.set(n, v), save_changes() {}, send: (c) => m.send(c),
      on: (e, f) => m.on(e, f), off: (e, f) => m.off(e, f), widget_manager: m.widget_manager });
    return { backend, models, proxy };
  }
  const disabled = (node) => node.disabled || !!node.closest("fieldset:disabled");

  beforeEach(() => document.body.replaceChildren());

  it("disables what needs the kernel and says why in one line", async () => {
    const { models, proxy } = saved();
    const panel = await render("rectify_panel", proxy(models.get("rectify")));
    await vi.waitFor(() => expect(panel.querySelector(".drml-no-kernel").hidden).toBe(false));
    for (const name of ["Rectify", "Undo", "Redo"]) {
      expect(disabled([...panel.querySelectorAll("button")].find((b) => b.textContent === name))).toBe(true);
    }
    expect(panel.querySelector(".drml-no-kernel").textContent).toMatch(/^Needs a running kernel: .*rectify/);
    const builder = await render("prompt_builder", proxy(models.get("prompts")));
    await vi.waitFor(() => expect(builder.querySelector(".drml-no-kernel").hidden).toBe(false));
    expect([...builder.querySelectorAll("button, input, select")].every(disabled)).toBe(true);
    const chart = await render("influence_chart", proxy(models.get("influence")));
    await vi.waitFor(() => expect(disabled(chart.querySelector("select"))).toBe(true));
    expect([...chart.querySelectorAll("input[type=radio]")].some(disabled)).toBe(false); // both methods are here
  });

  it("a live model keeps every control", async () => {
    const { models, proxy } = saved();
    models.get("rectify").comm_live = true;
    const panel = await render("rectify_panel", proxy(models.get("rectify")));
    await new Promise((r) => setTimeout(r, 0));
    expect(panel.querySelector(".drml-no-kernel").hidden).toBe(true);
    expect(disabled([...panel.querySelectorAll("button")].find((b) => b.textContent === "Undo"))).toBe(false);
  });

  it("a row click shows the thumbnails the page embedded, and asks no kernel", async () => {
    const { backend, models } = saved();
    const slices = models.get("slices");
    slices.state.offline = { slices: { [ROWS[1].key]: { rows: [7], prompts: ["an orange triangle."], jpegs: [btoa(String.fromCharCode(...JPEG))] } } };
    const table = await render("slice_table", slices);
    await vi.waitFor(() => expect(table.querySelector(".drml-no-kernel").hidden).toBe(false));
    expect(table.querySelector(".drml-thumbs").textContent).toContain("thumbnails need a running kernel");
    table.querySelectorAll("tbody tr")[2].click(); // sorted by text prob: orange triangle last
    await vi.waitFor(() => expect(table.querySelectorAll(".drml-thumbs img")).toHaveLength(1));
    expect(table.querySelector(".drml-focus-box").textContent).toContain("an orange triangle.");
    expect([...table.querySelectorAll("tbody input[type=checkbox]")].every(disabled)).toBe(true);
    expect(backend.sent).toEqual([]);
  });

  it("after an undo every label on the bars names the version they show", async () => {
    const { models } = saved();
    Object.assign(models.get("rectify").state, { version: 0, can_undo: false, can_redo: true });
    const panel = await render("rectify_panel", models.get("rectify"));
    await vi.waitFor(() => expect(panel.querySelector(".drml-chart.drml-stale")).toBeTruthy());
    const names = panel.querySelector(".drml-chart").figure.traces.map((t) => t.name);
    expect(names).toEqual(["before", "after (version 1, not the current head)"]);
    expect(panel.textContent).toContain("Before and after (version 1, not the current head)");
    expect(panel.querySelector(".drml-version").textContent).toBe("head version 0");
    expect(panel.querySelector(".drml-summary").textContent).not.toContain("Redo"); // no kernel to redo with
    models.get("rectify").set("result", { ...models.get("rectify").get("result"), advice: ["why the images lag", "what to try"] });
    await vi.waitFor(() => expect([...panel.querySelectorAll(".drml-advice li")].map((li) => li.textContent))
      .toEqual(["why the images lag", "what to try"]));
  });
});
