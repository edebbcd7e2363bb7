/* drml-widgets bundle; sources sha256 eda81763a17abf5dcb188758e3880111e32a1f22905b4cf93c835a6255ca93ea */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
