// LossQuery: type a sentence, get LLM2Loss's estimate of the classifier's loss on such images. Both
// models' answers are on one scale (the loss of held-out images, mapped by quantiles in the kernel),
// the one that holds up better there leads, and the actual loss of matching held-out images stands
// beside it. A second chart sets each slice's estimate from its prompts beside its actual loss.
import { caveatNote } from "./caveats.js";
import { TOOLBAR_SPACE, chart, legendAbove, themeLayout } from "./plots.js";
import { fill, fmt, h, kernelGate, onChanges, plotlyText, request, statusLine } from "./util.js";

const MAX_SENTENCE = 500;
const LEAD_COLOR = "#0072B2";
const OTHER_COLOR = "#E69F00";
const ACTUAL_COLOR = "#009E73";

function clip(text, n = 48) {
  return text.length > n ? `${text.slice(0, n - 1)}\u2026` : text;
}

const OUTSIDE = "outside what the model was trained to judge";
const AGREE_NOTE = "\u201cranker vs regressor\u201d: whether LLM2Loss's two models place the sentence within a quarter "
  + "of the held-out images of each other. It compares the two estimates with each other, not with the actual loss.";

/** The estimate cell of an answer: the number and its range, what the held-out scale cannot say
 * (a range reaching past its end), or that the sentence is outside what the model can judge. */
export function estimateText(a) {
  if (a.outside) return OUTSIDE;
  if (a.beyond === "above") return `beyond the held-out range (\u2265 ${fmt(a.loss_low)})`;
  if (a.beyond === "below") return `beyond the held-out range (\u2264 ${fmt(a.loss_high)})`;
  return `${fmt(a.loss)} [${fmt(a.loss_low)}\u2013${fmt(a.loss_high)}]`;
}

function matchingText(m) {
  if (!m || !Object.keys(m.named || {}).length) return "names no attribute value";
  const named = Object.entries(m.named).map(([k, v]) => `${k} ${v.join("/")}`).join(", ");
  return m.n_images ? `${fmt(m.actual_loss)} (${m.n_images} images: ${named})` : `no held-out image is ${named}`;
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-loss-query");
  const gate = kernelGate(model, "ask about new sentences");
  const input = h("input", { type: "text", maxLength: MAX_SENTENCE, placeholder: "e.g. a small green triangle.",
    style: { width: "320px" }, onkeydown: (e) => { if (e.key === "Enter") ask(input.value); } });
  const askButton = h("button", { className: "drml-primary", textContent: "Ask", onclick: () => ask(input.value) });
  const examples = h("select", { onchange: () => { if (examples.value) ask(examples.value); examples.value = ""; } });
  const error = h("div", { className: "drml-error" });
  const lead = h("div", { className: "drml-note drml-lead" });
  const familiar = h("div", { className: "drml-note drml-familiar" });
  const stale = h("div", { className: "drml-note drml-error" });
  const answersPlot = h("div", { className: "drml-chart" });
  const table = h("table", { className: "drml-table drml-answers" });
  const pair = h("div", { className: "drml-note drml-pair" });
  const slicePlot = h("div", { className: "drml-chart" });
  const sliceNote = h("div", { className: "drml-note" });
  const caveats = caveatNote(model);
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Ask about the loss in words")),
    gate.wrap(h("div", { className: "drml-toolbar" }, input, askButton, h("label", {}, "examples", examples))),
    gate.note, error, statusLine(model), caveats.node, lead, familiar, stale,
    answersPlot, h("div", { className: "drml-table-wrap" }, table), pair,
    slicePlot, sliceNote);

  async function ask(text) {
    const sentence = String(text || "").trim();
    error.textContent = "";
    if (!sentence) { error.textContent = "Type a sentence first."; return; }
    try {
      await request(model, { type: "ask", sentence });
      input.value = "";
    } catch (err) {
      error.textContent = err.message;
    }
  }

  const answersFigure = chart(model, answersPlot, () => drawAnswers());
  const sliceFigure = chart(model, slicePlot, () => drawSlices());

  function drawControls() {
    fill(examples, h("option", { value: "", textContent: "pick one\u2026" }),
      ...(model.get("examples") || []).map((e) => h("option", { value: e, textContent: clip(e) })));
    askButton.disabled = !!model.get("busy");
    const n = model.get("n_held_out");
    lead.textContent = `${model.get("lead_reason") || ""} Every loss here is on the scale of ${n} held-out images `
      + "(a score above a share q of their scores means their loss at quantile q): the estimate and its range, the "
      + "held-out percentile, the other model's estimate, and the actual mean loss of the held-out images whose "
      + "attributes the sentence names. Where the two models disagree by more than a quarter of the images, trust the lead.";
    familiar.textContent = `${model.get("familiar_from") || ""} ${AGREE_NOTE}`;
    stale.textContent = model.get("stale") || "";
    stale.hidden = !model.get("stale");
    el.classList.toggle("drml-is-stale", !!model.get("stale"));
  }

  async function drawAnswers() {
    const answers = model.get("answers") || [];
    const leadModel = model.get("lead") || "ranker";
    const other = leadModel === "ranker" ? "regressor" : "ranker";
    const numbers = (a) => [h("td", { className: "num" }, `${Math.round(100 * a.percentile)}%`),
      h("td", { className: "num" }, fmt(a[`${other}_loss`])), h("td", { className: "num" }, fmt(a.rank_score))];
    fill(table, h("thead", {}, h("tr", {}, ...[["sentence"], [`estimate (${leadModel})`, "num"], ["percentile", "num"],
      [`${other}`, "num"], ["ranker score", "num"], ["actual (matching)"], ["ranker vs regressor"]].map(([c, cls]) => h("th", { className: cls }, c)))),
    h("tbody", {}, ...answers.map((a) => h("tr", { dataset: { text: a.text }, className: a.outside ? "drml-outside" : "" },
      h("td", {}, a.text),
      // outside: no number, no percentile, no comparison of the two models to lean on
      a.outside ? h("td", { colSpan: 4, className: "drml-muted" }, `${OUTSIDE} (in-distribution score ${fmt(a.in_distribution)})`)
        : [h("td", { className: "num", style: { fontWeight: "600" } }, estimateText(a)), ...numbers(a)],
      h("td", {}, matchingText(a.matching)),
      h("td", {}, a.outside ? "\u2014" : a.agree ? "agree" : "disagree")))));
    const p = model.get("pair") || {};
    pair.textContent = p.a ? `The ${p.model} gives P(the classifier does worse on \u201c${p.a}\u201d than on \u201c${p.b}\u201d) = `
      + `${fmt(p.p_a_harder, 2)}; ${Math.round(100 * p.agreement)}% of its members agree.` : "";
    if (!answers.length) { answersFigure.clear(); return; }
    const rows = answers.slice().reverse(); // plotly draws bottom-up: the newest on top
    const names = rows.map((a) => plotlyText(clip(a.text)));
    const theme = themeLayout(el);
    const actual = rows.map((a) => (a.matching && a.matching.n_images ? a.matching.actual_loss : null));
    const height = Math.max(200, 34 * rows.length + 110);
    // outside sentences get no bar; a range past the scale's end is hatched, without error bars
    const judged = (a, value) => (a.outside ? null : value);
    const ranged = (a, value) => (a.outside || a.beyond ? 0 : value);
    await answersFigure.draw([
      { type: "bar", orientation: "h", name: `estimated (${leadModel})`, y: names, x: rows.map((a) => judged(a, a.loss)),
        marker: { color: LEAD_COLOR, pattern: { shape: rows.map((a) => (a.beyond ? "/" : "")) } },
        error_x: { type: "data", symmetric: false, array: rows.map((a) => ranged(a, a.loss_high - a.loss)),
          arrayminus: rows.map((a) => ranged(a, a.loss - a.loss_low)) },
        customdata: rows.map((a) => plotlyText(estimateText(a))), hovertemplate: "%{y}<br>estimated %{customdata}<extra></extra>" },
      { type: "scatter", mode: "text", name: OUTSIDE, showlegend: false, y: names, x: rows.map((a) => (a.outside ? 0 : null)),
        text: rows.map((a) => (a.outside ? OUTSIDE : "")), textposition: "middle right", hoverinfo: "skip" },
      { type: "scatter", mode: "markers", name: `${other} (same scale)`, y: names, x: rows.map((a) => judged(a, a[`${other}_loss`])),
        marker: { color: OTHER_COLOR, symbol: "circle-open", size: 11, line: { width: 2 } }, hovertemplate: `%{y}<br>${other} %{x:.3f}<extra></extra>` },
      { type: "scatter", mode: "markers", name: "actual, matching held-out images", y: names, x: actual,
        marker: { color: ACTUAL_COLOR, symbol: "diamond", size: 11 }, hovertemplate: "%{y}<br>actual %{x:.3f}<extra></extra>" },
    ], {
      ...theme, height, margin: { l: 10, r: 20, t: TOOLBAR_SPACE + 20, b: 45 },
      xaxis: { ...theme.xaxis, title: { text: "loss (held-out images' scale)" }, rangemode: "tozero" },
      yaxis: { ...theme.yaxis, automargin: true }, bargap: 0.35, legend: legendAbove(height),
    });
  }

  async function drawSlices() {
    const slices = model.get("slices") || [];
    const leadModel = model.get("lead") || "ranker";
    if (!slices.length) {
      sliceNote.textContent = "No per-slice chart: the session's prompts do not name the slice attributes.";
      sliceFigure.clear();
      return;
    }
    const by = (model.get("by") || []).join(" \u00d7 ");
    sliceNote.textContent = `Each slice (${by}): the ${leadModel}'s estimate from the slice's prompts (mean over them; `
      + "error bars: the spread of the ensemble's members) beside the actual mean loss of its held-out images.";
    const names = slices.map((s) => plotlyText(s.name));
    const theme = themeLayout(el);
    await sliceFigure.draw([
      { type: "bar", name: `estimated from text (${leadModel})`, x: names, y: slices.map((s) => s.loss), marker: { color: LEAD_COLOR },
        error_y: { type: "data", symmetric: false, array: slices.map((s) => s.loss_high - s.loss), arrayminus: slices.map((s) => s.loss - s.loss_low) },
        hovertemplate: "%{x}<br>estimated %{y:.3f}<extra></extra>" },
      { type: "bar", name: "actual, held-out images", x: names, y: slices.map((s) => s.actual_loss), marker: { color: ACTUAL_COLOR },
        customdata: slices.map((s) => s.n_images ?? 0), hovertemplate: "%{x}<br>actual %{y:.3f} (%{customdata} images)<extra></extra>" },
    ], {
      ...theme, barmode: "group", height: 340, margin: { l: 55, r: 20, t: TOOLBAR_SPACE + 44, b: 40 },
      title: { text: plotlyText(`Loss per slice: estimated from text vs actual (${slices.length} slices)`), font: { size: 13 },
        x: 0, xanchor: "left", y: 0.98, yanchor: "top" },
      yaxis: { ...theme.yaxis, title: { text: "mean loss" }, rangemode: "tozero" },
      xaxis: { ...theme.xaxis, tickangle: -35, automargin: true },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom" },
    });
  }

  drawControls();
  Promise.all([drawAnswers(), drawSlices()]).then(() => { el.dataset.drmlReady = "1"; });
  const stops = [
    onChanges(model, ["examples", "busy", "lead_reason", "n_held_out", "stale", "familiar_from"], drawControls),
    onChanges(model, ["answers", "pair", "lead"], drawAnswers),
    onChanges(model, ["slices", "lead", "by"], drawSlices),
  ];
  return () => { stops.forEach((s) => s()); gate.stop(); caveats.stop(); answersFigure.dispose(); sliceFigure.dispose(); };
}
