// Plots inside the views. plotly.js is not in any view's module: it comes from the PlotlyRuntime
// model a view names in its `_runtime` trait (one per kernel), and is evaluated once per page.
// Every chart has an explicit height and is laid out again only when its width changes, so a
// window that changes height never squashes a chart under the next widget.
import { h, onThemeChange } from "./util.js";

const RUNTIMES = (globalThis[Symbol.for("drml-widgets.plotly")] ??= new Map()); // build hash -> Promise<Plotly>
const BANNER = /^\/\* drml-widgets bundle; sources sha256 ([0-9a-f]{64}) \*\//;
const REF = "IPY_MODEL_";

/** Space above the plot area for plotly's toolbar, so it covers no legend entry or title. */
export const TOOLBAR_SPACE = 36;

/**
 * A horizontal legend above the plot area and below the toolbar's band, for a chart `height` px
 * tall: placed in the chart's own pixels (yref "container"), so plotly reserves room for every row
 * it wraps into. A legend anchored to the plot area's top grows upward into the toolbar when it
 * wraps, and plotly does not always move the plot down again after a resize (it then covers bars).
 */
export function legendAbove(height) {
  return { orientation: "h", x: 0, xanchor: "left", yref: "container", y: 1 - TOOLBAR_SPACE / height, yanchor: "top" };
}

/** Plot options every view shares: no plotly logo or cloud links; we do the resizing (chart). */
export const CONFIG = { displaylogo: false, responsive: false, modeBarButtonsToRemove: ["toImage", "sendDataToCloud"] };

async function importText(source) {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    return await import(/* @vite-ignore */ url);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** plotly.js from the runtime model that a view's model names (`_runtime`), loaded once per page. */
export async function plotly(model) {
  const ref = model.get("_runtime");
  if (typeof ref !== "string" || !ref.startsWith(REF)) throw new Error("this view names no plotting runtime; run its cell again");
  const runtime = await model.widget_manager.get_model(ref.slice(REF.length));
  const source = (runtime && runtime.get("source")) || "";
  if (!source) throw new Error("the plotting runtime holds no code; run the cell again");
  const key = BANNER.exec(source)?.[1] ?? source;
  if (!RUNTIMES.has(key)) {
    const loading = importText(source).then((module) => module.default);
    loading.catch(() => RUNTIMES.delete(key)); // a later view may try again
    RUNTIMES.set(key, loading);
  }
  return RUNTIMES.get(key);
}

/** Whether this browser can draw WebGL (browsers without a GPU or with WebGL turned off cannot). */
export function hasWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  } catch {
    return false;
  }
}

/** Colours from the view's own (theme-following) text and border colours; transparent paper. The
 * toolbar's icons take the view's muted text colour on its background: plotly picks them from the
 * paper colour, and on transparent paper it picks white ones (invisible on a light page). */
export function themeLayout(el) {
  const css = getComputedStyle(el);
  const grid = css.borderTopColor || "#d0d7de";
  const muted = css.getPropertyValue("--drml-muted").trim() || "#656d76";
  return {
    modebar: { bgcolor: css.backgroundColor || "#ffffff", color: muted, activecolor: css.color || "#1f2328" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: css.color || "#1f2328", size: 12, family: "system-ui, -apple-system, Segoe UI, sans-serif" },
    xaxis: { gridcolor: grid, zerolinecolor: grid },
    yaxis: { gridcolor: grid, zerolinecolor: grid },
  };
}

/**
 * A chart in `node` for a view's model: `draw(traces, layout)` draws it `layout.height` px tall
 * and as wide as the node (false, with the reason shown in the node, when plotly cannot be
 * loaded); `clear()` empties it; `redraw` runs when the page's theme changes.
 */
export function chart(model, node, redraw) {
  const loading = plotly(model);
  let width = 0;
  let drawn = false;
  const sized = new ResizeObserver(() => {
    const now = node.clientWidth;
    if (!drawn || !now || Math.abs(now - width) < 1) return;
    width = now;
    loading.then((Plotly) => Plotly.relayout(node, { width }));
  });
  sized.observe(node);
  const stopTheme = onThemeChange(redraw);
  return {
    async draw(traces, layout) {
      let Plotly;
      try {
        Plotly = await loading;
      } catch (err) {
        node.style.height = "";
        node.replaceChildren(h("div", { className: "drml-error" }, `The plots cannot be drawn: ${err.message}.`));
        return false;
      }
      node.style.height = `${layout.height}px`;
      width = node.clientWidth || width || 600;
      await Plotly.react(node, traces, { ...layout, width, autosize: false }, CONFIG);
      drawn = true;
      return true;
    },
    clear() {
      drawn = false;
      node.style.height = "";
      loading.then((Plotly) => Plotly.purge(node), () => {});
    },
    dispose() {
      sized.disconnect();
      stopTheme();
      this.clear();
    },
  };
}
