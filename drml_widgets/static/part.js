/* drml-widgets bundle; sources sha256 3a6c977d37f1ef598f08d0166eef99fbb05373b0ed0919cace8a26fc08b9b09e */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
