/* drml-widgets bundle; sources sha256 f042f51219fa1fd21d11396d5c2de37777e4df046163642683adccd66a2bdd33 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
