/* drml-widgets bundle; sources sha256 3f9bf0d22f26fe93d170924dc4495e0a17d2738e10291e5daecdc6aa3ad920d4 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
