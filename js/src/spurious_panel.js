// SpuriousPanel: detection (accuracy discrepancy, shortcut candidates first), a Fine-tune button
// that runs the comparison in the kernel with progress and the time left, and bars of average and
// worst-group accuracy per variant (mean and sd over seeds). While a run is under way, or once the
// settings differ from the run's, the last run's bars are greyed and say so.
import { caveatNote } from "./caveats.js";
import { TOOLBAR_SPACE, chart, themeLayout } from "./plots.js";
import { fill, fmt, h, kernelGate, onChanges, plotlyText, setTrait, statusLine } from "./util.js";

const COLORS = { "zero-shot": "#9aa4ae", plain: "#E69F00", class: "#CC79A7", language: "#0072B2", vision: "#009E73" };
const VARIANTS = ["plain", "class", "language", "vision"];
// [key, header, what it means (the header's hover)]
const DETECTION_COLUMNS = [["class", "class", "the class whose evaluation images the row splits"],
  ["tag", "tag", "an attribute value an image may carry, e.g. a colour"],
  ["delta", "\u03b4 (acc with \u2212 without)", "\u03b4: the class's accuracy on images with the tag minus on images without it "
    + "(accuracy discrepancy); far from 0, the model's answer depends on the tag"],
  ["acc_present", "acc with", "accuracy on the class's evaluation images that carry the tag"],
  ["acc_absent", "acc without", "accuracy on the class's evaluation images that do not carry the tag"],
  ["train_share", "train share", "the share of the class's training images that carry the tag"],
  ["candidate", "candidate", "yes: the class's training images carry the tag more often than the other classes' do, "
    + "a shortcut the model may have learned"]];
/** What each compared model is, in one line (the variant's hover and the chart's key). */
export const VARIANT_HELP = {
  "zero-shot": "CLIP as it is, before any fine-tuning",
  plain: "fine-tuned with the CLIP loss alone",
  class: "plain + in-modal class contrast, no spurious term (an ablation)",
  language: "class + pushing class prompts away from the attribute's prompts",
  vision: "class + separating images by the attribute",
};

// Field by field: a saved notebook stores objects with their keys sorted.
const SETTINGS = ["variants", "seeds", "epochs", "values"];
function sameSettings(a, b) {
  return SETTINGS.every((k) => JSON.stringify((a || {})[k]) === JSON.stringify((b || {})[k]));
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-spurious-panel");
  const gate = kernelGate(model, "fine-tune");
  const run = h("button", { className: "drml-primary", textContent: "Fine-tune", onclick: fineTune });
  const variantBoxes = h("span", { className: "drml-toolbar", style: { margin: 0 } });
  const epochs = h("input", { type: "number", min: 1, step: 1, style: { width: "70px" }, onchange: () => {
    const v = Math.round(Number(epochs.value));
    if (Number.isFinite(v) && v >= 1) setTrait(model, "epochs", v); else epochs.value = model.get("epochs");
  } });
  const seeds = h("input", { type: "number", min: 1, max: 10, step: 1, style: { width: "50px" }, onchange: () => {
    const v = Math.round(Number(seeds.value));
    if (Number.isFinite(v) && v >= 1 && v <= 10) setTrait(model, "seeds", [...Array(v).keys()]); else seeds.value = (model.get("seeds") || []).length;
  } });
  const detectFor = h("select", { onchange: drawDetection });
  const detection = h("table", { className: "drml-table drml-detection" });
  const detectNote = h("div", { className: "drml-note" });
  const plot = h("div", { className: "drml-chart" });
  const note = h("div", { className: "drml-note drml-summary" });
  const terms = h("div", { className: "drml-note drml-terms" });
  const caveats = caveatNote(model);
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Spurious attribute: detect, fine-tune, compare")),
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Detection"), h("label", {}, "model", detectFor)),
    h("div", { className: "drml-table-wrap" }, detection), detectNote,
    gate.wrap(h("div", { className: "drml-toolbar" }, h("span", {}, "variants"), variantBoxes,
      h("label", {}, "epochs", epochs), h("label", {}, "seeds", seeds), run)),
    gate.note, statusLine(model), caveats.node,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title",
      title: "average: accuracy over every evaluation image; worst group: the lowest accuracy of any class \u00d7 attribute-value group" },
    "Average and worst-group accuracy")),
    plot, note, terms);

  function fineTune() { // the kernel trains in its main thread; progress and errors arrive in the status line
    model.send({ type: "fine_tune" });
  }

  function settings() {
    return Object.fromEntries(SETTINGS.map((k) => [k, model.get(k)]));
  }

  function drawControls() {
    const chosen = new Set(model.get("variants") || []);
    fill(variantBoxes, ...VARIANTS.map((v) => h("label", { title: `${v}: ${VARIANT_HELP[v]}` }, h("input", { type: "checkbox", checked: chosen.has(v), onchange: (e) => {
      const next = VARIANTS.filter((x) => (x === v ? e.target.checked : chosen.has(x)));
      if (next.length) setTrait(model, "variants", next); else e.target.checked = true;
    } }), v)));
    // a redraw (progress, busy) never overwrites what the user is typing
    if (document.activeElement !== epochs) epochs.value = model.get("epochs");
    if (document.activeElement !== seeds) seeds.value = (model.get("seeds") || []).length;
    run.disabled = !!model.get("busy");
  }

  function drawDetection() {
    const all = model.get("detections") || {};
    const methods = Object.keys(all).sort((a, b) => (b === "zero-shot") - (a === "zero-shot")); // zero-shot first
    const current = methods.includes(detectFor.value) ? detectFor.value : methods[0];
    fill(detectFor, ...methods.map((m) => h("option", { value: m, textContent: m })));
    if (current) detectFor.value = current;
    const rows = all[current] || [];
    fill(detection, h("thead", {}, h("tr", {}, ...DETECTION_COLUMNS.map(([, label, help]) => h("th", { title: help }, label)))),
      h("tbody", {}, ...rows.map((r) => h("tr", { className: r.candidate ? "drml-candidate" : "" },
        ...DETECTION_COLUMNS.map(([key]) => h("td", { className: typeof r[key] === "number" ? "num" : "",
          style: key === "candidate" && r[key] ? { fontWeight: "600" } : {} },
        typeof r[key] === "number" ? fmt(r[key]) : typeof r[key] === "boolean" ? (r[key] ? "yes" : "no") : (r[key] ?? "\u2014")))))));
    detectNote.textContent = `${model.get("attribute")} values ${(model.get("values") || []).join(", ")}; `
      + `${model.get("n_evaluate")} evaluation images, ${model.get("n_train")} training images. A candidate is a tag the class's `
      + "training images carry more often than the other classes': a shortcut it may have learned. \u03b4: accuracy with the "
      + "tag minus without it; train share: how often the class's training images carry the tag (hover a header for more).";
  }

  const figure = chart(model, plot, () => drawBars());

  async function drawBars() {
    const result = model.get("result") || {};
    const rows = result.rows || [];
    const shown = [...new Set([...rows.map((r) => r.method), ...(model.get("variants") || [])])].filter((m) => VARIANT_HELP[m]);
    terms.textContent = shown.length ? `${shown.map((m) => `${m}: ${VARIANT_HELP[m]}`).join("; ")}.` : "";
    if (!rows.length) { figure.clear(); note.textContent = ""; return; }
    const busy = !!model.get("busy");
    const changed = result.run > 0 && !sameSettings(result.settings, settings());
    const stale = busy || changed;
    plot.classList.toggle("drml-stale", stale);
    plot.dataset.run = String(result.run);
    const what = result.run ? `run ${result.run}: ${result.settings.epochs} epochs, ${result.settings.seeds.length} seed(s)` : "zero-shot only, before any fine-tuning";
    note.textContent = (busy ? `A new run is under way; these bars are from ${what}. ` : "")
      + (!busy && changed ? `These bars are from ${what}; the settings have changed since. Press Fine-tune for the current ones. ` : "")
      + (busy || changed ? "" : `Bars: mean over seeds, error bars one sd (${what}). `)
      + `Worst group per method: ${rows.map((r) => `${r.method} ${r.worst}`).join("; ")}.`;
    const theme = themeLayout(el);
    const x = ["average", "worst group"];
    await figure.draw(rows.map((r) => ({
      type: "bar", name: plotlyText(r.method), x, y: [r.average, r.worst_group], marker: { color: COLORS[r.method] || "#56B4E9" },
      error_y: { type: "data", array: [r.average_sd || 0, r.worst_group_sd || 0], visible: (r.seeds || 0) > 1 },
      text: [fmt(r.average), fmt(r.worst_group)], textposition: "outside", cliponaxis: false,
      hovertemplate: `${plotlyText(r.method)}<br>%{x}: %{y:.3f}<extra></extra>`,
    })), {
      ...theme, barmode: "group", height: 320, margin: { l: 55, r: 20, t: TOOLBAR_SPACE + 10, b: 40 },
      yaxis: { ...theme.yaxis, range: [0, 1.1], title: { text: "accuracy" } },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom" },
    });
  }

  drawControls();
  drawDetection();
  Promise.resolve(drawBars()).then(() => { el.dataset.drmlReady = "1"; });
  const stops = [
    onChanges(model, ["variants", "epochs", "seeds", "busy"], drawControls),
    onChanges(model, ["detections", "n_evaluate", "n_train"], drawDetection),
    onChanges(model, ["result", "busy", "variants", "epochs", "seeds"], drawBars),
  ];
  return () => { stops.forEach((s) => s()); gate.stop(); caveats.stop(); figure.dispose(); };
}
