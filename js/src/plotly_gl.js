// plotly.js with WebGL scatter, for point clouds.
import scattergl from "plotly.js/lib/scattergl";
import Plotly from "./plotly.js";

Plotly.register([scattergl]);

export * from "./plotly.js";
export default Plotly;
