/* drml-widgets bundle; sources sha256 6ed35d6fbc381cc2c233e971ff4084b1faaf7e0af836103371e8be8f3076b478 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
