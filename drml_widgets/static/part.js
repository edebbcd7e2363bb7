/* drml-widgets bundle; sources sha256 3f7d5d7322928049f442a7db1a8db806e1020c87aa329e769c2062d1b316c3df */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
