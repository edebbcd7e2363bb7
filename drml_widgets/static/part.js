/* drml-widgets bundle; sources sha256 6d3d1f2a8ae5af199317d76a2ed593d7e93b755f84467c57faf6f0dff7bf6ac0 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
