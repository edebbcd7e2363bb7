/* drml-widgets bundle; sources sha256 4229df637eb433dc28fc07b4ff50b982fcc314294142f3d4a2842858c0e46438 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
