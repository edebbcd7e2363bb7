// The PlotlyRuntime widget's own module. The widget is never displayed: it only holds plotly.js in
// its `source` trait for the views (plots.js), so that anywidget starts its model at once.
export default {};
