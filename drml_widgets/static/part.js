/* drml-widgets bundle; sources sha256 6c18196c40b5bcf93b1fc3bbfdaec019a77b77768e2b6c434ec747ddfb9f4864 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
