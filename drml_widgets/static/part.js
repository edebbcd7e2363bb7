/* drml-widgets bundle; sources sha256 47241cb342dbda949c1999166ba87bc6843384cd2b49bd277b71e3e319f8e677 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
