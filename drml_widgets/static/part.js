/* drml-widgets bundle; sources sha256 2db68fc14f0b9423b23771b89ad275c2ddf212de27ceede253fa5a8d28e87ede */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
