/* drml-widgets bundle; sources sha256 fc5148d3ff315dd004e0bc08f5173e5471215fbaeac6bc2a28100a71059407e3 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
