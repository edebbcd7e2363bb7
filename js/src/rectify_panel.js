// RectifyPanel: train the head on the text of chosen slices (the kernel does the work in its
// main thread and reports progress through the `progress` trait), then before/after per slice.
import { TOOLBAR_SPACE, chart, themeLayout } from "./plots.js";
import { fill, h, kernelGate, onChanges, plotlyText, setTrait, statusLine } from "./util.js";

const MODES = {
  replay: "replay: slice text + the original training images",
  balanced: "balanced: slice text + text of every combination",
  text: "text: slice text only (the paper)",
};
const METRICS = { image_acc: "image accuracy", text_prob: "text probability" };

/** Plotly annotations naming the slices that have no value under `key` (no images of the slice
 * were evaluated): without them they would be bare gaps in the chart. */
export function noImageLabels(rows, key, names) {
  return rows.flatMap((r, i) => (r[`${key}_before`] === null && r[`${key}_after`] === null
    ? [{ x: names[i], y: 0, yanchor: "bottom", text: "no images", textangle: -90, showarrow: false, font: { size: 11 } }] : []));
}

function sliceName(s) {
  return Object.entries(s).map(([k, v]) => `${k}=${v}`).join(", ");
}

/** What the chips say when no slice is chosen: on a saved page nothing can be chosen, and a run
 * shown below names its own slices. */
export function noSlices(offline, targets) {
  const ran = targets && targets.length ? `; the rectification below targeted ${targets.join(", ")}` : "";
  return offline ? `none chosen when this page was saved${ran}`
    : `none ${ran ? "chosen for the next run" : "yet"}: tick rows in the slice table, or set panel.slices from Python${ran}`;
}

function numberInput(model, name, step) {
  const node = h("input", { type: "number", step, min: 0, onchange: () => {
    const v = Number(node.value);
    if (Number.isFinite(v) && v > 0) setTrait(model, name, name === "epochs" ? Math.round(v) : v);
    else node.value = model.get(name);
  } });
  const update = () => { node.value = model.get(name); };
  update();
  onChanges(model, [name], update);
  return node;
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-rectify-panel");
  const gate = kernelGate(model, "rectify, undo or redo");
  const chips = h("div", { className: "drml-slices" });
  const mode = h("select", { onchange: () => setTrait(model, "mode", mode.value) },
    ...Object.entries(MODES).map(([k, label]) => h("option", { value: k, textContent: label })));
  const metric = h("select", { className: "drml-score", onchange: drawResult }, ...Object.entries(METRICS).map(([k, l]) => h("option", { value: k, textContent: l })));
  const run = h("button", { className: "drml-primary", textContent: "Rectify", onclick: () => model.send({ type: "rectify" }) });
  const undo = h("button", { textContent: "Undo", onclick: () => model.send({ type: "undo" }) });
  const redo = h("button", { textContent: "Redo", onclick: () => model.send({ type: "redo" }) });
  const version = h("span", { className: "drml-version drml-muted" });
  const unavailable = h("div", { className: "drml-note drml-unavailable" });
  const plot = h("div", { className: "drml-chart" });
  const resultTitle = h("span", { className: "drml-title" }, "Before and after");
  const summary = h("div", { className: "drml-note drml-summary" });
  const done = h("div", { className: "drml-note drml-done" }); // what the shown run did: its slices, epochs and versions
  const advice = h("ul", { className: "drml-note drml-advice" });
  const history = h("ol", { className: "drml-prompts", start: 0 });
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Rectify the head with text")),
    h("div", { className: "drml-muted" }, "slices"), chips,
    h("div", { className: "drml-toolbar" }, gate.wrap(
      h("label", {}, "mode", mode),
      h("label", {}, "epochs", numberInput(model, "epochs", 1)),
      h("label", {}, "learning rate", numberInput(model, "lr", 0.0001)))),
    h("div", { className: "drml-toolbar" }, gate.wrap(run, undo, redo), version),
    gate.note, unavailable,
    statusLine(model),
    h("div", { className: "drml-toolbar" }, resultTitle, h("label", {}, "score", metric)),
    done, plot, summary, advice,
    h("details", {}, h("summary", { className: "drml-muted" }, "head versions"), history));

  function drawControls() {
    const slices = model.get("slices") || [];
    fill(chips, slices.length
      ? slices.map((s) => h("span", { className: "drml-chip" }, sliceName(s)))
      : h("span", { className: "drml-muted" }, noSlices(gate.offline, (model.get("result") || {}).targets)));
    mode.value = model.get("mode");
    const busy = !!model.get("busy");
    const why = model.get("unavailable") || "";
    unavailable.textContent = why && `Rectify does not apply here: ${why}.`;
    unavailable.hidden = !why;
    run.disabled = busy || !slices.length || !!why;
    undo.disabled = busy || !model.get("can_undo");
    redo.disabled = busy || !model.get("can_redo");
    version.textContent = `head version ${model.get("version")}`;
    version.dataset.version = String(model.get("version"));
    fill(history, ...(model.get("history") || []).map((v) => h("li", { style: v.current ? { fontWeight: "600" } : {} }, v.description + (v.current ? "  \u2190 current" : ""))));
  }

  const figure = chart(model, plot, () => drawResult());

  function drawResult() {
    const result = model.get("result") || {};
    const rows = result.rows || [];
    const key = metric.value;
    fill(advice, ...(result.advice || []).map((line) => h("li", {}, line)));
    done.textContent = result.done || "";
    done.hidden = !done.textContent;
    if (!rows.length) {
      resultTitle.textContent = "Before and after";
      const cleared = (model.get("history") || []).length > 1; // a prompt change clears the last run's record
      summary.textContent = !gate.offline ? "Run a rectification to compare every slice before and after."
        : cleared ? "The last rectification's before and after are not shown: the prompts changed after it."
          : "No rectification was run before this page was saved.";
      figure.clear();
      return;
    }
    const theme = themeLayout(el);
    // After an undo (or a rectification from Python) the bars describe another head than the
    // current one: greyed, and every label on them says which version they show.
    const current = model.get("version");
    const other = result.version !== current;
    const stale = other || !!model.get("busy");
    plot.classList.toggle("drml-stale", stale);
    const which = other ? `version ${result.version}, not the current head` : `version ${result.version}`;
    resultTitle.textContent = `Before and after (${which})`;
    const names = rows.map((r) => plotlyText((r.targeted ? "\u25cf " : "") + r.name));
    const bar = (field, name, color) => ({ type: "bar", name, x: names, y: rows.map((r) => r[`${key}_${field}`]), marker: { color },
      hovertemplate: `%{x}<br>${name}: %{y:.3f}<extra></extra>` });
    const busyNote = model.get("busy") ? "A new run is under way; these bars are from the last one. " : "";
    const undoneNote = other ? `These bars are from head version ${result.version}; the head is now at version ${current}`
      + (gate.offline ? ". " : ". Redo, or rectify again, to see the current head. ") : "";
    summary.textContent = (stale ? busyNote + undoneNote : "") + (result.summary || "");
    return figure.draw([bar("before", "before", "#9aa4ae"), bar("after", `after (${which})`, "#0072B2")], {
      ...theme, barmode: "group", height: 300, margin: { l: 50, r: 10, t: TOOLBAR_SPACE, b: 90 },
      yaxis: { ...theme.yaxis, range: [0, 1.02], title: { text: METRICS[key] } }, annotations: noImageLabels(rows, key, names),
      xaxis: { ...theme.xaxis, tickangle: -35, automargin: true },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom" }, // left of the toolbar
    });
  }

  drawControls();
  gate.onChange(() => { drawControls(); drawResult(); });
  Promise.resolve(drawResult()).then(() => { el.dataset.drmlReady = "1"; });
  const stops = [onChanges(model, ["slices", "mode", "busy", "can_undo", "can_redo", "version", "history", "unavailable"], drawControls),
    onChanges(model, ["result", "version", "busy"], drawResult), onChanges(model, ["result"], drawControls)];
  return () => { stops.forEach((s) => s()); gate.stop(); figure.dispose(); };
}
