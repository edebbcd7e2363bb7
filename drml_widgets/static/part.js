/* drml-widgets bundle; sources sha256 43285502e7a34e622fa6efbaee327a1a7a196d379ec8fc3f5599fee2520e5167 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
