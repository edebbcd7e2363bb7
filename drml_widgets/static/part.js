/* drml-widgets bundle; sources sha256 cd0670faf952e469b5b6ffe7a991aa65181536848d71840eb32d2aebacb5ed79 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
