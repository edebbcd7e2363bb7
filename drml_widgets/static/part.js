/* drml-widgets bundle; sources sha256 7d29e36ac4028e99f77ad476417d90fb98ca6016bff51c27a9da47819ee331f3 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
