/* drml-widgets bundle; sources sha256 712e3207a1678294e0d3652a411653829ed6880ca8bf3fd19992f56595991386 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
