// InfluenceChart: how much each attribute value moves the probability of one class, by DrML's
// with/without difference or by Shapley values (attribute types as players).
import { TOOLBAR_SPACE, chart, themeLayout } from "./plots.js";
import { fill, h, kernelGate, onChanges, plotlyText, setTrait, statusLine } from "./util.js";

const METHODS = { drml: "DrML (with/without)", shapley: "Shapley" };

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-influence-chart");
  const gate = kernelGate(model, "measure another class (both methods of this one are here)");
  const group = `drml-method-${Math.random().toString(36).slice(2)}`;
  const target = h("select", { onchange: () => setTrait(model, "target", target.value) });
  const methods = h("span", { className: "drml-toolbar", style: { margin: 0 } });
  const plot = h("div", { className: "drml-chart" });
  const note = h("div", { className: "drml-note" });
  fill(el, h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Attribute influence"),
    gate.wrap(h("label", {}, "class", target)), methods), gate.note, statusLine(model), plot, note);

  const figure = chart(model, plot, () => draw());

  async function draw() {
    fill(target, ...(model.get("classes") || []).map((c) => h("option", { value: c, textContent: c })));
    target.value = model.get("target");
    const method = model.get("method");
    fill(methods, ...Object.entries(METHODS).map(([key, label]) => h("label", {},
      h("input", { type: "radio", name: group, checked: key === method, onchange: () => setTrait(model, "method", key) }), label)));
    const rows = ((model.get("data") || {})[method] || []).slice().reverse(); // plotly draws bottom-up
    const theme = themeLayout(el);
    const labels = rows.map((r) => plotlyText(`${r.attribute}: ${r.value}`));
    const trace = {
      type: "bar", orientation: "h", y: labels, x: rows.map((r) => r.influence),
      marker: { color: rows.map((r) => (r.influence >= 0 ? "#0072B2" : "#D55E00")) },
      error_x: { type: "data", array: rows.map((r) => r.std_error || 0), visible: rows.some((r) => r.std_error > 0) },
      hovertemplate: "%{y}: %{x:+.3f}<extra></extra>",
    };
    const layout = {
      ...theme, height: Math.max(220, 22 * rows.length + 70), margin: { l: 150, r: 20, t: TOOLBAR_SPACE, b: 40 },
      title: { text: plotlyText(`influence on P(${model.get("target")})`), font: { size: 13 } },
      xaxis: { ...theme.xaxis, title: { text: "change in probability" }, zeroline: true },
      yaxis: { ...theme.yaxis, automargin: true }, bargap: 0.25,
    };
    note.textContent = method === "drml"
      ? "DrML: the target probability of prompts stating the value minus the same prompts with that attribute left out."
      : "Shapley: each attribute type is a player; a value's influence is its type's mean Shapley value where it holds.";
    await figure.draw([trace], layout);
    el.dataset.drmlReady = "1";
  }
  draw();
  const stop = onChanges(model, ["data", "method", "target", "classes"], draw);
  return () => { stop(); gate.stop(); figure.dispose(); };
}
