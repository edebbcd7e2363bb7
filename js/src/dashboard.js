// Dashboard: every view around one session. Its parts are ordinary widget models; the
// dashboard resolves them through the widget manager and draws them with the same renderers.
import { render as gap } from "./gap_plot.js";
import { render as influence } from "./influence_chart.js";
import { render as prompts } from "./prompt_builder.js";
import { render as rectify } from "./rectify_panel.js";
import { render as slices } from "./slice_table.js";
import { h } from "./util.js";

const LAYOUT = [["gap", gap, true], ["slices", slices, false], ["rectify", rectify, false], ["influence", influence, false], ["prompts", prompts, false]];

export async function render({ model, el }) {
  el.classList.add("drml-widget", "drml-dashboard");
  const parts = model.get("parts") || {};
  const cleanups = [];
  for (const [name, draw, wide] of LAYOUT) {
    if (!parts[name]) continue;
    const slot = h("div", { className: wide ? "drml-span" : "", dataset: { part: name } });
    el.appendChild(slot);
    const child = await model.widget_manager.get_model(String(parts[name]).replace(/^IPY_MODEL_/, ""));
    const cleanup = await draw({ model: child, el: slot });
    if (typeof cleanup === "function") cleanups.push(cleanup);
  }
  el.dataset.drmlReady = "1";
  return () => cleanups.forEach((c) => c());
}
