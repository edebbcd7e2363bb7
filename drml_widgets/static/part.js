/* drml-widgets bundle; sources sha256 4a9999b99d718dda42af0fed108cd38b348eeb20f2c599a31b3a36b2365eedc6 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
