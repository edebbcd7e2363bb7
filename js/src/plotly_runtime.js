// plotly.js core with bars; the gap plot adds WebGL scatter (plotly_gl.js). Charts that need
// only bars stay without the WebGL code.
import Plotly from "plotly.js/lib/core";
import bar from "plotly.js/lib/bar";

Plotly.register([bar]);

/** Whether this browser can draw WebGL (headless browsers without a GPU often cannot). */
export function hasWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl") || canvas.getContext("experimental-webgl"));
  } catch {
    return false;
  }
}

/** Plot options every view shares: no plotly logo or cloud links, resize with the cell. */
export const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["toImage", "sendDataToCloud"] };

/** Colours that follow JupyterLab's theme variables where they exist. */
export function themeLayout(el) {
  const css = getComputedStyle(el);
  const color = css.getPropertyValue("--jp-ui-font-color1").trim() || "#222";
  const grid = css.getPropertyValue("--jp-border-color2").trim() || "#e0e0e0";
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color, size: 12, family: "system-ui, -apple-system, Segoe UI, sans-serif" },
    xaxis: { gridcolor: grid, zerolinecolor: grid },
    yaxis: { gridcolor: grid, zerolinecolor: grid },
  };
}

export default Plotly;
