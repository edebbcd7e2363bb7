/* drml-widgets bundle; sources sha256 2f13c1c383d46d2f0ba908715472389d14bc6de78f0c5302bf0e486cf5063615 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
