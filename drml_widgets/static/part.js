/* drml-widgets bundle; sources sha256 bc8a244b462c05f70bbf0ca558bdc6ed5e8cae892528a7809785b5f8f3da7da4 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
