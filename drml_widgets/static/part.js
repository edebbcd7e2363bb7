/* drml-widgets bundle; sources sha256 f36599ec1601db911c512137ab0bf3c976deb1ffd4fb1d52143df1fa6218ff05 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
