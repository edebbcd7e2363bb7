/* drml-widgets bundle; sources sha256 f932d077cf06580dcc67ab054261b1bbc5556e3dddd4d18674d65d47adbe65a1 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
