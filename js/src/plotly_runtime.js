// The plotting runtime: plotly.js with bars and WebGL scatter, built on its own. It travels once per
// kernel, in the `source` trait of one hidden PlotlyRuntime widget that every plotting view refers
// to (drml_widgets/widgets/runtime.py); plots.js loads it once per page. Views never bundle it.
import Plotly from "plotly.js/lib/core";
import bar from "plotly.js/lib/bar";
import scattergl from "plotly.js/lib/scattergl";

Plotly.register([bar, scattergl]);

export default Plotly;
