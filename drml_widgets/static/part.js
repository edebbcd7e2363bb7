/* drml-widgets bundle; sources sha256 6bc4a4f6821795d5b4982656b4ec7d8c18cfdaec42f7bea3d144bf54a0ae233f */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
